"""The service catalogue as the IVR sees it: plain values built from the ticket store.

An adapter reads ``models`` (categories and sub-services in menu order) into these classes; the
IVR builds its menus, prompts and speech grammar from them, so a new sub-service in the database
changes the IVR without a code change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MenuService:
    """A sub-service (e.g. 下水道疏通) as offered on the phone."""

    code: str
    names: Mapping[str, str]  # language -> name
    keywords: Mapping[str, Sequence[str]] = field(default_factory=dict)  # language -> phrases

    def name(self, language: str) -> str:
        """The name in ``language`` (falling back to Mandarin)."""
        return self.names.get(language) or self.names.get("zh") or self.code


@dataclass(frozen=True)
class MenuCategory:
    """A service category (e.g. 管道疏通) with its sub-services in keypad order."""

    code: str
    names: Mapping[str, str]
    services: Sequence[MenuService] = ()
    keywords: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def name(self, language: str) -> str:
        """The name in ``language`` (falling back to Mandarin)."""
        return self.names.get(language) or self.names.get("zh") or self.code


@dataclass(frozen=True)
class Catalogue:
    """The categories in main-menu order."""

    categories: Sequence[MenuCategory]

    def category(self, code: str) -> MenuCategory:
        """The category with this code (KeyError if unknown)."""
        for category in self.categories:
            if category.code == code:
                return category
        raise KeyError(code)

    def service(self, code: str) -> tuple[MenuCategory, MenuService]:
        """The sub-service with this code and its category (KeyError if unknown)."""
        for category in self.categories:
            for service in category.services:
                if service.code == code:
                    return category, service
        raise KeyError(code)

    def phrases(self, language: str) -> list[str]:
        """Every keyword phrase of the catalogue in ``language`` (the speech grammar), deduplicated."""
        seen: dict[str, None] = {}
        for category in self.categories:
            for phrase in category.keywords.get(language, ()):
                seen.setdefault(phrase, None)
            for service in category.services:
                for phrase in service.keywords.get(language, ()):
                    seen.setdefault(phrase, None)
        return list(seen)


def category_from_values(code: str, names: Mapping[str, str], keywords: Mapping[str, Iterable[str]],
                         services: Iterable[MenuService]) -> MenuCategory:
    """A category from plain values (used by the ``models`` adapter and tests)."""
    return MenuCategory(code=code, names=dict(names), services=tuple(services),
                        keywords={k: tuple(v) for k, v in keywords.items()})


def with_keywords(catalogue: Catalogue, language: str, phrases: Mapping[str, Sequence[str]]) -> Catalogue:
    """A copy with extra speech phrases in ``language`` for category or sub-service codes."""

    def extend(keywords: Mapping[str, Sequence[str]], code: str) -> dict[str, Sequence[str]]:
        merged = dict(keywords)
        if code in phrases:
            merged[language] = (*merged.get(language, ()), *phrases[code])
        return merged

    return Catalogue(tuple(
        MenuCategory(code=c.code, names=c.names, keywords=extend(c.keywords, c.code),
                     services=tuple(MenuService(s.code, s.names, extend(s.keywords, s.code))
                                    for s in c.services))
        for c in catalogue.categories))
