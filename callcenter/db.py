"""One database session per request (the view owns the transaction: it commits what it changes).

On SQLite the shared engine starts every transaction with ``BEGIN IMMEDIATE`` (the write lock),
which serialises even read-only requests; the console's GET requests (the live lists polled by
every open page) therefore use a second engine on the same file whose transactions are plain
deferred ``BEGIN``: under WAL they read concurrently with each other and with the one writer.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from models import make_engine, make_session_factory

EXTENSION = "hotline_sessions"
READ_EXTENSION = "hotline_read_sessions"


def _sqlite_reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _deferred_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def read_sessions_for(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for read-only requests: the same factory, or deferred transactions on SQLite."""
    bind = factory.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return factory
    engine = create_engine(bind.url, connect_args={"timeout": 10, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_reader_pragmas)
    event.listen(engine, "begin", _deferred_begin)
    return make_session_factory(engine)


def init_db(app: Flask) -> None:
    """Attach the session factories (given, or built from DATABASE_URL) and the teardown."""
    factory = app.config.get("SESSION_FACTORY")
    if factory is None:
        factory = make_session_factory(make_engine(app.config["DATABASE_URL"]))
    app.extensions[EXTENSION] = factory
    app.extensions[READ_EXTENSION] = read_sessions_for(factory)
    app.teardown_appcontext(_close_session)


def sessions() -> sessionmaker[Session]:
    """The app's session factory (for background work outside a request)."""
    factory: sessionmaker[Session] = current_app.extensions[EXTENSION]
    return factory


def db() -> Session:
    """The request's session, opened on first use (read-only requests read without the write lock)."""
    if "db_session" not in g:
        kind = READ_EXTENSION if request and request.method in ("GET", "HEAD") else EXTENSION
        g.db_session = current_app.extensions[kind]()
    session: Session = g.db_session
    return session


def read_db() -> Session:
    """A read-only session for a check that usually finds nothing to write (e.g. a poll)."""
    if "read_session" not in g:
        g.read_session = current_app.extensions[READ_EXTENSION]()
    session: Session = g.read_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    for name in ("db_session", "read_session"):
        session = g.pop(name, None)
        if session is not None:
            session.rollback()
            session.close()
