"""Read-only transactions on SQLite that do not queue behind the writer.

The project's SQLite engine starts every transaction with ``BEGIN IMMEDIATE`` (the write lock, so
a read-then-write transaction never fails to upgrade), and its transactions queue for that lock
(:mod:`models.writers`).  A transaction that only reads needs neither: a second engine on the same
file whose transactions are a plain deferred ``BEGIN`` reads under WAL concurrently with other
readers and with the one writer (the console's live lists, the IVR's caller lookups and catalogue).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from models.base import make_session_factory


def _sqlite_reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _deferred_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def read_sessions_for(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for reading: deferred transactions on SQLite, the same factory elsewhere.

    (PostgreSQL reads stay in a transaction: autocommit would save a ``BEGIN`` and a ``ROLLBACK``
    round trip, but server-side cursors need a transaction.)
    """
    bind = factory.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return factory
    engine = create_engine(bind.url, connect_args={"timeout": 10, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_reader_pragmas)
    event.listen(engine, "begin", _deferred_begin)
    return make_session_factory(engine)
