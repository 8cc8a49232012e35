"""The service catalogue and the stations as form choices, read and rendered once per snapshot.

Every ticket page and the workspace offer the whole catalogue (14 categories, 126 services) and
every community in selects; loading the catalogue through the ORM on every page was a large
share of their cost, and rendering the ~250 options through Jinja the next largest.  The
snapshot holds plain values only (no ORM objects shared between threads); a catalogue change
reaches the forms within :data:`TTL_SECONDS`.  The options are escaped and joined once per
snapshot, language and station scope (:func:`service_options`, :func:`station_options`); a
page only marks its ticket's choice ``selected``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask import Flask, current_app
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from callcenter.i18n import current_language
from callcenter.scope import StationInfo
from models.catalogue import active_categories
from models.enums import StationLevel

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


# --- options rendered once per snapshot ----------------------------------------------------------

# (value id or None for a group label, text before " selected", text after); one list per key.
Pieces = list[tuple[int | None, str, str]]
_RENDERED: dict[tuple[int, str, frozenset[int] | None], tuple[object, Pieces]] = {}
_RENDERED_LOCK = threading.Lock()
RENDERED_KEEP = 32  # snapshots × languages × scopes kept; older ones are dropped


def _pieces(source: object, language: str, scope: frozenset[int] | None, build: Callable[[], Pieces]) -> Pieces:
    """The pieces of ``source`` (a snapshot, kept referenced so its id is not reused) for the key."""
    key = (id(source), language, scope)
    with _RENDERED_LOCK:
        found = _RENDERED.get(key)
    if found is not None and found[0] is source:
        return found[1]
    pieces = build()
    with _RENDERED_LOCK:
        if len(_RENDERED) >= RENDERED_KEEP:
            _RENDERED.clear()
        _RENDERED[key] = (source, pieces)
    return pieces


def _join(pieces: Pieces, selected: int | None) -> Markup:
    return Markup("".join(head + (" selected" if value is not None and value == selected else "") + tail
                          for value, head, tail in pieces))


def service_options(categories: tuple[CategoryChoice, ...], selected_id: int | None = None) -> Markup:
    """The catalogue's ``<optgroup>``/``<option>`` elements (retired services left out), one selected."""
    language = current_language()

    def build() -> Pieces:
        pieces: Pieces = []
        for category in categories:
            name = category.name_zh if language == "zh" else category.name_en
            pieces.append((None, f'<optgroup label="{escape(name)}">', ""))
            for sub in category.sub_services:
                if not sub.retired:
                    label = sub.name_zh if language == "zh" else sub.name_en
                    pieces.append((sub.id, f'<option value="{escape(sub.code)}"', f">{escape(label)}</option>"))
            pieces.append((None, "</optgroup>", ""))
        return pieces

    return _join(_pieces(categories, language, None, build), selected_id)


def station_options(stations: Sequence[StationInfo], selected_id: int | None = None) -> Markup:
    """The towns and communities the user may choose (their scope) as ``<option>`` elements."""
    language = current_language()
    scope: frozenset[int] | None = current_user.scope

    def build() -> Pieces:
        return [(station.id,
                 f'<option value="{station.id}" data-lat="{escape(station.lat)}" data-lon="{escape(station.lon)}"',
                 f">{'· ' if station.level == StationLevel.COMMUNITY else ''}{escape(station.name(language))}</option>")
                for station in stations if scope is None or station.id in scope]

    return _join(_pieces(stations, language, scope, build), selected_id)


def init_choices(app: Flask) -> None:
    """The option helpers for the templates."""
    app.jinja_env.globals.update(service_options=service_options, station_options=station_options)
