"""A small threaded AMI client for the simulator: actions with replies, event subscriptions.

Every header value is checked before it is sent: a CR or LF in a value would start a new header or
action, so it is refused (values that may contain anything travel base64-encoded in channel
variables instead).
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Message = dict[str, str]
EventHandler = Callable[[Message], None]


class AmiError(RuntimeError):
    """The AMI connection failed or an action was refused."""


def check_header(name: str, value: str) -> str:
    """Refuse a header name or value that could break AMI framing."""
    if not name or any(c in name for c in ":\r\n") or any(c in value for c in "\r\n\0"):
        raise AmiError(f"unsafe AMI header {name!r}")
    return value


def encode_action(action: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The wire form of an action (header order kept; repeated names allowed)."""
    lines = [f"Action: {check_header('Action', action)}"]
    lines += [f"{name}: {check_header(name, value)}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def parse_message(block: str) -> Message:
    """Parse one AMI message block into a dict (a repeated header keeps its last value, except
    ``Output`` lines of a command response, which are joined)."""
    message: Message = {}
    for line in block.split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            if line:
                message["Output"] = message.get("Output", "") + line + "\n"
            continue
        name, value = name.strip(), value.strip()
        if name == "Output":
            message["Output"] = message.get("Output", "") + value + "\n"
        else:
            message[name] = value
    return message


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    response: Message | None = None
    events: list[Message] = field(default_factory=list)
    list_action: bool = False


class AmiClient:
    """One AMI connection: ``action()`` waits for the reply; ``subscribe()`` gets every event."""

    def __init__(self, host: str, port: int, username: str, secret: str, timeout: float = 10.0) -> None:
        self.host, self.port, self.username, self.secret = host, port, username, secret
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._handlers: list[EventHandler] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._closed = threading.Event()
        self._events: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self._dispatcher: threading.Thread | None = None

    def connect(self, events: str = "on") -> AmiClient:
        """Connect and log in; ``events`` is the AMI event mask (``on``, ``off``, ``call,user``...)."""
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.settimeout(None)
        self._sock = sock
        banner = b""
        while not banner.endswith(b"\r\n"):
            chunk = sock.recv(1)
            if not chunk:
                raise AmiError("AMI closed the connection before its banner")
            banner += chunk
        self._reader = threading.Thread(target=self._read_loop, name="ami-reader", daemon=True)
        self._reader.start()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="ami-events", daemon=True)
        self._dispatcher.start()
        reply = self.action("Login", Username=self.username, Secret=self.secret, Events=events)
        if reply.get("Response") != "Success":
            self.close()
            raise AmiError(f"AMI login refused: {reply.get('Message', reply)}")
        return self

    def close(self) -> None:
        """Log off and close the connection."""
        if self._sock is None or self._closed.is_set():
            return
        with contextlib.suppress(OSError, AmiError):
            self._send(encode_action("Logoff", []))
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._events.put(None)
        for thread in (self._reader, self._dispatcher):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)

    def __enter__(self) -> AmiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- events -------------------------------------------------------------------------------
    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Call ``handler`` for every event (on the event thread); returns an unsubscribe function."""
        with self._lock:
            self._handlers.append(handler)

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers:
                    self._handlers.remove(handler)

        return unsubscribe

    # -- actions ------------------------------------------------------------------------------
    def action(self, action: str, headers: Iterable[tuple[str, str]] = (), timeout: float | None = None,
               **named: str) -> Message:
        """Send an action and wait for its response."""
        return self._request(action, [*headers, *named.items()], False, timeout)[0]

    def action_list(self, action: str, timeout: float | None = None,
                    **named: str) -> tuple[Message, list[Message]]:
        """Send an action whose reply is an event list; return the response and the listed events."""
        return self._request(action, list(named.items()), True, timeout)

    def command(self, text: str) -> str:
        """Run a CLI command over AMI (needs the ``command`` right) and return its output."""
        reply = self.action("Command", Command=text)
        if reply.get("Response") not in {"Success", "Follows"}:
            raise AmiError(f"command {text!r} refused: {reply.get('Message', reply)}")
        return reply.get("Output", "")

    def _request(self, action: str, headers: list[tuple[str, str]], list_action: bool,
                 timeout: float | None) -> tuple[Message, list[Message]]:
        action_id = f"sim-{next(self._ids)}"
        pending = _Pending(list_action=list_action)
        with self._lock:
            self._pending[action_id] = pending
        try:
            self._send(encode_action(action, [("ActionID", action_id), *headers]))
            if not pending.done.wait(self.timeout if timeout is None else timeout):
                raise AmiError(f"AMI action {action} timed out")
        finally:
            with self._lock:
                self._pending.pop(action_id, None)
        assert pending.response is not None
        return pending.response, pending.events

    def _send(self, data: bytes) -> None:
        if self._sock is None or self._closed.is_set():
            raise AmiError("AMI connection is closed")
        with self._send_lock:
            self._sock.sendall(data)

    # -- reading ------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        assert self._sock is not None
        buffer = b""
        try:
            while True:
                chunk = self._sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    block, buffer = buffer.split(b"\r\n\r\n", 1)
                    self._route(parse_message(block.decode("utf-8", errors="replace")))
        except OSError:
            pass
        finally:
            self._closed.set()
            with self._lock:
                for pending in self._pending.values():
                    pending.response = pending.response or {"Response": "Error", "Message": "connection lost"}
                    pending.done.set()
            self._events.put(None)

    def _route(self, message: Message) -> None:
        action_id = message.get("ActionID", "")
        with self._lock:
            pending = self._pending.get(action_id) if action_id else None
        if pending is not None:
            if "Response" in message:
                pending.response = message
                if not pending.list_action or message.get("Response") != "Success" \
                        or message.get("EventList") != "start":
                    pending.done.set()
                return
            if "Event" in message and pending.list_action:
                if message.get("EventList") == "Complete":
                    pending.done.set()
                else:
                    pending.events.append(message)
                return
        if "Event" in message:
            self._events.put(message)

    def _dispatch_loop(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            with self._lock:
                handlers = list(self._handlers)
            for handler in handlers:
                handler(event)
