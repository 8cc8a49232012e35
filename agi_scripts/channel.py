"""The one adapter over pyst2: an AGI session on a FastAGI socket, and a :class:`CallChannel` on it.

pyst2 0.5.1 is used for its command set, result parsing and exceptions, with its quirks worked
around here and nowhere else:

* ``AGI.__init__`` installs a SIGHUP handler (a ``ValueError`` outside the main thread) and echoes
  the whole environment to stderr: :class:`SafeAGI` does not call it; it reads the environment with
  a bounded parser of its own and sends pyst2's diagnostic writes to a null sink.
* pyst2 writes ``str`` and reads ``str`` or ``bytes``: the socket is wrapped as UTF-8 text, decoding
  with replacement so hostile caller ID bytes cannot crash the call.
* pyst2 quotes without escaping: every argument is framed by :mod:`agi_scripts.encoding`, and
  ``send_command`` refuses any line that is not exactly one safe command.
* Over FastAGI Asterisk reports a hangup as a bare ``HANGUP`` line and then answers ``511`` to
  commands: both become :class:`ivr.ports.CallerHungUp`.

A sound Asterisk cannot play on a live channel is :class:`PromptUnavailable`.  For prompts that have
a fallback (a catalogue name whose file was never rendered) the channel says the fallback instead
and remembers the gap for a while (:class:`PromptAvailability`), so a new sub-service never drops a call.

Every AGI command is a round trip, and between two commands Asterisk's AGI reads and drops the
caller's keys; under load a round trip takes hundreds of milliseconds.  So prompts Asterisk has
already played in this process are played together: a menu page with one ``Read()`` (keys interrupt
it, no gap between items), a ticket number with one ``Playback()``, the dialplan's variables with one
``MSet()``.  A prompt not yet played here goes alone, by ``STREAM FILE``/``GET DATA``, with its fallback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from asterisk.agi import AGI, AGIAppError, AGIError, AGIHangup, AGIUnknownError

from agi_scripts.encoding import UnsafeAgiArgument, encode_argument, encode_command
from ivr.ports import CallerHungUp, CallInfo, ChannelError, DigitInput, RecognitionStream

MAX_ENV_LINES = 200
# Commands whose -1 may mean "could not play/run" on a live channel rather than a hangup.
PROBED_ON_FAILURE = frozenset({"STREAM FILE", "GET DATA", "EXEC", "RECORD FILE"})
SOUND_COMMANDS = frozenset({"STREAM FILE", "GET DATA"})
MAX_LINE_CHARS = 8192
DIGITS = "0123456789*#"
READ_VARIABLE = "HOTLINE_READ"
READ_AFTER_PLAY_MS = 1  # play() with escape digits waits for no key after its last prompt
# MSet() splits on ',' and '=': values the dialplan gets in one command are kept to these characters.
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

log = logging.getLogger("hotline.agi")


class AgiEnvironment(dict[str, str]):
    """The ``agi_*`` variables Asterisk sends when the session starts."""

    @property
    def script(self) -> str:
        """The route name: ``agi_network_script`` without query string or slashes."""
        raw = self.get("agi_network_script", "")
        return raw.split("?", 1)[0].strip("/")

    def call_info(self) -> CallInfo:
        """The call's identity as the IVR sees it."""
        return CallInfo(
            uniqueid=self.get("agi_uniqueid", ""),
            linkedid=self.get("agi_linkedid", ""),
            caller_number=_unknown_as_empty(self.get("agi_callerid", "")),
            caller_name=_unknown_as_empty(self.get("agi_calleridname", "")),
            dialed_number=_unknown_as_empty(self.get("agi_dnid", "")),
            channel_name=self.get("agi_channel", ""),
            language=self.get("agi_language", "") or "zh",
            reached_at=dt.datetime.now(dt.UTC),
        )


def _unknown_as_empty(value: str) -> str:
    return "" if value == "unknown" else value


class PromptUnavailable(ChannelError):
    """Asterisk could not play a sound on a live channel (no file in the channel's language)."""


class PromptAvailability:
    """What this process has learnt about its prompts' sounds, shared by every call.

    A sound found missing: a later call says its fallback at once instead of asking Asterisk for the
    file again.  A sound Asterisk has played: a later call may play it in one command with others
    (:meth:`AgiChannel.play`), where Asterisk would skip a missing file silently.  Each entry is
    forgotten after ``ttl_seconds``, so a prompt rendered or removed later is noticed without a restart.
    """

    def __init__(self, ttl_seconds: float = 300.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._missing: dict[tuple[str, str], float] = {}
        self._present: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def add_missing(self, language: str, key: str) -> None:
        """Note that ``key`` has no sound in ``language`` (now)."""
        with self._lock:
            self._missing[(language, key)] = time.monotonic()
            self._present.pop((language, key), None)

    def add_present(self, language: str, key: str) -> None:
        """Note that Asterisk played ``key`` in ``language`` (now)."""
        with self._lock:
            self._present[(language, key)] = time.monotonic()
            self._missing.pop((language, key), None)

    def forget_present(self, language: str, keys: Sequence[str]) -> None:
        """Stop trusting ``keys`` until Asterisk plays them again one by one."""
        with self._lock:
            for key in keys:
                self._present.pop((language, key), None)

    def is_missing(self, language: str, key: str) -> bool:
        """Whether ``key`` was found missing in ``language`` within the last ``ttl_seconds``."""
        return self._fresh(self._missing, (language, key))

    def is_present(self, language: str, key: str) -> bool:
        """Whether Asterisk played ``key`` in ``language`` within the last ``ttl_seconds``."""
        return self._fresh(self._present, (language, key))

    def _fresh(self, entries: dict[tuple[str, str], float], entry: tuple[str, str]) -> bool:
        with self._lock:
            seen = entries.get(entry)
            if seen is not None and time.monotonic() - seen > self.ttl_seconds:
                del entries[entry]
                seen = None
            return seen is not None

    def missing(self) -> list[str]:
        """``language/key`` of every gap still remembered (for logs and tests)."""
        with self._lock:
            return sorted(f"{language}/{key}" for language, key in self._missing)


PromptFallback = Callable[[str], Sequence[str]]


def read_environment(reader: TextIO) -> AgiEnvironment:
    """Read the ``key: value`` lines up to the blank line; bounded in count and length."""
    env = AgiEnvironment()
    for _ in range(MAX_ENV_LINES):
        line = reader.readline(MAX_LINE_CHARS)
        if line == "":
            raise ChannelError("connection closed while reading the AGI environment")
        line = line.rstrip("\r\n")
        if not line:
            return env
        key, sep, value = line.partition(":")
        if sep and key.strip():
            env[key.strip()] = value.strip()
    raise ChannelError("AGI environment too long")


class _NullWriter(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


class SafeAGI(AGI):
    """pyst2's AGI without its constructor's side effects, over a text stream pair."""

    def __init__(self, reader: TextIO, writer: TextIO, env: AgiEnvironment,
                 on_command: Callable[[str, str, float], None] | None = None) -> None:
        # Deliberately not calling AGI.__init__: it installs a SIGHUP handler and dumps the env.
        self._raw_reader = reader
        self._pushback: str | None = None
        self.stdin = _PushbackReader(self)
        self.stdout = writer
        self.stderr = _NullWriter()
        self.env = env
        self._got_sighup = False
        self.hung_up = False
        self._on_command = on_command
        self._pending: str = ""
        self.last_result_line = ""  # pyst2 cannot parse "result= (timeout)": the raw line says it

    def close(self) -> None:
        """Close both streams (the socket's file descriptor is only released once they are)."""
        for stream in (self.stdout, self._raw_reader):
            with contextlib.suppress(OSError):
                stream.close()

    def _quote(self, string: Any) -> str:
        return encode_argument(string)

    def test_hangup(self) -> None:
        if self.hung_up:
            raise CallerHungUp("caller hung up")

    def send_command(self, command: str, *args: Any) -> None:
        """Send one command; the arguments must already be encoded (see :meth:`command`)."""
        line = " ".join([command.strip(), *map(str, args)]).strip()
        if any(c in line for c in "\r\n\0"):
            raise UnsafeAgiArgument("refusing an AGI line with CR, LF or NUL")
        self._pending = line
        try:
            self.stdout.write(line + "\n")
            self.stdout.flush()
        except OSError as exc:
            raise CallerHungUp(f"connection lost: {exc}") from exc

    def get_result(self, stdin: Any = None) -> dict[str, tuple[str, str]]:
        """Read the answer to the last command, skipping (and noting) asynchronous HANGUP lines."""
        while True:
            line = self._readline()
            if line.strip() == "HANGUP":
                self.hung_up = True
                continue
            if line.startswith("511"):
                self.hung_up = True
                raise CallerHungUp("command refused on a dead channel")
            self._pushback = line
            self.last_result_line = line.strip()
            return super().get_result()

    def _readline(self) -> str:
        try:
            line = self._raw_reader.readline(MAX_LINE_CHARS)
        except TimeoutError as exc:
            raise ChannelError("Asterisk did not answer in time") from exc
        except OSError as exc:
            raise CallerHungUp(f"connection lost: {exc}") from exc
        if line == "":
            self.hung_up = True
            raise CallerHungUp("connection closed by Asterisk")
        return line

    def _channel_alive(self) -> bool:
        """Ask Asterisk whether the channel is still up (after a command returned -1)."""
        if self.hung_up:
            return False
        try:
            self.send_command("CHANNEL STATUS")
            self.get_result()
        except (AGIError, CallerHungUp, ChannelError):
            return False
        return not self.hung_up

    def command(self, command: str, *arguments: object) -> tuple[str, str]:
        """Run one AGI command with encoded arguments; return ``(result, data)``."""
        self.test_hangup()
        encoded = encode_command(command, arguments)  # validates every argument
        started = time.monotonic()
        self.send_command(encoded.rstrip("\n"))
        try:
            result = self.get_result()
        except AGIHangup as exc:
            self.hung_up = True
            raise CallerHungUp(str(exc)) from exc
        except AGIAppError as exc:  # result=-1: failure, or hangup during the command
            if command in PROBED_ON_FAILURE and self._channel_alive():
                error = PromptUnavailable if command in SOUND_COMMANDS else ChannelError
                raise error(f"{command} failed on a live channel (missing sound file?): "
                            f"{self._pending}") from exc
            self.hung_up = True
            raise CallerHungUp(str(exc)) from exc
        except AGIUnknownError as exc:
            raise ChannelError(f"unexpected AGI answer to {command}: {exc}") from exc
        except AGIError as exc:
            raise ChannelError(f"AGI error on {command}: {exc}") from exc
        finally:
            if self._on_command is not None:
                self._on_command(command, self._pending, time.monotonic() - started)
        return result.get("result", ("", ""))


class _PushbackReader:
    """Lets :class:`SafeAGI` peek a line and hand it to pyst2's parser unchanged."""

    def __init__(self, owner: SafeAGI) -> None:
        self._owner = owner

    def readline(self, limit: int = -1) -> str:
        pending = self._owner._pushback
        if pending is not None:
            self._owner._pushback = None
            return pending
        return self._owner._readline()


def open_session(sock: socket.socket, timeout_seconds: float,
                 on_command: Callable[[str, str, float], None] | None = None) -> SafeAGI:
    """Wrap an accepted FastAGI socket: read the environment and return the AGI session."""
    sock.settimeout(timeout_seconds)
    reader = sock.makefile("r", encoding="utf-8", errors="replace", newline="\n")
    writer = sock.makefile("w", encoding="utf-8", newline="\n")
    try:
        env = read_environment(reader)
    except TimeoutError as exc:
        raise ChannelError("no AGI environment in time") from exc
    return SafeAGI(reader, writer, env, on_command)


def _digit_of(result: str) -> str:
    """An AGI result code as a DTMF digit ('' for 0 / no digit)."""
    try:
        code = int(result)
    except ValueError as exc:
        raise ChannelError(f"not a digit result: {result!r}") from exc
    if code <= 0:
        return ""
    char = chr(code)
    if char not in DIGITS:
        raise ChannelError(f"not a DTMF digit: {char!r}")
    return char


class AgiChannel:
    """:class:`ivr.ports.CallChannel` over a FastAGI session.

    Prompt keys are played as ``<sound_prefix>/<key>`` from the channel's language folder.  A key
    whose sound is missing is replaced by ``fallback(key)`` (tried in order) when it has one.
    """

    def __init__(self, session: SafeAGI, sound_prefix: str = "hotline",
                 listen_via: Callable[[AgiChannel, RecognitionStream, float], str] | None = None,
                 fallback: PromptFallback | None = None, prompts: PromptAvailability | None = None) -> None:
        self._session = session
        self._call = session.env.call_info()
        self._prefix = sound_prefix
        self._listen_via = listen_via
        self._fallback = fallback
        self._prompts = prompts if prompts is not None else PromptAvailability()
        self._language = self._call.language

    @property
    def call(self) -> CallInfo:
        return self._call

    @property
    def session(self) -> SafeAGI:
        """The underlying AGI session (for the speech capture helper)."""
        return self._session

    def _sound(self, key: str) -> str:
        if key.startswith("/") or ".." in key:
            raise UnsafeAgiArgument(f"not a prompt key: {key!r}")
        return f"{self._prefix}/{key}" if self._prefix else key

    def answer(self) -> None:
        self._session.command("ANSWER")

    def set_language(self, language: str) -> None:
        if language != self._session.env.get("agi_language"):  # the channel came in with it: no round trip
            self.set_variable("CHANNEL(language)", language)
        self._language = language

    def play(self, prompts: Sequence[str], escape_digits: str = "") -> str:
        together = self._playable_together(prompts) if escape_digits in ("", DIGITS) else None
        if together is not None:
            if not escape_digits:
                self._session.command("EXEC", "Playback", "&".join(map(self._sound, together)))
                return ""
            entry = self._read(together, 1, READ_AFTER_PLAY_MS)
            if entry is not None:
                return entry.digits or ("" if entry.timed_out else "#")
        for key in prompts:
            result, _ = self._with_fallback(key, lambda sound: self._session.command(
                "STREAM FILE", sound, escape_digits))
            digit = _digit_of(result)
            if digit:
                return digit
        return ""

    def _candidates(self, key: str) -> list[str]:
        """``key`` and its fallbacks, in order."""
        return [key, *(self._fallback(key) if self._fallback else ())]

    def _playable_together(self, keys: Sequence[str]) -> list[str] | None:
        """For several prompts, the key (or fallback) of each that Asterisk has played before; else None."""
        if len(keys) < 2:
            return None
        usable_keys = []
        for key in keys:
            usable = next((c for c in self._candidates(key) if not self._prompts.is_missing(self._language, c)), None)
            if usable is None or not self._prompts.is_present(self._language, usable):
                return None
            usable_keys.append(usable)
        return usable_keys

    def _read(self, keys: Sequence[str], max_digits: int, timeout_ms: int) -> DigitInput | None:
        """Play ``keys`` with one ``Read()`` that keys interrupt; None when a sound would not play.

        ``Read()`` ends on ``#`` without returning it (status OK, nothing read); its status and digits
        come back in one ``GET FULL VARIABLE``.
        """
        sounds = "&".join(map(self._sound, keys))
        options = ",".join([READ_VARIABLE, sounds, str(max_digits), "", "1",
                            f"{max(timeout_ms, 1) / 1000:.3f}"])
        self._session.command("EXEC", "Read", options)
        _, data = self._session.command("GET FULL VARIABLE", f"${{READSTATUS}}:${{{READ_VARIABLE}}}")
        status, _, value = data.partition(":")
        if status == "HANGUP":
            self._session.hung_up = True
            raise CallerHungUp("caller hung up during Read()")
        if status not in ("OK", "TIMEOUT"):
            log.warning("[%s] step=prompt_read status=%s sounds=%s", self._call.uniqueid, status or "-", sounds)
            self._prompts.forget_present(self._language, keys)
            return None
        return DigitInput("".join(c for c in value if c in DIGITS)[:max_digits], timed_out=status == "TIMEOUT")

    def _with_fallback(self, key: str, run: Callable[[str], tuple[str, str]]) -> tuple[str, str]:
        """Run a sound command on ``key``, or on its fallbacks when its sound is missing."""
        candidates = self._candidates(key)
        usable = [c for c in candidates if not self._prompts.is_missing(self._language, c)] or candidates[-1:]
        for number, candidate in enumerate(usable, start=1):
            try:
                answer = run(self._sound(candidate))
            except PromptUnavailable:
                if number == len(usable):
                    raise
                self._prompts.add_missing(self._language, candidate)
                log.warning("[%s] step=prompt_missing prompt=%s language=%s saying=%s",
                            self._call.uniqueid, candidate, self._language, usable[number])
                continue
            self._prompts.add_present(self._language, candidate)
            return answer
        raise AssertionError("unreachable")

    def collect_digits(self, prompts: Sequence[str], max_digits: int, timeout_ms: int) -> DigitInput:
        together = self._playable_together(prompts)
        entry = self._read(together, max_digits, timeout_ms) if together is not None else None
        if entry is not None:
            if max_digits == 1 and not entry.digits and not entry.timed_out:
                return DigitInput("#")  # Read() ends on '#' without returning it
            return entry
        first = self.play(prompts[:-1], DIGITS) if len(prompts) > 1 else ""
        if first:
            if max_digits == 1:
                return DigitInput(first)  # a menu key, '#' included (next page)
            if first == "#":
                return DigitInput("")
            more = self._get_data("silence", timeout_ms, max_digits - 1)
            return DigitInput(first + more.digits, more.timed_out)
        entry = self._get_data(prompts[-1] if prompts else "silence", timeout_ms, max_digits)
        if max_digits == 1 and not entry.digits and not entry.timed_out:
            return DigitInput("#")  # GET DATA ends on '#' without returning it: "result=" and no timeout
        return entry

    def _get_data(self, key: str, timeout_ms: int, max_digits: int) -> DigitInput:
        result, data = self._with_fallback(key, lambda sound: self._session.command(
            "GET DATA", sound, timeout_ms, max_digits))
        digits = "".join(c for c in result if c in DIGITS)
        timed_out = data == "timeout" or self._session.last_result_line.endswith("(timeout)")
        return DigitInput(digits, timed_out=timed_out)

    def wait_for_digit(self, timeout_ms: int) -> str:
        result, _ = self._session.command("WAIT FOR DIGIT", timeout_ms)
        return _digit_of(result)

    def listen(self, stream: RecognitionStream, max_seconds: float) -> str:
        if self._listen_via is None:
            raise ChannelError("speech capture is not configured")
        return self._listen_via(self, stream, max_seconds)

    def record(self, name: str, max_seconds: int) -> str | None:
        """Record into the dialplan's ``HOTLINE_RECORDINGS`` folder; the file name, or None.

        The folder is Asterisk's (the shared recordings directory, DESIGN.md §2), read from the
        channel so the IVR never assumes it shares a filesystem with Asterisk.
        """
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise UnsafeAgiArgument(f"not a recording name: {name!r}")
        folder = self.get_variable("HOTLINE_RECORDINGS")
        if not folder or not folder.startswith("/") or ".." in folder:
            return None
        result, _ = self._session.command("RECORD FILE", f"{folder.rstrip('/')}/{name}", "wav", "#",
                                          max_seconds * 1000, 0, "beep", "s=3")
        return f"{name}.wav" if result not in ("", "-1") else None

    def set_variable(self, name: str, value: str) -> None:
        self._session.command("SET VARIABLE", name, value)

    def set_variables(self, values: Mapping[str, str]) -> None:
        """Set several variables, in one ``MSet()`` when names and values are plain words."""
        if len(values) > 1 and all(set(k) <= _PLAIN and set(v) <= _PLAIN and k for k, v in values.items()):
            self._session.command("EXEC", "MSet", ",".join(f"{k}={v}" for k, v in values.items()))
            return
        for name, value in values.items():
            self.set_variable(name, value)

    def get_variable(self, name: str) -> str | None:
        """A channel variable's value, or None when it is not set."""
        result, data = self._session.command("GET VARIABLE", name)
        return data if result == "1" else None

    def exec_application(self, application: str, options: str) -> str:
        """Run a dialplan application (``EXEC``); its result code."""
        result, _ = self._session.command("EXEC", application, options)
        return result

    def verbose(self, message: str) -> None:
        """Write to Asterisk's console log (level 3)."""
        self._session.command("VERBOSE", message, 3)
