"""One database session per request (the view owns the transaction: it commits what it changes).

On SQLite the shared engine starts every transaction with ``BEGIN IMMEDIATE`` (the write lock),
which serialises even read-only requests; the console's GET requests (the live lists polled by
every open page) therefore use a second engine on the same file whose transactions are plain
deferred ``BEGIN``: under WAL they read concurrently with each other and with the one writer.

SQLite has one writer at a time, and a writer that finds the lock taken sleeps in SQLite's busy
handler in growing steps (up to 100 ms each), so under load writes waited seconds for a lock that
was free most of that time.  The write transactions of this process therefore queue for a
process-wide lock before their ``BEGIN IMMEDIATE`` and are woken in turn when the holder commits
or rolls back (other processes still meet SQLite's busy handler).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from models import make_engine, make_session_factory

EXTENSION = "hotline_sessions"
WRITE_LOCK_WAIT_SECONDS = 10.0  # as long as SQLite's busy timeout; then SQLite's own waiting applies
_serialised: weakref.WeakSet[Engine] = weakref.WeakSet()
READ_EXTENSION = "hotline_read_sessions"


def _sqlite_reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _deferred_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def serialise_sqlite_writers(engine: Engine) -> None:
    """Make the write transactions on ``engine`` (SQLite) queue for one lock in this process."""
    if engine.dialect.name != "sqlite" or engine in _serialised:
        return
    lock = threading.Lock()

    def take(conn: Connection) -> None:
        if lock.acquire(timeout=WRITE_LOCK_WAIT_SECONDS):
            conn.info["hotline_write_lock"] = True

    def give_back(conn: Connection) -> None:
        if conn.info.pop("hotline_write_lock", False):
            lock.release()

    event.listen(engine, "begin", take, insert=True)  # before the BEGIN IMMEDIATE listener
    event.listen(engine, "commit", give_back)
    event.listen(engine, "rollback", give_back)
    _serialised.add(engine)


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
    bind = factory.kw.get("bind")
    if isinstance(bind, Engine):
        serialise_sqlite_writers(bind)
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
