"""From recognised words to a catalogue choice (or an emergency)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ivr.catalogue import Catalogue

EMERGENCY_WORDS: dict[str, tuple[str, ...]] = {
    "zh": ("救命", "紧急", "急救", "着火", "救火", "有人晕倒", "快来人"),
    "en": ("help me", "emergency", "fire", "ambulance"),
}


@dataclass(frozen=True)
class SpokenChoice:
    """What the caller's words select: a sub-service, a category, or an emergency."""

    category_code: str | None = None
    service_code: str | None = None
    emergency: bool = False
    phrase: str = ""


def _normalise(text: str) -> str:
    return "".join(text.lower().split())


def understand(text: str, catalogue: Catalogue, language: str,
               emergency_words: Sequence[str] | None = None) -> SpokenChoice | None:
    """The choice the words name; the longest matching keyword wins, sub-services over categories."""
    spoken = _normalise(text)
    if not spoken:
        return None
    words = EMERGENCY_WORDS.get(language, ()) if emergency_words is None else emergency_words
    for word in words:
        if _normalise(word) and _normalise(word) in spoken:
            return SpokenChoice(emergency=True, phrase=word)
    best: tuple[int, int, SpokenChoice] | None = None
    for category in catalogue.categories:
        candidates = [(1, kw, None) for kw in category.keywords.get(language, ())]
        candidates += [(2, kw, s.code) for s in category.services for kw in s.keywords.get(language, ())]
        for rank, keyword, service_code in candidates:
            key = _normalise(keyword)
            if key and key in spoken:
                score = (len(key), rank)
                if best is None or score > best[:2]:
                    best = (*score, SpokenChoice(category.code, service_code, phrase=keyword))
    return best[2] if best else None
