"""A small Asterisk Manager Interface (AMI) client and the console's reading of queue events.

:class:`AmiClient` logs in over TCP, sends actions and waits for their responses (by ActionID),
and hands every event to a callback on its own thread.  Header values are refused when they
contain CR, LF or NUL, so caller-controlled text can never inject AMI headers (DESIGN §6.5).

:class:`QueueMonitor` keeps the waiting calls per queue from ``QueueCallerJoin`` /
``QueueCallerLeave`` / ``QueueCallerAbandon`` (and ``QueueEntry`` from a ``QueueStatus``), and
reports agent events (``AgentConnect``, ``AgentComplete``, ``QueueMemberPause``, …) to a handler.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("hotline.ami")

Message = dict[str, str]
VARIABLE_HEADERS = ("ChanVariable", "DestChanVariable")


class AmiError(Exception):
    """The AMI connection failed or an action was refused."""


def check_header(name: str, value: object) -> str:
    """A header value safe to send: no CR, LF or NUL, and a plain header name."""
    text = str(value)
    if not name.replace("-", "").isalnum():
        raise ValueError(f"AMI header name {name!r} is not plain")
    if any(ch in text for ch in "\r\n\x00"):
        raise ValueError(f"AMI header {name}: line breaks are not allowed")
    return text


def encode_action(action: str, action_id: str, fields: dict[str, object]) -> bytes:
    """One AMI action as bytes (``Key: Value`` lines and a blank line)."""
    lines = [f"Action: {check_header('Action', action)}", f"ActionID: {check_header('ActionID', action_id)}"]
    lines += [f"{name}: {check_header(name, value)}" for name, value in fields.items() if value is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def parse_message(block: str) -> Message:
    """A block of ``Key: Value`` lines; channel variables are also collected as ``var:NAME``."""
    message: Message = {}
    for line in block.split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name, value = name.strip(), value.strip()
        if name in VARIABLE_HEADERS:
            var, _eq, var_value = value.partition("=")
            prefix = "var:" if name == "ChanVariable" else "destvar:"
            message[prefix + var] = var_value
        message[name] = value
    return message


class AmiClient:
    """A logged-in AMI connection: ``action()`` waits for a response; events go to ``on_event``."""

    def __init__(self, host: str, port: int, username: str, secret: str,
                 on_event: Callable[[Message], None], timeout: float = 5.0) -> None:
        self.address = (host, port)
        self.username, self.secret, self.timeout = username, secret, timeout
        self.on_event = on_event
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[threading.Event, list[Message]]] = {}
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self.connected = threading.Event()

    def connect(self) -> None:
        """Open the TCP connection, read the banner, log in and start reading."""
        sock = socket.create_connection(self.address, timeout=self.timeout)
        banner = b""
        while not banner.endswith(b"\r\n"):
            chunk = sock.recv(1)
            if not chunk:
                raise AmiError("AMI closed the connection before its banner")
            banner += chunk
        sock.settimeout(None)
        self._sock = sock
        self._reader = threading.Thread(target=self._read_loop, name="ami-reader", daemon=True)
        self._reader.start()
        reply = self.action("Login", Username=self.username, Secret=self.secret, Events="on")
        if reply.get("Response") != "Success":
            self.close()
            raise AmiError(f"AMI login refused: {reply.get('Message', '')}")
        self.connected.set()

    def close(self) -> None:
        """Close the connection (the reader thread ends)."""
        self.connected.clear()
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def action(self, action: str, **fields: object) -> Message:
        """Send an action and return its response (AmiError on timeout or a closed connection)."""
        if self._sock is None:
            raise AmiError("AMI is not connected")
        action_id = f"hotline-{next(self._ids)}"
        done: tuple[threading.Event, list[Message]] = (threading.Event(), [])
        with self._lock:
            self._pending[action_id] = done
            self._sock.sendall(encode_action(action, action_id, dict(fields)))
        if not done[0].wait(self.timeout):
            with self._lock:
                self._pending.pop(action_id, None)
            raise AmiError(f"AMI action {action} timed out")
        return done[1][0]

    def _read_loop(self) -> None:
        buffer = b""
        sock = self._sock
        try:
            while sock is not None:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    block, buffer = buffer.split(b"\r\n\r\n", 1)
                    self._dispatch(parse_message(block.decode("utf-8", "replace")))
        except OSError:
            pass
        finally:
            self.connected.clear()
            with self._lock:
                for event, _box in self._pending.values():
                    event.set()
            log.info("AMI connection closed")

    def _dispatch(self, message: Message) -> None:
        if "Response" in message:
            with self._lock:
                waiting = self._pending.pop(message.get("ActionID", ""), None)
            if waiting is not None:
                waiting[1].append(message)
                waiting[0].set()
                return
        if "Event" in message:
            try:
                self.on_event(message)
            except Exception:  # a bad handler must not stop the reader
                log.exception("AMI event handler failed on %s", message.get("Event"))


@dataclass(frozen=True)
class WaitingCall:
    """A caller waiting in a queue."""

    queue: str
    uniqueid: str
    caller: str
    caller_name: str
    position: int
    since: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON form (the number masked by the caller of this method when needed)."""
        return {"queue": self.queue, "uniqueid": self.uniqueid, "caller": self.caller,
                "caller_name": self.caller_name, "position": self.position, "since": self.since.isoformat()}


AGENT_EVENTS = frozenset({"AgentConnect", "AgentComplete", "QueueMemberPause", "QueueMemberAdded",
                          "QueueMemberRemoved"})


@dataclass
class QueueMonitor:
    """Waiting calls per queue, from AMI queue events; agent events go to ``on_agent_event``."""

    on_agent_event: Callable[[Message], None] | None = None
    calls: dict[str, dict[str, WaitingCall]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _work: queue.Queue[Message] = field(default_factory=queue.Queue)

    def handle(self, message: Message) -> None:
        """Feed one AMI event (called on the reader thread; agent work is queued for a worker)."""
        kind = message.get("Event", "")
        if kind in ("QueueCallerJoin", "QueueEntry"):
            self._join(message)
        elif kind in ("QueueCallerLeave", "QueueCallerAbandon") or kind == "AgentConnect":
            self._leave(message)
        if kind in AGENT_EVENTS and self.on_agent_event is not None:
            self._work.put(message)

    def _join(self, message: Message) -> None:
        name, uniqueid = message.get("Queue", ""), message.get("Uniqueid", "")
        if not name or not uniqueid:
            return
        try:
            position = int(message.get("Position", "0"))
        except ValueError:
            position = 0
        call = WaitingCall(queue=name, uniqueid=uniqueid, caller=message.get("CallerIDNum", ""),
                           caller_name=message.get("CallerIDName", ""), position=position,
                           since=dt.datetime.now(dt.UTC))
        with self._lock:
            known = self.calls.setdefault(name, {}).get(uniqueid)
            self.calls[name][uniqueid] = call if known is None else WaitingCall(
                name, uniqueid, call.caller, call.caller_name, position, known.since)

    def _leave(self, message: Message) -> None:
        with self._lock:
            self.calls.get(message.get("Queue", ""), {}).pop(message.get("Uniqueid", ""), None)

    def snapshot(self) -> dict[str, list[WaitingCall]]:
        """Waiting calls per queue, in queue position order."""
        with self._lock:
            return {name: sorted(calls.values(), key=lambda c: c.position) for name, calls in self.calls.items()}

    def reset(self) -> None:
        """Forget every call (before re-reading QueueStatus after a reconnect)."""
        with self._lock:
            self.calls.clear()

    def run_agent_events(self, stop: threading.Event) -> None:
        """Process queued agent events until ``stop`` is set (runs on its own thread)."""
        while not stop.is_set():
            try:
                message = self._work.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                if self.on_agent_event is not None:
                    self.on_agent_event(message)
            except Exception:
                log.exception("agent event %s failed", message.get("Event"))
