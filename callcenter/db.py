"""One database session per request (the view owns the transaction: it commits what it changes).

On SQLite the shared engine starts every transaction with ``BEGIN IMMEDIATE`` (the write lock),
which serialises even read-only requests; the console's GET requests (the live lists polled by
every open page) and a POST's lookups before it writes therefore use a second engine on the same
file whose transactions are plain deferred ``BEGIN``: under WAL they read concurrently with each
other and with the one writer.

Write transactions on SQLite queue before their ``BEGIN IMMEDIATE`` (:mod:`models.writers`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from models import make_engine, make_session_factory
from models.readers import read_sessions_for
from models.writers import serialise_sqlite_writers

log = logging.getLogger("hotline.web")
EXTENSION = "hotline_sessions"
READ_EXTENSION = "hotline_read_sessions"
READS_IN_WRITES = "hotline_reads_in_writes"
PLAIN_READ_EXTENSION = "hotline_plain_read_sessions"
F = TypeVar("F", bound=Callable[..., Any])


def plain_read_sessions_for(factory: sessionmaker[Session]) -> sessionmaker[Session] | None:
    """Autocommit sessions for the views marked :func:`plain_reads` (PostgreSQL); None on SQLite."""
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine) or bind.dialect.name == "sqlite":
        return None
    return sessionmaker(bind.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


def plain_reads(view: F) -> F:
    """Mark a GET view whose reads need no transaction: on PostgreSQL they run in autocommit.

    For the console's hot read-only views (the live poll, the workspace, the ticket page, the
    candidates): each request then saves the ``BEGIN`` and ``ROLLBACK`` round trips, a third of
    a poll's.  Under READ COMMITTED every statement sees the latest commits either way, so the
    page shows the same.  Not for views that write or stream (server-side cursors need a
    transaction); SQLite keeps its one deferred transaction per request (one snapshot).
    """
    view._plain_reads = True  # type: ignore[attr-defined]
    return view


def _plain_reads_view() -> bool:
    if current_app.extensions.get(PLAIN_READ_EXTENSION) is None:
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "_plain_reads", False))


def init_db(app: Flask) -> None:
    """Attach the session factories (given, or built from DATABASE_URL) and the teardown."""
    factory = app.config.get("SESSION_FACTORY")
    if factory is None:
        factory = make_session_factory(make_engine(app.config["DATABASE_URL"]))
    bind = factory.kw.get("bind")
    if isinstance(bind, Engine):
        serialise_sqlite_writers(bind)
    app.extensions[EXTENSION] = factory
    app.extensions[READ_EXTENSION] = read_sessions_for(factory)
    app.extensions[PLAIN_READ_EXTENSION] = plain_read_sessions_for(factory)
    # Where a writing transaction reads as cheaply as a reader (no write lock to take early), a
    # POST reads through its writing session: one connection, and rows read are row-locked.
    app.extensions[READS_IN_WRITES] = not (isinstance(bind, Engine) and bind.dialect.name == "sqlite")
    app.teardown_appcontext(_close_session)


def sessions() -> sessionmaker[Session]:
    """The app's session factory (for background work outside a request)."""
    factory: sessionmaker[Session] = current_app.extensions[EXTENSION]
    return factory


def _request_session(name: str, extension: str) -> Session:
    if name not in g:
        setattr(g, name, current_app.extensions[extension]())
    session: Session = getattr(g, name)
    return session


def db() -> Session:
    """The request's session, opened on first use (read-only requests read without the write lock)."""
    if request and request.method in ("GET", "HEAD"):
        return read_db()
    return _request_session("db_session", EXTENSION)


def read_db() -> Session:
    """A session for reading: a GET request's only session, a POST's lookups before it writes.

    On SQLite it reads without the write lock (a POST writes through :func:`db`, a separate
    session); on PostgreSQL a POST reads through its writing session, so a request holds one
    pooled connection and the rows it reads ``FOR UPDATE`` stay locked until it commits.
    """
    if request and request.method not in ("GET", "HEAD") and current_app.extensions[READS_IN_WRITES]:
        return _request_session("db_session", EXTENSION)
    if request and request.method in ("GET", "HEAD") and _plain_reads_view():
        return _request_session("read_session", PLAIN_READ_EXTENSION)
    return _request_session("read_session", READ_EXTENSION)


def _close_session(_exc: BaseException | None) -> None:
    for name in ("db_session", "read_session"):
        session = g.pop(name, None)
        if session is not None:
            session.rollback()
            session.close()
