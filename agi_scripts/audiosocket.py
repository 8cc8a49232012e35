"""Caller audio over AudioSocket, for speech recognition without a shared filesystem.

The AGI route registers a listening session under a fresh UUID and runs
``EXEC AudioSocket <uuid>,<host>:<port>``; Asterisk connects here and streams the caller's audio
(frame = kind byte + 16-bit big-endian length + payload; 0x01 uuid, 0x10 20 ms of 8 kHz slin16,
0x03 a DTMF digit, 0x00 hangup, 0xff error).  Audio goes to the session's recognition stream until
it reports the end of the utterance, a digit arrives, or time is up; then this side sends a hangup
frame and closes, the AudioSocket application returns and the AGI route carries on.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import sys
import threading
import time
import uuid
from array import array
from dataclasses import dataclass, field

from ivr.ports import ChannelError, RecognitionStream

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF
HEADER = struct.Struct(">BH")
CONNECT_TIMEOUT_SECONDS = 5.0
VOICED_PEAK = 1000  # a frame whose loudest sample reaches this (about -30 dBFS) carries sound

log = logging.getLogger("hotline.audiosocket")


def frame(kind: int, payload: bytes = b"") -> bytes:
    """One AudioSocket frame."""
    return HEADER.pack(kind, len(payload)) + payload


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """Read one frame; ``(KIND_HANGUP, b"")`` when the peer closed."""
    header = _read_exact(sock, HEADER.size)
    if header is None:
        return KIND_HANGUP, b""
    kind, length = HEADER.unpack(header)
    payload = _read_exact(sock, length) if length else b""
    return (kind, payload) if payload is not None else (KIND_HANGUP, b"")


def _read_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


@dataclass
class ListenSession:
    """One utterance being captured for one call."""

    id: uuid.UUID
    stream: RecognitionStream
    max_seconds: float
    connected: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    digit: str = ""
    frames: int = 0
    voiced: int = 0  # frames with sound in them (not the silence Asterisk sends between words)
    ended_by: str = ""


class _Handler(socketserver.BaseRequestHandler):
    server: AudioSocketServer

    def handle(self) -> None:
        self.server.serve_connection(self.request)


class AudioSocketServer(socketserver.ThreadingTCPServer):
    """Receives AudioSocket connections and routes them to the session of their UUID."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], advertised_host: str | None = None) -> None:
        super().__init__(address, _Handler)
        self.advertised_host = advertised_host or address[0]
        self._sessions: dict[uuid.UUID, ListenSession] = {}
        self._lock = threading.Lock()

    @property
    def target(self) -> str:
        """The ``host:port`` Asterisk connects to."""
        return f"{self.advertised_host}:{self.server_address[1]}"

    def expect(self, stream: RecognitionStream, max_seconds: float) -> ListenSession:
        """Register a session; its ``id`` goes into the AudioSocket application's arguments."""
        session = ListenSession(uuid.uuid4(), stream, max_seconds)
        with self._lock:
            self._sessions[session.id] = session
        return session

    def forget(self, session: ListenSession) -> None:
        """Drop a session (after the AudioSocket application returned)."""
        session.done.set()
        with self._lock:
            self._sessions.pop(session.id, None)

    def serve_connection(self, sock: socket.socket) -> None:
        """Run one AudioSocket connection to the end of the utterance."""
        sock.settimeout(CONNECT_TIMEOUT_SECONDS)
        kind, payload = read_frame(sock)
        if kind != KIND_UUID or len(payload) != 16:
            log.warning("AudioSocket connection without a UUID frame (kind 0x%02x)", kind)
            return
        with self._lock:
            session = self._sessions.get(uuid.UUID(bytes=payload))
        if session is None:
            log.warning("AudioSocket connection for an unknown session %s", uuid.UUID(bytes=payload))
            sock.sendall(frame(KIND_HANGUP))
            return
        session.connected.set()
        try:
            self._capture(sock, session)
        finally:
            session.done.set()
            with contextlib.suppress(OSError):
                sock.sendall(frame(KIND_HANGUP))

    def _capture(self, sock: socket.socket, session: ListenSession) -> None:
        deadline = time.monotonic() + session.max_seconds
        while not session.done.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                session.ended_by = "timeout"
                return
            sock.settimeout(min(remaining, 1.0))
            try:
                kind, payload = read_frame(sock)
            except TimeoutError:
                continue
            if kind == KIND_AUDIO:
                session.frames += 1
                session.voiced += is_voiced(payload)
                if session.stream.accept(payload):
                    session.ended_by = "endpoint"
                    return
            elif kind == KIND_DTMF:
                session.digit = payload[:1].decode("ascii", "replace")
                session.ended_by = "dtmf"
                return
            elif kind in (KIND_HANGUP, KIND_ERROR):
                session.ended_by = "hangup" if kind == KIND_HANGUP else "error"
                return


def is_voiced(pcm: bytes) -> bool:
    """Whether a frame of 16-bit signed-linear audio (little-endian, as AudioSocket sends) has sound."""
    samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return bool(samples) and max(max(samples), -min(samples)) >= VOICED_PEAK


def listen_over_audiosocket(server: AudioSocketServer):  # type: ignore[no-untyped-def]
    """The ``listen_via`` hook of :class:`agi_scripts.channel.AgiChannel` for this server."""

    def listen(channel, stream: RecognitionStream, max_seconds: float) -> str:  # type: ignore[no-untyped-def]
        session = server.expect(stream, max_seconds)
        started = time.monotonic()
        try:
            channel.exec_application("AudioSocket", f"{session.id},{server.target}")
            if not session.connected.is_set():
                raise ChannelError("Asterisk did not connect to the AudioSocket server")
            session.done.wait(1.0)
            return session.digit if session.digit in set("0123456789*#") else ""
        finally:
            server.forget(session)
            log.info("[%s] step=listen frames=%d voiced=%d ended_by=%s seconds=%.2f", channel.call.uniqueid,
                     session.frames, session.voiced, session.ended_by or "-", time.monotonic() - started)

    return listen
