"""The scheduler's telephony over AMI: placing outbound calls and reading what happened to them.

* :meth:`AmiDialer.originate` sends an async ``Originate`` of ``Local/<digits>@hotline-outbound``
  into ``hotline-followup`` or ``hotline-callback`` with ``ChannelId: hotline-ob-<attempt id>``.
  Every header value is built from validated parts only: the number is digits matching the
  outbound dialplan, the context is one of two names, and each variable is a ``HOTLINE_*`` name
  with a value from ``[A-Za-z0-9_-]`` (caller data never reaches an AMI header, DESIGN §6.5).
* AMI events are turned into attempt results by the attempt's uniqueid (so a restarted scheduler
  still recognises calls placed by its predecessor): ``OriginateResponse`` (answered, or the
  reason it was not), ``Hangup`` (ended, with the cause) and ``AgentConnect`` (a callback reached
  an agent).  They are applied on a worker thread, one short transaction each; replays change
  nothing.
* :meth:`AmiDialer.free_agents` asks ``QueueStatus`` and counts, per queue, the members that are
  logged in, not paused, not on a call and whose device is idle.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from callcenter.ami import AmiClient, AmiError, Message
from models.base import utcnow
from models.outbound import agent_connected, call_ended, call_id_of, channel_uniqueid, originate_result

log = logging.getLogger("hotline.scheduler.dialer")

CONTEXTS = frozenset({"hotline-followup", "hotline-callback"})
QUEUE_PREFIX = "hotline-"
_DIGITS = re.compile(r"^(1\d{10}|0\d{9,11})$")
_VARIABLE = re.compile(r"^HOTLINE_[A-Z_]{1,32}$")
_VALUE = re.compile(r"^[A-Za-z0-9_-]{0,32}$")
_CALLER_ID = re.compile(r"^\d{3,20}$")
DEVICE_NOT_IN_USE = "1"


class DialError(Exception):
    """The call could not be placed (AMI away, the Originate refused, or an unsafe value)."""


@dataclass(frozen=True)
class OriginateRequest:
    """One outbound call to place."""

    call_id: int
    digits: str
    context: str
    variables: dict[str, str] = field(default_factory=dict)
    ring_seconds: int = 40
    caller_id: str = "96345"


class Dialer(Protocol):
    """What the outbound jobs need from the telephone system."""

    @property
    def connected(self) -> bool:
        """Whether calls can be placed now."""

    def originate(self, request: OriginateRequest) -> str:
        """Place the call (asynchronously); returns the action id, raises :class:`DialError`."""

    def free_agents(self) -> dict[str, int] | None:
        """Free agents per queue short name (``general`` …); None when it cannot be known now."""


def originate_fields(request: OriginateRequest) -> dict[str, str]:
    """The Originate headers of a request, refusing any value outside its fixed alphabet."""
    if not _DIGITS.match(request.digits):
        raise DialError("refusing to dial a number the outbound dialplan does not accept")
    if request.context not in CONTEXTS:
        raise DialError(f"unknown outbound context {request.context!r}")
    if not _CALLER_ID.match(request.caller_id):
        raise DialError("the outbound caller ID must be digits")
    for name, value in request.variables.items():
        if not _VARIABLE.match(name) or not _VALUE.match(value):
            raise DialError(f"refusing the channel variable {name!r}")
    if not 1 <= request.ring_seconds <= 300:
        raise DialError("ring time must be 1 to 300 seconds")
    fields = {
        "Channel": f"Local/{request.digits}@hotline-outbound", "Context": request.context, "Exten": "s",
        "Priority": "1", "Async": "true", "Timeout": str(request.ring_seconds * 1000),
        "CallerID": f"{request.caller_id} <{request.caller_id}>", "ChannelId": channel_uniqueid(request.call_id),
    }
    if request.variables:
        fields["Variable"] = ",".join(f"{name}={value}" for name, value in sorted(request.variables.items()))
    return fields


@dataclass
class _Status:
    done: threading.Event = field(default_factory=threading.Event)
    members: list[Message] = field(default_factory=list)


def count_free(members: list[Message]) -> dict[str, int]:
    """Free agents per queue short name from ``QueueMember`` events."""
    free: dict[str, int] = {}
    for member in members:
        name = member.get("Queue", "").removeprefix(QUEUE_PREFIX)
        if not name:
            continue
        idle = (member.get("Status") == DEVICE_NOT_IN_USE and member.get("Paused", "0") == "0"
                and member.get("InCall", "0") == "0")
        free[name] = free.get(name, 0) + (1 if idle else 0)
    return free


class AmiDialer:
    """:class:`Dialer` over an AMI connection that reconnects by itself."""

    def __init__(self, host: str, port: int, username: str, secret: str, sessions: sessionmaker[Session], *,
                 client_factory: Callable[..., AmiClient] = AmiClient, status_timeout: float = 3.0) -> None:
        self.address, self.username, self.secret = (host, port), username, secret
        self.sessions = sessions
        self.client_factory = client_factory
        self.status_timeout = status_timeout
        self.client: AmiClient | None = None
        self._stop = threading.Event()
        self._work: queue.Queue[tuple[str, int, str]] = queue.Queue()
        self._status: dict[str, _Status] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.applied = 0  # events applied to attempts (for tests and the bench)

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (and keep reconnecting) and apply events, on background threads."""
        for target, name in ((self._connect_loop, "dialer-ami"), (self._apply_loop, "dialer-events")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Disconnect and stop the threads."""
        self._stop.set()
        if self.client is not None:
            self.client.close()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def connected(self) -> bool:
        """Whether AMI is logged in now."""
        return self.client is not None and self.client.connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Wait until logged in (tests and start-up)."""
        return self._stop.wait(0) is False and _wait(lambda: self.connected, timeout)

    def _connect_loop(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            client = self.client_factory(self.address[0], self.address[1], self.username, self.secret,
                                         on_event=self.handle)
            try:
                client.connect()
                self.client = client
                log.info("dialer connected to AMI at %s:%s", *self.address)
                delay = 1.0
                while client.connected.is_set() and not self._stop.is_set():
                    self._stop.wait(0.5)
            except (OSError, AmiError) as exc:
                log.warning("dialer: AMI not reachable at %s:%s (%s); retrying in %.0f s", *self.address, exc, delay)
            finally:
                client.close()
            self._stop.wait(delay)
            delay = min(delay * 2, 15.0)

    # -- placing calls ------------------------------------------------------------------------------
    def originate(self, request: OriginateRequest) -> str:
        """Send the Originate (Async: the answer comes later as an OriginateResponse event)."""
        fields = originate_fields(request)
        client = self.client
        if client is None or not client.connected.is_set():
            raise DialError("AMI is not connected")
        try:
            reply = client.action("Originate", **fields)
        except (AmiError, OSError, ValueError) as exc:
            raise DialError(f"Originate failed: {exc}") from exc
        if reply.get("Response") != "Success":
            raise DialError(f"Originate refused: {reply.get('Message', '')}"[:200])
        return reply.get("ActionID", "")

    def free_agents(self) -> dict[str, int] | None:
        """Free agents per queue, from a fresh ``QueueStatus`` (None when AMI does not answer)."""
        client = self.client
        if client is None or not client.connected.is_set():
            return None
        try:
            reply = client.action("QueueStatus")
        except (AmiError, OSError) as exc:
            log.warning("dialer: QueueStatus failed: %s", exc)
            return None
        action_id = reply.get("ActionID", "")
        status = self._status_of(action_id)
        try:
            if reply.get("Response") != "Success" or not status.done.wait(self.status_timeout):
                return None
            return count_free(status.members)
        finally:
            with self._lock:
                self._status.pop(action_id, None)

    def _status_of(self, action_id: str) -> _Status:
        with self._lock:
            return self._status.setdefault(action_id, _Status())

    # -- events -------------------------------------------------------------------------------------
    def handle(self, message: Message) -> None:
        """Feed one AMI event (on the reader thread: quick; database work is queued)."""
        kind = message.get("Event", "")
        if kind == "QueueMember":
            self._status_of(message.get("ActionID", "")).members.append(message)
        elif kind == "QueueStatusComplete":
            self._status_of(message.get("ActionID", "")).done.set()
        elif kind in ("OriginateResponse", "Hangup", "AgentConnect"):
            call_id = call_id_of(message.get("Uniqueid"))
            if call_id is None:
                return
            if kind == "OriginateResponse":
                answered = message.get("Response") == "Success"
                self._work.put(("answered" if answered else "unanswered", call_id, message.get("Reason", "")))
            elif kind == "Hangup":
                self._work.put(("ended", call_id, message.get("Cause", "")))
            else:
                self._work.put(("connected", call_id, ""))

    def _apply_loop(self) -> None:
        while not self._stop.is_set():
            try:
                what, call_id, detail = self._work.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self.apply(what, call_id, detail)
            except Exception:
                log.exception("dialer: could not apply %s of outbound call %s", what, call_id)

    def apply(self, what: str, call_id: int, detail: str) -> None:
        """Apply one call event to its attempt (idempotent)."""
        now = utcnow()
        with self.sessions.begin() as session:
            if what in ("answered", "unanswered"):
                originate_result(session, call_id, answered=what == "answered", reason=detail, now=now)
            elif what == "ended":
                call_ended(session, call_id, cause=detail, now=now)
            elif what == "connected":
                agent_connected(session, call_id, now=now)
        self.applied += 1


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    done = threading.Event()
    deadline = timeout
    step = 0.05
    while deadline > 0:
        if condition():
            return True
        done.wait(step)
        deadline -= step
    return condition()
