"""SQLite's one writer, queued: the write transactions of an engine wait their turn before ``BEGIN IMMEDIATE``.

SQLite has one writer at a time, and a writer that finds the lock taken sleeps in SQLite's busy
handler in growing steps (up to 100 ms each), so under load writes waited seconds for a lock that
was free most of that time (50 console agents; 200 calls in ``hotline agi``, where a caller's keys
pressed while the IVR waited for the database were lost).  The write transactions of a process
therefore queue for a process-wide lock, then a lock file beside the database shared by this
host's processes (web workers, ``hotline agi``, the scheduler), before their ``BEGIN IMMEDIATE``,
and are woken in turn when the holder's commit or rollback is done.

A writer that has not had its turn in this process after :data:`QUEUE_WAIT_SECONDS` fails with
:class:`sqlalchemy.exc.TimeoutError` (as a writer that gets no pooled connection does).  It must not
go on to ``BEGIN IMMEDIATE`` without its turn: the lock is held by this process's writers, so it would
only sleep in SQLite's busy handler and, waking at random, take the lock from the writer whose turn
it is (under 400 IVR calls a stack dump showed eight writers asleep there while the queue waited).
The lock file of other processes is different: a writer that waited :data:`WRITE_LOCK_WAIT_SECONDS`
for it goes on and SQLite's own busy wait applies.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import TimeoutError

log = logging.getLogger("hotline.db")
WRITE_LOCK_WAIT_SECONDS = 10.0  # as long as SQLite's busy timeout; then SQLite's own waiting applies
QUEUE_WAIT_SECONDS = 30.0  # as long as the connection pool's wait
_serialised: weakref.WeakSet[Engine] = weakref.WeakSet()


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
        """Wait for the locks before ``BEGIN IMMEDIATE``; refuse the write when this process's turn does not come."""
        if not self.lock.acquire(timeout=QUEUE_WAIT_SECONDS):
            raise TimeoutError(f"no turn to write in {QUEUE_WAIT_SECONDS:.0f} s (SQLite writers' queue)")
        self.owner = conn.connection.dbapi_connection
        deadline = time.monotonic() + WRITE_LOCK_WAIT_SECONDS
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
