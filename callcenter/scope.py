"""Station scoping: a station sees its own and its descendants' objects; city level sees all."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.entities import Station
from models.enums import StationLevel


@dataclass(frozen=True)
class StationInfo:
    """A station as the console needs it (plain values, safe to share between threads)."""

    id: int
    code: str
    name_zh: str
    name_en: str
    level: StationLevel
    parent_id: int | None
    lat: float | None
    lon: float | None

    def name(self, language: str) -> str:
        """The station's name in the UI language."""
        return self.name_zh if language == "zh" else self.name_en


class StationTree:
    """The stations as a tree: descendants, ancestors, and the scope of a user's station."""

    def __init__(self, stations: list[StationInfo]) -> None:
        self.by_id = {s.id: s for s in stations}
        self._communities = [s for s in stations if s.level != StationLevel.CITY]
        self.children: dict[int, list[int]] = {}
        for station in stations:
            if station.parent_id is not None:
                self.children.setdefault(station.parent_id, []).append(station.id)

    @classmethod
    def load(cls, session: Session) -> StationTree:
        """Read every station."""
        rows = session.scalars(select(Station).order_by(Station.id))
        return cls([StationInfo(s.id, s.code, s.name_zh, s.name_en, StationLevel(s.level), s.parent_id,
                                s.lat, s.lon) for s in rows])

    def descendants_and_self(self, station_id: int) -> frozenset[int]:
        """The station and everything under it."""
        found: set[int] = set()
        todo = [station_id]
        while todo:
            current = todo.pop()
            if current in found:
                continue
            found.add(current)
            todo.extend(self.children.get(current, []))
        return frozenset(found)

    def ancestors_and_self(self, station_id: int | None) -> list[int]:
        """The station and its parents up to the city (empty for None)."""
        chain: list[int] = []
        current = station_id
        while current is not None and current in self.by_id and current not in chain:
            chain.append(current)
            current = self.by_id[current].parent_id
        return chain

    def scope_of(self, station_id: int) -> frozenset[int] | None:
        """The stations a user of ``station_id`` may see; None means all (city level)."""
        station = self.by_id.get(station_id)
        if station is None:
            return frozenset()
        if station.level == StationLevel.CITY:
            return None
        return self.descendants_and_self(station_id)

    def town_of(self, station_id: int | None) -> int | None:
        """The town (or the city) a station belongs to."""
        for candidate in self.ancestors_and_self(station_id):
            if self.by_id[candidate].level != StationLevel.COMMUNITY:
                return candidate
        return None

    def communities(self) -> list[StationInfo]:
        """Towns and communities in id order, for the address form (one list per tree: do not change it)."""
        return self._communities


class StationCache:
    """The tree, reloaded at most every ``ttl`` seconds (stations change rarely)."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._tree: StationTree | None = None
        self._loaded = 0.0
        self._lock = threading.Lock()

    def get(self, session: Session) -> StationTree:
        """The current tree."""
        with self._lock:
            if self._tree is None or time.monotonic() - self._loaded > self.ttl:
                self._tree = StationTree.load(session)
                self._loaded = time.monotonic()
            return self._tree


def in_scope(scope: frozenset[int] | None, station_id: int | None) -> bool:
    """Whether an object of ``station_id`` is visible in ``scope`` (unassigned objects: city only)."""
    if scope is None:
        return True
    return station_id is not None and station_id in scope
