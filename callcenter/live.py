"""The workspace's one live poll: a version per part, nothing sent when nothing changed.

The agent workspace shows five live parts (my state, waiting calls, waiting tickets, my tickets,
tickets out with providers).  Instead of one request per part, the page polls one URL with the
version of each part it shows; the answer is ``204 No Content`` (no DOM work in the browser)
when every part is unchanged, otherwise htmx out-of-band swaps of just the changed parts and
their new versions.

A part's version is a hash of a light column-only query over exactly the rows the part would
show (same conditions, order and limit as the full list), so it is exact: a claim taken, a
lease expiring, a status change or an edit all change it.  Rendered parts are cached by
(part, version, language, role) for a short time, so when one ticket changes the list is
rendered once for every agent of the same stations rather than once per agent.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, render_template
from markupsafe import Markup
from sqlalchemy import Select, inspect, select
from sqlalchemy.orm import Session

from callcenter.i18n import current_language
from callcenter.security import ConsoleUser
from callcenter.telephony import telephony
from callcenter.workflow import active_query, active_tickets, my_query, my_tickets, waiting_query, waiting_tickets
from models.base import utcnow
from models.console import AgentState, agent_state
from models.entities import Ticket

T = TypeVar("T")

EXTENSION = "hotline_live_cache"
SHARED_EXTENSION = "hotline_live_versions"
CACHE_SECONDS = 30.0  # bounds how long a renamed service keeps its old name in a cached list
CACHE_SIZE = 512
@dataclass(frozen=True)
class Part:
    """One live part of the workspace: its DOM id, how to version it and how to render it."""

    name: str
    dom_id: str
    version: Callable[[Session, ConsoleUser], str] | None  # None: one of the ticket lists (see list_versions)
    render: Callable[[Session, ConsoleUser], str]
    shared: bool = True  # the same rows render the same for every user (cacheable across users)


class RenderCache:
    """A small thread-safe LRU of rendered parts with a time limit."""

    def __init__(self, size: int = CACHE_SIZE, seconds: float = CACHE_SECONDS) -> None:
        self.size, self.seconds = size, seconds
        self._items: OrderedDict[tuple[str, ...], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_render(self, key: tuple[str, ...], render: Callable[[], str]) -> str:
        """The cached text for ``key``, or ``render()`` stored under it."""
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
            if found is not None and now - found[0] < self.seconds:
                self._items.move_to_end(key)
                return found[1]
        text = render()
        with self._lock:
            self._items[key] = (now, text)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return text


def digest(values: Iterable[Any]) -> str:
    """A short stable hash of some values."""
    return hashlib.blake2b(repr(list(values)).encode("utf-8"), digest_size=8).hexdigest()


def _rows_version(session: Session, stmt: Select[Any]) -> str:
    """Which tickets a list holds and when each last changed.

    Every change a list shows (status, priority, service, texts, a claim taken or released) is a
    timeline event, which sets ``updated_at``; a ticket entering or leaving the list (a claim
    expiring included) changes the ids.
    """
    return digest(tuple(row) for row in session.execute(stmt.with_only_columns(Ticket.id, Ticket.updated_at)))


class SharedVersions:
    """Versions of the lists every agent of the same stations sees, computed at most every ``ttl`` s.

    Fifty agents of one centre polling the same waiting list then cost one light query per
    ``ttl`` instead of one per poll; ``ttl`` is a small part of the 2 s live-update promise.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[tuple[int, ...] | None, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, user: ConsoleUser) -> dict[str, str]:
        """The versions of the waiting and active lists for the user's stations."""
        key = None if user.scope is None else tuple(sorted(user.scope))
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
        if found is not None and now - found[0] < self.ttl:
            return found[1]
        versions = {"waiting": _rows_version(session, waiting_query(user, utcnow())),
                    "active": _rows_version(session, active_query(user))}
        with self._lock:
            if len(self._items) > CACHE_SIZE:
                self._items.clear()
            self._items[key] = (now, versions)
        return versions


def list_versions(session: Session, user: ConsoleUser) -> dict[str, str]:
    """The versions of the three ticket lists (the shared two from a short per-process cache)."""
    shared = _extension(SHARED_EXTENSION, lambda: SharedVersions(float(current_app.config["LIVE_SHARED_SECONDS"])))
    versions = dict(shared.get(session, user))
    versions["mine"] = _rows_version(session, my_query(user, utcnow()))
    return versions


def _state_version(session: Session, user: ConsoleUser) -> str:
    row = session.execute(select(AgentState.state, AgentState.reason, AgentState.since)
                          .where(AgentState.user_id == user.id)).first()
    return digest(tuple(row) if row else ())


def state_version_of(state: AgentState) -> str:
    """The version of a state the page already loaded (the same as the poll computes for it)."""
    return digest((state.state, state.reason, state.since) if inspect(state).has_identity else ())


def _queues_version(_session: Session, _user: ConsoleUser) -> str:
    phone = telephony()
    snapshot = phone.waiting_calls()
    return digest([phone.connected, *((name, [c.as_dict() for c in calls]) for name, calls in
                                      sorted(snapshot.items()))])


def _render_tickets(kind: str, load: Callable[[Session, ConsoleUser], list[Ticket]]) -> Callable[..., str]:
    def render(session: Session, user: ConsoleUser) -> str:
        return render_template("agent/_tickets.html", tickets=load(session, user), kind=kind)

    return render


def _render_state(session: Session, user: ConsoleUser) -> str:
    return render_template("agent/_state.html", state=agent_state(session, user.id), message=None)


def _render_queues(_session: Session, _user: ConsoleUser) -> str:
    return render_template("agent/_queues.html", queues=telephony().waiting_calls(),
                           connected=telephony().connected)


PARTS: tuple[Part, ...] = (
    Part("state", "agent-state", _state_version, _render_state, shared=False),
    Part("queues", "queues", _queues_version, _render_queues),
    Part("waiting", "waiting", None, _render_tickets("waiting", waiting_tickets)),
    Part("mine", "mine", None, _render_tickets("mine", my_tickets), shared=False),
    Part("active", "active", None, _render_tickets("active", active_tickets)),
)


@dataclass(frozen=True)
class Changed:
    """A part whose version differs from what the page shows, rendered."""

    name: str
    dom_id: str
    version: str
    html: Markup


def _extension(name: str, make: Callable[[], T]) -> T:
    """A per-app helper object, made on first use."""
    found: T | None = current_app.extensions.get(name)
    if found is None:
        found = current_app.extensions.setdefault(name, make())
    return found


def _cache() -> RenderCache:
    return _extension(EXTENSION, RenderCache)


def changed_parts(session: Session, user: ConsoleUser, shown: dict[str, str]) -> list[Changed]:
    """The parts whose current version is not the one in ``shown`` (part name → version)."""
    found: list[Changed] = []
    lists = list_versions(session, user)
    for part in PARTS:
        version = part.version(session, user) if part.version is not None else lists[part.name]
        if shown.get(part.name) == version:
            continue
        owner = "*" if part.shared else str(user.id)
        key = (part.name, version, current_language(), str(user.role), owner)
        html = _cache().get_or_render(key, lambda p=part: p.render(session, user))  # type: ignore[misc]
        found.append(Changed(part.name, part.dom_id, version, Markup(html)))  # our own autoescaped render
    return found


def state_version(session: Session, user: ConsoleUser) -> str:
    """The version of the user's state part (sent with a state change so the poll does not redo it)."""
    return _state_version(session, user)
