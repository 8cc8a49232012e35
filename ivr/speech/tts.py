"""Prompt rendering with pyttsx3 driving espeak-ng, resampled to 8 kHz mono 16-bit WAV."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import tempfile
import threading
import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SAMPLE_RATE = 8000
# espeak-ng voices by prompt language ("cmn" is Mandarin).
DEFAULT_VOICES: Mapping[str, str] = {"zh": "cmn", "en": "en", "ko": "ko"}


class RenderError(RuntimeError):
    """A prompt could not be rendered (no engine, no voice, converter failed)."""


def write_silence(target: Path, seconds: float = 0.3) -> None:
    """An 8 kHz silent WAV (the ``silence`` prompt)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(b"\0\0" * int(SAMPLE_RATE * seconds))


def is_telephone_wav(path: Path) -> bool:
    """Whether a file is 8 kHz mono 16-bit PCM WAV (what the prompts must be)."""
    try:
        with wave.open(str(path), "rb") as audio:
            return (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (SAMPLE_RATE, 1, 2)
    except (wave.Error, EOFError, OSError):
        return False


def to_telephone_wav(source: Path, target: Path, sox: str = "sox") -> None:
    """Resample any WAV to 8 kHz mono 16-bit with sox."""
    if shutil.which(sox) is None:
        raise RenderError("sox is not installed (Debian package 'sox')")
    target.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sox, str(source), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed",
                             str(target)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(f"sox failed on {source.name}: {result.stderr.strip()}")


class Pyttsx3Synthesizer:
    """:class:`ivr.ports.Synthesizer` over pyttsx3's espeak driver (one engine, used serially)."""

    engine_id = "pyttsx3-espeak-ng-v1"

    def __init__(self, voices: Mapping[str, str] | None = None, rate: int = 150) -> None:
        self.voices = dict(DEFAULT_VOICES if voices is None else voices)
        self.rate = rate
        self._engine: Any = None
        self._voice_ids: dict[str, str] = {}
        self._current_voice = ""
        self._lock = threading.Lock()

    def _engine_for(self, language: str) -> Any:
        if self._engine is None:
            try:
                import pyttsx3
            except ImportError as exc:
                raise RenderError("pyttsx3 is not installed (pip install '.[speech]')") from exc
            try:
                self._engine = pyttsx3.init("espeak")
            except Exception as exc:
                raise RenderError(f"espeak-ng is not usable (Debian package 'espeak-ng'): {exc}") from exc
            self._engine.setProperty("rate", self.rate)
            for voice in self._engine.getProperty("voices"):
                self._voice_ids.setdefault(str(voice.id).rsplit("/", 1)[-1], voice.id)
                for code in voice.languages or ():
                    code = code.decode() if isinstance(code, bytes) else str(code)
                    self._voice_ids.setdefault(code.lstrip("\x05"), voice.id)
        wanted = self.voices.get(language, language)
        voice_id = self._voice_ids.get(wanted)
        if voice_id is None:
            raise RenderError(f"espeak-ng has no voice {wanted!r} for prompts in {language!r}")
        if voice_id != self._current_voice:
            self._engine.setProperty("voice", voice_id)
            self._current_voice = voice_id
        return self._engine

    def render(self, text: str, language: str, target: str) -> None:
        """Render ``text`` to the 8 kHz WAV ``target``."""
        if not text.strip():
            write_silence(Path(target))
            return
        with self._lock, tempfile.TemporaryDirectory(prefix="prompt-") as tmp:
            raw = Path(tmp) / "raw.wav"
            engine = self._engine_for(language)
            for _ in range(3):  # pyttsx3's espeak loop sometimes returns before the file is written
                with contextlib.redirect_stdout(io.StringIO()):  # it prints "Audio saved to ..."
                    engine.save_to_file(text, str(raw))
                    engine.runAndWait()
                if raw.exists() and raw.stat().st_size > 44:
                    break
            if not raw.exists() or raw.stat().st_size <= 44:
                raise RenderError(f"espeak-ng produced no audio for {text[:30]!r}")
            to_telephone_wav(raw, Path(target))
