"""The service catalogue as form choices, read once every half minute per process.

Every ticket page and the workspace offer the whole catalogue (14 categories, 126 services) in a
select; loading it through the ORM on every page was a large share of their cost.  The snapshot
holds plain values only (no ORM objects shared between threads); a catalogue change reaches the
forms within :data:`TTL_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session

from models.catalogue import active_categories

EXTENSION = "hotline_catalogue_choices"
TTL_SECONDS = 30.0


@dataclass(frozen=True)
class ServiceChoice:
    """A sub-service as a form option."""

    id: int
    code: str
    name_zh: str
    name_en: str
    retired: bool


@dataclass(frozen=True)
class CategoryChoice:
    """A category and its services as an option group."""

    id: int
    code: str
    name_zh: str
    name_en: str
    sub_services: tuple[ServiceChoice, ...]


def load_choices(session: Session) -> tuple[CategoryChoice, ...]:
    """The active catalogue as plain values, in menu order."""
    return tuple(
        CategoryChoice(c.id, c.code, c.name_zh, c.name_en, tuple(
            ServiceChoice(s.id, s.code, s.name_zh, s.name_en, s.retired) for s in c.sub_services))
        for c in active_categories(session))


class ChoicesCache:
    """The snapshot and when it was read."""

    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self._value: tuple[float, tuple[CategoryChoice, ...]] | None = None
        self._lock = threading.Lock()

    def get(self, session: Session) -> tuple[CategoryChoice, ...]:
        """The snapshot, read again when older than ``ttl``."""
        with self._lock:
            found = self._value
        if found is not None and time.monotonic() - found[0] < self.ttl:
            return found[1]
        value = load_choices(session)
        with self._lock:
            self._value = (time.monotonic(), value)
        return value


def catalogue_choices(session: Session) -> tuple[CategoryChoice, ...]:
    """The app's cached catalogue choices."""
    cache: ChoicesCache | None = current_app.extensions.get(EXTENSION)
    if cache is None:
        cache = current_app.extensions.setdefault(EXTENSION, ChoicesCache())
    return cache.get(session)
