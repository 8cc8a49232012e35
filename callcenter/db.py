"""One database session per request (the view owns the transaction: it commits what it changes).

On SQLite the shared engine starts every transaction with ``BEGIN IMMEDIATE`` (the write lock),
which serialises even read-only requests; the console's GET requests (the live lists polled by
every open page) and a POST's lookups before it writes therefore use a second engine on the same
file whose transactions are plain deferred ``BEGIN``: under WAL they read concurrently with each
other and with the one writer.

SQLite has one writer at a time, and a writer that finds the lock taken sleeps in SQLite's busy
handler in growing steps (up to 100 ms each), so under load writes waited seconds for a lock that
was free most of that time.  The write transactions of this process therefore queue for a
process-wide lock, then a lock file shared by this host's web processes, before their
``BEGIN IMMEDIATE``, and are woken in turn when the holder's commit or rollback is done (other
programs on the file, e.g. ``hotline agi``, still meet SQLite's busy handler).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from models import make_engine, make_session_factory

log = logging.getLogger("hotline.web")
EXTENSION = "hotline_sessions"
WRITE_LOCK_WAIT_SECONDS = 10.0  # as long as SQLite's busy timeout; then SQLite's own waiting applies
_serialised: weakref.WeakSet[Engine] = weakref.WeakSet()
READ_EXTENSION = "hotline_read_sessions"
READS_IN_WRITES = "hotline_reads_in_writes"
PLAIN_READ_EXTENSION = "hotline_plain_read_sessions"
F = TypeVar("F", bound=Callable[..., Any])


def _sqlite_reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _deferred_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


class _LockFile:
    """An exclusive ``flock`` on a file beside the database: the writers' queue across this host's processes.

    ``hotline web --workers N`` runs several processes on one SQLite file; without it their writers
    meet again in SQLite's busy handler.  ``flock`` belongs to an open file, so each process (a
    forked worker included) opens its own; the kernel drops it if the process dies.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int | None:
        if self._fd is None or self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                log.warning("no writers' lock file %s (%s): processes queue in SQLite's busy handler", self.path, exc)
                self._fd = None
            self._pid = os.getpid()
        return self._fd

    def acquire(self, deadline: float) -> bool:
        """Take the lock, polling until ``deadline`` (monotonic); False when it could not be had."""
        fd = self._descriptor()
        if fd is None:
            return False
        pause = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def release(self) -> None:
        """Give the lock back."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


class _WriterQueue:
    """The queue of one SQLite engine's write transactions: a lock in this process, then across processes.

    The locks are taken when a transaction begins and given back only once its ``COMMIT`` or
    ``ROLLBACK`` has run on the connection.  SQLAlchemy's ``commit``/``rollback`` connection events
    fire *before* those statements, so giving the lock back there let the next writer's
    ``BEGIN IMMEDIATE`` meet the still-held SQLite lock and fall into the busy handler's growing
    sleeps while holding the queue: under 50 agents, writes waited seconds behind a lock that was
    free.  The dialect's ``do_commit``/``do_rollback`` of this engine are therefore wrapped, and the
    pool's ``invalidate`` event frees the lock of a connection that died mid-transaction.
    """

    def __init__(self, lock_file: _LockFile | None) -> None:
        self.lock = threading.Lock()
        self.lock_file = lock_file
        self.owner: Any = None  # the DBAPI connection holding the lock
        self.file_locked = False

    def take(self, conn: Connection) -> None:
        """Wait for the locks before ``BEGIN IMMEDIATE`` (SQLite's own busy wait applies after the time limit)."""
        deadline = time.monotonic() + WRITE_LOCK_WAIT_SECONDS
        if self.lock.acquire(timeout=WRITE_LOCK_WAIT_SECONDS):
            self.owner = conn.connection.dbapi_connection
            self.file_locked = self.lock_file is not None and self.lock_file.acquire(deadline)

    def give_back(self, dbapi_connection: Any) -> None:
        """Release the locks if ``dbapi_connection`` (or the pool's proxy of it) holds them."""
        raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        if raw is not None and raw is self.owner:
            self.owner = None
            if self.file_locked and self.lock_file is not None:
                self.file_locked = False
                self.lock_file.release()
            self.lock.release()

    def wrap(self, finish: Callable[[Any], None]) -> Callable[[Any], None]:
        """``finish`` (the dialect's commit or rollback), then give the locks back."""

        def finish_then_give_back(dbapi_connection: Any) -> None:
            try:
                finish(dbapi_connection)
            finally:
                self.give_back(dbapi_connection)

        return finish_then_give_back


def writers_lock_path(engine: Engine) -> str | None:
    """The lock file of a file-based SQLite database (``<file>-writers.lock``); None in memory."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:") or engine.url.query.get("mode"):
        return None
    return f"{database}-writers.lock"


def serialise_sqlite_writers(engine: Engine) -> None:
    """Make the write transactions on ``engine`` (SQLite) queue: in this process, then across processes."""
    if engine.dialect.name != "sqlite" or engine in _serialised:
        return
    path = writers_lock_path(engine)
    queue = _WriterQueue(_LockFile(path) if path else None)
    # The lock must be taken before the engine's BEGIN IMMEDIATE listener runs, and SQLAlchemy
    # ignores ``insert=True`` for an engine's own listeners: take them off and put them back after.
    earlier = list(engine.dispatch.begin)
    for listener in earlier:
        event.remove(engine, "begin", listener)
    event.listen(engine, "begin", queue.take)
    for listener in earlier:
        event.listen(engine, "begin", listener)
    dialect = engine.dialect  # one dialect object per engine: only this engine's transactions are wrapped
    dialect.do_commit = queue.wrap(dialect.do_commit)  # type: ignore[method-assign]
    dialect.do_rollback = queue.wrap(dialect.do_rollback)  # type: ignore[method-assign]
    event.listen(engine, "invalidate", lambda dbapi_connection, _record, _exc: queue.give_back(dbapi_connection))
    _serialised.add(engine)


def read_sessions_for(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for reading: deferred transactions on SQLite, the same factory elsewhere.

    (PostgreSQL reads stay in a transaction: autocommit would save a ``BEGIN`` and a ``ROLLBACK``
    round trip per request, but the exports' and reports' server-side cursors need a transaction.)
    """
    bind = factory.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return factory
    engine = create_engine(bind.url, connect_args={"timeout": 10, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_reader_pragmas)
    event.listen(engine, "begin", _deferred_begin)
    return make_session_factory(engine)


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
