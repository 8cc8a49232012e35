"""Who is asking: logins as server-side session rows, roles, station scope and the route guard.

Every route needs a login unless its view is marked :func:`public`; each blueprint adds the roles
it serves with :func:`allow_roles`.  The cookie carries only a random session id (Flask-Login's
user id is that id), so logout revokes it for every process and a replayed cookie is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_login import LoginManager, UserMixin, current_user
from werkzeug.wrappers import Response

from callcenter.db import read_db
from callcenter.scope import StationCache, StationTree
from models.console import live_session_user
from models.entities import User
from models.enums import Role

F = TypeVar("F", bound=Callable[..., Any])
CONSOLE_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)


@dataclass
class ConsoleUser(UserMixin):  # type: ignore[misc]
    """The logged-in account, detached from the database session."""

    id: int
    username: str
    display_name: str
    role: Role
    station_id: int
    worker_id: int | None
    seat: str | None
    language: str
    session_id: str
    scope: frozenset[int] | None  # None: every station (city level)

    def get_id(self) -> str:
        """Flask-Login's id is the web session's id, not the account's."""
        return self.session_id

    def has_role(self, *roles: Role) -> bool:
        """Whether the account has one of ``roles``."""
        return self.role in roles

    @property
    def actor(self) -> str:
        """The timeline actor string."""
        return f"user:{self.id}"


def station_tree() -> StationTree:
    """The cached station tree."""
    cache: StationCache = current_app.extensions["hotline_stations"]
    return cache.get(read_db())


def console_user(user: User, session_id: str) -> ConsoleUser:
    """The request's view of an account."""
    return ConsoleUser(id=user.id, username=user.username, display_name=user.display_name, role=Role(user.role),
                       station_id=user.station_id, worker_id=user.worker_id, seat=user.seat,
                       language=user.language or "zh", session_id=session_id,
                       scope=station_tree().scope_of(user.station_id))


def _load_user(session_id: str) -> ConsoleUser | None:
    # A read: a POST's write transaction (SQLite's one writer) starts only when its view writes.
    user = live_session_user(read_db(), session_id)
    return console_user(user, session_id) if user is not None else None


def public(view: F) -> F:
    """Mark a view as reachable without a login."""
    view._public = True  # type: ignore[attr-defined]
    return view


def wants_json() -> bool:
    """Whether the client asked for JSON (the API, fetch calls)."""
    return request.path.startswith(("/api/", "/open311/")) or request.accept_mimetypes.best == "application/json"


def _require_login() -> Response | None:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "_public", False) or request.endpoint == "static":
        return None
    if current_user.is_authenticated:
        return None
    if wants_json() or request.headers.get("HX-Request") or request.method != "GET":
        abort(401)
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def allow_roles(blueprint: Blueprint, *roles: Role) -> None:
    """Refuse (403) every route of ``blueprint`` to accounts without one of ``roles``."""

    def guard() -> None:
        view = current_app.view_functions.get(request.endpoint or "")
        if view is not None and getattr(view, "_public", False):
            return
        if not current_user.is_authenticated:
            abort(401)
        if current_user.role not in roles:
            abort(403)

    blueprint.before_request(guard)


def require_role(*roles: Role) -> None:
    """Refuse (403) the current request unless the account has one of ``roles``."""
    if current_user.role not in roles:
        abort(403)


def init_security(app: Flask) -> None:
    """Flask-Login with server-side session rows, and the login-required guard on every route."""
    app.extensions["hotline_stations"] = StationCache()
    manager = LoginManager()
    manager.login_view = "auth.login"
    manager.session_protection = None  # the session row is the protection; ids are never reused
    manager.user_loader(_load_user)
    manager.init_app(app)
    app.before_request(_require_login)
