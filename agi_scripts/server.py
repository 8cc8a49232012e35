"""The FastAGI server: accepts Asterisk's AGI connections and runs the route each one names.

Concurrency model: one thread per call.  A call spends almost all of its time waiting for
Asterisk (prompts playing, digits awaited), so threads blocked on their sockets cost a stack and
no CPU; pyst2 is blocking code and fits it unchanged.  ``bench/calls.py`` (the real ``ivr`` route
through the sandbox at 200 and 400 calls) and ``tests/agi/test_server_load.py`` show hundreds of
simultaneous calls on one process.  A bound on
concurrent calls protects the process: a call over the bound is closed at once, without a route,
so the dialplan falls back to the human queue straight away (no dead air).

Failure contract with the dialplan: a route that raises leaves ``HOTLINE_OUTCOME=error`` (when
the channel is still there) and never sets ``HOTLINE_QUEUE``; the connection is closed, the AGI
application returns, and the dialplan queues the caller in the general queue.  (Routes finish their
own call records first: the ``ivr`` route records a degraded/error outcome before re-raising.)
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from agi_scripts.channel import (
    AgiChannel,
    AgiEnvironment,
    PromptAvailability,
    PromptFallback,
    SafeAGI,
    open_session,
)
from ivr.masking import mask_phone
from ivr.ports import CallerHungUp, ChannelError, Outcome, RecognitionStream

log = logging.getLogger("hotline.agi")

OUTCOME_VARIABLE = "HOTLINE_OUTCOME"
# Commands Asterisk answers at once (no prompt, no waiting for the caller): their time from sending
# to the answer is the AGI round trip the benchmark reports.
QUICK_COMMANDS = frozenset({"ANSWER", "SET VARIABLE", "GET VARIABLE", "CHANNEL STATUS", "VERBOSE"})
ROUND_TRIP_SAMPLES = 200_000


@dataclass
class AgiCall:
    """One FastAGI connection as a route sees it."""

    env: AgiEnvironment
    session: SafeAGI
    channel: AgiChannel
    log: logging.LoggerAdapter[logging.Logger]

    @property
    def uniqueid(self) -> str:
        """Asterisk's uniqueid of the channel, the key of every log line."""
        return self.env.get("agi_uniqueid", "")


Route = Callable[[AgiCall], None]
ListenVia = Callable[[AgiChannel, RecognitionStream, float], str]


@dataclass
class ServerStats:
    """Counters the server keeps (read by the status route, the bench and tests)."""

    started: int = 0
    finished: int = 0
    failed: int = 0
    hung_up: int = 0
    refused: int = 0
    active: int = 0
    peak_active: int = 0
    commands: int = 0
    round_trips: deque[float] = field(default_factory=lambda: deque(maxlen=ROUND_TRIP_SAMPLES), repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def enter(self) -> None:
        """A call started."""
        with self.lock:
            self.started += 1
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)

    def leave(self, outcome: str) -> None:
        """A call ended: ``ok``, ``hangup`` or ``failed``."""
        with self.lock:
            self.active -= 1
            self.finished += 1
            if outcome == "failed":
                self.failed += 1
            elif outcome == "hangup":
                self.hung_up += 1

    def count_command(self, command: str = "", seconds: float = 0.0) -> None:
        """One AGI command was answered (after ``seconds``)."""
        with self.lock:
            self.commands += 1
            if command in QUICK_COMMANDS:
                self.round_trips.append(seconds)

    def snapshot(self) -> dict[str, object]:
        """The counters and the quick commands' round trips in seconds (for ``--stats-file``)."""
        with self.lock:
            return {"started": self.started, "finished": self.finished, "failed": self.failed,
                    "hung_up": self.hung_up, "refused": self.refused, "active": self.active,
                    "peak_active": self.peak_active, "commands": self.commands,
                    "round_trips": list(self.round_trips)}


@dataclass(frozen=True)
class ServerLimits:
    """How long the server waits and how many calls it carries."""

    command_timeout_seconds: float = 120.0  # longer than the longest prompt or recording
    env_timeout_seconds: float = 5.0
    max_calls: int = 1000


class CallLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every line with the call's uniqueid."""

    def process(self, msg: object, kwargs: Mapping[str, object]) -> tuple[str, dict[str, object]]:
        return f"[{self.extra['uniqueid']}] {msg}", dict(kwargs)


class _Handler(socketserver.BaseRequestHandler):
    server: FastAgiServer

    def handle(self) -> None:
        self.server.serve_call(self.request)


class FastAgiServer(socketserver.ThreadingTCPServer):
    """A threaded FastAGI server dispatching on ``agi_network_script``."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # a burst of calls must not be refused by the listen backlog

    def __init__(self, address: tuple[str, int], routes: Mapping[str, Route],
                 limits: ServerLimits | None = None, listen_via: ListenVia | None = None,
                 prompt_fallback: PromptFallback | None = None) -> None:
        self.routes = dict(routes)
        self.listen_via = listen_via
        self.prompt_fallback = prompt_fallback
        self.prompts = PromptAvailability()
        self.limits = limits or ServerLimits()
        self.stats = ServerStats()
        self._slots = threading.BoundedSemaphore(self.limits.max_calls)
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        """The TCP port actually bound (useful with port 0)."""
        return int(self.server_address[1])

    def serve_call(self, sock: socket.socket) -> None:
        """Run one FastAGI connection from environment to close."""
        if not self._slots.acquire(blocking=False):
            self.stats.refused += 1
            log.warning("refusing a call: %d calls already active", self.limits.max_calls)
            return
        self.stats.enter()
        outcome = "failed"
        try:
            outcome = self._run_route(sock)
        finally:
            self.stats.leave(outcome)
            self._slots.release()

    def _run_route(self, sock: socket.socket) -> str:
        started = time.monotonic()
        try:
            session = open_session(sock, self.limits.env_timeout_seconds, self._count_command)
        except ChannelError as exc:
            log.warning("[-] no usable AGI session: %s", exc)
            return "failed"
        sock.settimeout(self.limits.command_timeout_seconds)
        try:
            return self._dispatch(session, started)
        finally:
            session.close()

    def _dispatch(self, session: SafeAGI, started: float) -> str:
        env = session.env
        call_log = CallLog(log, {"uniqueid": env.get("agi_uniqueid", "-")})
        channel = AgiChannel(session, listen_via=self.listen_via, fallback=self.prompt_fallback,
                             prompts=self.prompts)
        call = AgiCall(env=env, session=session, channel=channel, log=call_log)
        route = self.routes.get(env.script)
        call_log.info("start route=%s caller=%s", env.script or "-", mask_phone(env.get("agi_callerid", "")))
        if route is None:
            call_log.error("no route %r; leaving it to the dialplan fallback", env.script)
            _mark_error(call)
            return "failed"
        try:
            route(call)
        except CallerHungUp as exc:
            call_log.info("hangup: %s", exc)
            return "hangup"
        except Exception:
            call_log.exception("route %s failed", env.script)
            _mark_error(call)
            return "failed"
        finally:
            call_log.info("end after %.1f s", time.monotonic() - started)
        return "ok"

    def drain(self, timeout_seconds: float) -> int:
        """Wait for active calls to end (after ``shutdown``); the number still active."""
        deadline = time.monotonic() + timeout_seconds
        while self.stats.active and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.stats.active

    def _count_command(self, command: str, line: str, seconds: float) -> None:
        self.stats.count_command(command, seconds)

    def handle_error(self, request: object, client_address: object) -> None:
        log.exception("FastAGI connection from %s failed", client_address)


def _mark_error(call: AgiCall) -> None:
    """Best effort: tell the dialplan the IVR failed (it falls back to the general queue anyway)."""
    try:
        call.session.command("SET VARIABLE", OUTCOME_VARIABLE, Outcome.ERROR.value)
    except Exception as exc:
        call.log.info("could not set %s: %s", OUTCOME_VARIABLE, exc)


def serve_in_thread(server: FastAgiServer) -> threading.Thread:
    """Run ``serve_forever`` in a daemon thread (tests and benchmarks)."""
    thread = threading.Thread(target=server.serve_forever, name="fastagi", daemon=True)
    thread.start()
    return thread
