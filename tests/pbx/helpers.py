"""Small helpers of the PBX tests: sound files, record lookups, polling."""

from __future__ import annotations

import math
import struct
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def tone_wav(path: Path, seconds: float = 2.0, frequency: float = 440.0) -> Path:
    """An 8 kHz mono 16-bit WAV with a tone (the caller 'speaks' it)."""
    rate = 8000
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * n / rate)))
                      for n in range(int(rate * seconds)))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


def eventually(probe: Callable[[], T | None], timeout: float = 5.0, interval: float = 0.1) -> T:
    """The first truthy value ``probe`` returns within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
