"""A scripted fake Asterisk that speaks FastAGI to the server over a real TCP socket."""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import time
import uuid
import wave
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agi_scripts.encoding import decode_arguments


def agi_env(script: str = "ivr", uniqueid: str = "1700000000.1", callerid: str = "13800000001",
            **extra: str) -> dict[str, str]:
    """An AGI environment like Asterisk 22 sends for ``AGI(agi://127.0.0.1:4573/<script>)``."""
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:4573/{script}",
        "agi_channel": "PJSIP/carrier-00000001",
        "agi_language": "en",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.10.0",
        "agi_callerid": callerid,
        "agi_calleridname": "Resident",
        "agi_callingpres": "0",
        "agi_dnid": "96345",
        "agi_rdnis": "unknown",
        "agi_context": "from-carrier",
        "agi_extension": "96345",
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140000000000",
        "agi_linkedid": uniqueid,
    }
    env.update(extra)
    return env


@dataclass
class FakeCaller:
    """What the simulated caller does: keys for each input command, and when they hang up.

    ``keys`` are consumed by GET DATA (a digit string; ``None`` = timeout with no digits),
    STREAM FILE / WAIT FOR DIGIT (a single digit interrupts; anything else plays through).
    ``hangup_after`` hangs up after that many commands were answered.
    """

    keys: Iterable[str | None] = ()
    hangup_after: int | None = None
    variables: dict[str, str] = field(default_factory=dict)
    missing_sounds: frozenset[str] = frozenset()
    speech: Iterable[Path | str] = ()  # per AudioSocket EXEC: a WAV to stream, or a DTMF digit
    barge: bool = True  # keys may interrupt prompts (else only GET DATA / WAIT FOR DIGIT take them)
    read_status: str | None = None  # READSTATUS every Read() ends with, instead of what its keys give

    def __post_init__(self) -> None:
        self._keys: deque[str | None] = deque(self.keys)
        self._speech: deque[Path | str] = deque(self.speech)
        self.audiosocket_frames = 0

    def _next_key(self) -> str | None:
        return self._keys.popleft() if self._keys else None

    def answer(self, args: list[str]) -> str:
        """The reply line Asterisk would send to one decoded command."""
        name = " ".join(a.upper() for a in args[:2])
        if args[0].upper() in {"ANSWER", "VERBOSE", "NOOP"}:
            return "200 result=0"
        if name == "SET VARIABLE":
            self.variables[args[2]] = args[3]
            return "200 result=1"
        if name == "GET VARIABLE":
            value = self.variables.get(args[2])
            return "200 result=0" if value is None else f"200 result=1 ({value})"
        if name in {"STREAM FILE", "GET DATA"} and args[2] in self.missing_sounds:
            return "200 result=-1 endpos=0"
        if name == "GET DATA":
            key = self._next_key()
            if not key:
                return "200 result= (timeout)"
            return f"200 result={key.split('#', 1)[0]}"  # '#' ends the entry and is not returned
        if name == "CHANNEL STATUS":
            return "200 result=6"
        if name in {"STREAM FILE", "WAIT FOR"}:
            barge_in = name == "WAIT FOR" or self.barge
            upcoming = self._keys[0] if self._keys else None
            key = self._next_key() if barge_in and upcoming and len(upcoming) == 1 else ""
            if key and name == "STREAM FILE" and key not in args[3]:
                self._keys.appendleft(key)
                key = ""
            return f"200 result={ord(key) if key else 0} endpos=8000"
        if name == "RECORD FILE":
            return "200 result=0 (timeout) endpos=16000"
        if args[0].upper() == "EXEC" and args[1].lower() == "audiosocket":
            return self._audiosocket(args[2])
        if args[0].upper() == "EXEC" and args[1].lower() == "read":
            return self._read(args[2])
        if args[0].upper() == "EXEC" and args[1].lower() == "playback":
            return "200 result=0"
        if args[0].upper() == "EXEC" and args[1].lower() == "mset":
            for pair in args[2].split(","):
                name, _, value = pair.partition("=")
                self.variables[name] = value
            return "200 result=0"
        if name == "GET FULL":  # GET FULL VARIABLE: ${NAME} expanded from the channel's variables
            value = re.sub(r"\$\{([A-Z_]+)\}", lambda m: self.variables.get(m[1], ""), args[3])
            return f"200 result=1 ({value})"
        if args[0].upper() == "EXEC":
            return "200 result=0"
        return "510 Invalid or unknown command"


    def _read(self, arguments: str) -> str:
        """Play Asterisk's Read(var,files,max,,1,timeout): files joined by '&', a missing one skipped
        (the last one missing is an ERROR); keys as GET DATA takes them, or, with a timeout of a few
        milliseconds (a playback keys may interrupt), as STREAM FILE does."""
        variable, files, max_digits, _, _, timeout = arguments.split(",")
        sounds = files.split("&")
        if sounds[-1] in self.missing_sounds:
            self.variables.update({variable: "", "READSTATUS": "ERROR"})
            return "200 result=0"
        upcoming = self._keys[0] if self._keys else None
        if float(timeout) <= 0.01 and not (self.barge and upcoming and len(upcoming) == 1):
            key = None
        else:
            key = self._next_key()
        if not key:
            self.variables.update({variable: "", "READSTATUS": "TIMEOUT"})
        else:
            self.variables.update({variable: key.split("#", 1)[0][:int(max_digits)], "READSTATUS": "OK"})
        if self.read_status is not None:
            self.variables["READSTATUS"] = self.read_status
        return "200 result=0"

    def _audiosocket(self, arguments: str) -> str:
        """Play Asterisk's AudioSocket application: stream a WAV (or a digit) to the server."""
        session_id, _, target = arguments.partition(",")
        host, _, port = target.rpartition(":")
        item = self._speech.popleft() if self._speech else None
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(struct.pack(">BH", 0x01, 16) + uuid.UUID(session_id).bytes)
            if isinstance(item, str):
                sock.sendall(struct.pack(">BH", 0x03, 1) + item.encode())
            elif item is not None:
                with wave.open(str(item)) as audio:
                    pcm = audio.readframes(audio.getnframes())
                pcm += b"\0" * 16000 * 10  # then silence, as Asterisk keeps sending, until hung up
                for start in range(0, len(pcm), 320):
                    try:
                        sock.sendall(struct.pack(">BH", 0x10, 320) + pcm[start:start + 320].ljust(320, b"\0"))
                    except OSError:
                        break  # the server hung up: the utterance has ended
                    self.audiosocket_frames += 1
            sock.settimeout(10)
            with contextlib.suppress(OSError):
                while sock.recv(3):  # until the server's hangup frame / close
                    pass
        return "200 result=0"


class FakeAsterisk:
    """Connects to a FastAGI server as Asterisk would, and records the commands it receives."""

    def __init__(self, port: int, env: dict[str, str], caller: FakeCaller | None = None,
                 host: str = "127.0.0.1", timeout: float = 10.0, reply_delay: float = 0.0) -> None:
        self.address = (host, port)
        self.env = env
        self.caller = caller or FakeCaller()
        self.timeout = timeout
        self.reply_delay = reply_delay
        self.round_trips: list[float] = []
        self.commands: list[list[str]] = []
        self.raw_lines: list[str] = []
        self.closed_by_server = False

    def run(self) -> FakeAsterisk:
        """Play the whole session; returns self for chaining."""
        with socket.create_connection(self.address, timeout=self.timeout) as sock:
            reader = sock.makefile("r", encoding="utf-8", newline="\n")
            env_text = "".join(f"{k}: {v}\n" for k, v in self.env.items()) + "\n"
            sock.sendall(env_text.encode("utf-8"))
            hung_up = False
            while True:
                line = reader.readline()
                if not line:
                    self.closed_by_server = True
                    break
                if self.reply_delay:
                    time.sleep(self.reply_delay)
                self.raw_lines.append(line)
                args = decode_arguments(line.rstrip("\n"))
                self.commands.append(args)
                if hung_up:
                    reply = "511 Command Not Permitted on a dead channel or intercept routine"
                else:
                    reply = self.caller.answer(args)
                    limit = self.caller.hangup_after
                    if limit is not None and len(self.commands) >= limit:
                        hung_up = True
                        sock.sendall(b"HANGUP\n")
                sock.sendall((reply + "\n").encode("utf-8"))
            reader.close()
        return self

    def sounds(self, commands: tuple[str, ...] = ("STREAM FILE", "GET DATA", "Read", "Playback")) -> list[str]:
        """The sounds the server asked for, in order, ``hotline/`` dropped (several per Read()/Playback())."""
        found: list[str] = []
        for command in self.commands:
            words = [a.upper() for a in command[:2]]
            if " ".join(words) in commands:
                found.append(command[2])
            elif words[:1] == ["EXEC"] and command[1].lower() == "read" and "Read" in commands:
                found.extend(command[2].split(",")[1].split("&"))
            elif words[:1] == ["EXEC"] and command[1].lower() == "playback" and "Playback" in commands:
                found.extend(command[2].split("&"))
        return [sound.removeprefix("hotline/") for sound in found]

    def names(self) -> list[str]:
        """The commands received, as ``VERB`` or ``VERB NOUN`` words."""
        return [" ".join(a.upper() for a in c[:2]) if c[0].upper() in _TWO_WORD else c[0].upper()
                for c in self.commands]


_TWO_WORD = {"SET", "GET", "STREAM", "WAIT", "RECORD", "SAY", "CHANNEL", "DATABASE"}


def ivr_call(server, keys, uniqueid: str, **caller):  # type: ignore[no-untyped-def]
    """One call of caller 13800000777 into the ``ivr`` route of ``server``, keys as :class:`FakeCaller` takes them."""
    return FakeAsterisk(server.port, agi_env(uniqueid=uniqueid, callerid="13800000777"),
                        FakeCaller(keys=keys, **caller)).run()
