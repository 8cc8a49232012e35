"""A minimal, real FastAGI server for tests and the benchmark: it speaks the AGI protocol on a TCP
socket, records what each call brought (environment, digits, command replies) and runs a small
behaviour per route.  It tests the PBX, not the IVR: the product's server is ``hotline agi``.
"""

from __future__ import annotations

import re
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

_REPLY = re.compile(r"^(\d{3})(?: result=(-?\d+)(?: \((.*)\))?)?(.*)$")
_VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")


class ProbeHangup(Exception):
    """The channel hung up while the probe talked to it."""


def quote_argument(value: str) -> str:
    """An AGI argument in double quotes with ``\\`` and ``"`` escaped; CR/LF/NUL refused."""
    if any(c in value for c in "\r\n\0"):
        raise ValueError("an AGI argument cannot contain CR, LF or NUL")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class ProbeCall:
    """One FastAGI connection as the probe saw it."""

    env: dict[str, str] = field(default_factory=dict)
    digits: str = ""
    replies: list[str] = field(default_factory=list)
    hung_up: bool = False
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def route(self) -> str:
        """The route the dialplan named (``agi_network_script``)."""
        return self.env.get("agi_network_script", "")


class ProbeSession:
    """The AGI conversation of one call."""

    def __init__(self, reader: socket.SocketIO, writer: socket.SocketIO, call: ProbeCall) -> None:
        self._reader, self._writer, self.call = reader, writer, call

    def command(self, text: str) -> tuple[int, int, str]:
        """Send one AGI command; return (code, result, data in parentheses)."""
        self._writer.write((text + "\n").encode("utf-8"))
        self._writer.flush()
        line = self._read_line()
        while line == "HANGUP":
            self.call.hung_up = True
            line = self._read_line()
        self.call.replies.append(line)
        match = _REPLY.match(line)
        if not match:
            raise ProbeHangup(f"unexpected AGI reply {line!r}")
        code, result, data = int(match.group(1)), int(match.group(2) or 0), match.group(3) or ""
        if code == 511 or (code == 200 and result == -1):
            self.call.hung_up = True
            raise ProbeHangup(line)
        return code, result, data

    def _read_line(self) -> str:
        raw = self._reader.readline()
        if not raw:
            raise ProbeHangup("connection closed")
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    def wait_for_digit(self, timeout_ms: int) -> str:
        """Wait for one DTMF digit; '' on timeout. Records the digit."""
        _, result, _ = self.command(f"WAIT FOR DIGIT {int(timeout_ms)}")
        digit = chr(result) if result > 0 else ""
        self.call.digits += digit
        return digit

    def collect_digits(self, first_timeout_ms: int = 5000, next_timeout_ms: int = 2000,
                       limit: int = 16) -> str:
        """Collect digits until a pause; return them."""
        digits = ""
        timeout = first_timeout_ms
        while len(digits) < limit:
            digit = self.wait_for_digit(timeout)
            if not digit:
                break
            digits += digit
            timeout = next_timeout_ms
        return digits

    def set_variable(self, name: str, value: str) -> None:
        """SET VARIABLE with the value safely quoted."""
        if not _VARIABLE.match(name):
            raise ValueError(f"variable name {name!r}")
        self.command(f"SET VARIABLE {name} {quote_argument(value)}")

    def get_variable(self, name: str) -> str:
        """GET VARIABLE; '' when unset."""
        if not _VARIABLE.match(name):
            raise ValueError(f"variable name {name!r}")
        _, result, data = self.command(f"GET VARIABLE {name}")
        return data if result == 1 else ""

    def stream_file(self, sound: str, escape: str = "") -> str:
        """STREAM FILE; the digit that interrupted it, or ''."""
        _, result, _ = self.command(f"STREAM FILE {quote_argument(sound)} {quote_argument(escape)}")
        digit = chr(result) if result > 0 else ""
        self.call.digits += digit
        return digit

    def exec(self, application: str, arguments: str = "") -> int:
        """EXEC an application (arguments quoted)."""
        _, result, _ = self.command(f"EXEC {application} {quote_argument(arguments)}")
        return result


Behaviour = Callable[[ProbeSession], None]


def collect_and_route(session: ProbeSession) -> None:
    """Default ``ivr`` behaviour: collect digits, report them, send the caller to the general queue."""
    digits = session.collect_digits()
    session.set_variable("HOTLINE_PROBE_DIGITS", digits)
    session.set_variable("HOTLINE_QUEUE", "general")
    session.set_variable("HOTLINE_OUTCOME", "agent")


def bench_menu(session: ProbeSession) -> None:
    """The benchmark's menu: prompt, one digit, say it back, hold ~25 s, report the digit."""
    digit = session.stream_file("beep", "0123456789")
    if not digit:
        digit = session.wait_for_digit(10000)
    if digit:
        session.command(f"SAY DIGITS {digit} \"\"")
        session.exec("Wait", "25")
        session.set_variable("BENCH_DIGIT", digit)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        call = ProbeCall()
        try:
            while True:
                raw = self.rfile.readline()
                if not raw or raw in (b"\n", b"\r\n"):
                    break
                key, _, value = raw.decode("utf-8", errors="replace").rstrip("\r\n").partition(": ")
                call.env[key] = value
            self.server.probe._record(call)
            behaviour = self.server.probe.behaviour_for(call.route)
            if behaviour is not None:
                behaviour(ProbeSession(self.rfile, self.wfile, call))  # type: ignore[arg-type]
        except (ProbeHangup, OSError):
            call.hung_up = True
        finally:
            call.finished.set()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512
    probe: ProbeAgiServer


class ProbeAgiServer:
    """A FastAGI server on ``host:port`` (port 0: any free port) that records every call."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self._port = host, port
        self.calls: list[ProbeCall] = []
        self.behaviours: dict[str, Behaviour] = {"ivr": collect_and_route, "bench": bench_menu}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.server_address[1] if self._server else self._port

    @property
    def running(self) -> bool:
        """Whether the server accepts calls."""
        return self._server is not None

    def start(self) -> ProbeAgiServer:
        """Bind and serve in a background thread."""
        if self._server is not None:
            return self
        server = _Server((self.host, self._port), _Handler)
        server.probe = self
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="probe-agi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (calls then get AGISTATUS=FAILURE)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def behaviour_for(self, route: str) -> Behaviour | None:
        """The behaviour of a route (None: close at once)."""
        return self.behaviours.get(route)

    def _record(self, call: ProbeCall) -> None:
        with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()

    def wait_call(self, predicate: Callable[[ProbeCall], bool], timeout: float = 10.0) -> ProbeCall:
        """The first call (already arrived or arriving within ``timeout``) that matches."""
        with self._arrived:
            found = self._arrived.wait_for(lambda: self._first(predicate), timeout)
        if found is None:
            raise TimeoutError("no matching FastAGI call arrived")
        return found

    def _first(self, predicate: Callable[[ProbeCall], bool]) -> ProbeCall | None:
        return next((call for call in self.calls if predicate(call)), None)

    def __enter__(self) -> ProbeAgiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
