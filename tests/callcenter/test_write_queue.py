"""SQLite writers queue in the web process (and across web processes) instead of in SQLite's busy handler.

Each test sets SQLite's own busy timeout to 0 on the connections it writes through: a writer that
reaches ``BEGIN IMMEDIATE`` while another still holds SQLite's lock then fails at once with
"database is locked".  So a test passes only when the queue really keeps writers apart: the lock
is taken before ``BEGIN IMMEDIATE``, given back only after ``COMMIT``/``ROLLBACK`` has run, and
shared by the processes of one host through the lock file.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, event, text

from callcenter import create_app
from callcenter.db import db, read_db
from models import make_engine, make_session_factory, writers
from models.writers import serialise_sqlite_writers, writers_lock_path
from tests.plugins.db import Database

HOLD_SECONDS = 0.3


def _no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA busy_timeout=0")


def _queued_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _no_busy_wait)  # after the project's pragmas: no waiting inside SQLite
    serialise_sqlite_writers(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS marks (id INTEGER PRIMARY KEY, who TEXT)"))
    return engine


def _write(engine: Engine, who: str, hold: float = 0.0) -> None:
    with make_session_factory(engine).begin() as session:
        session.execute(text("INSERT INTO marks (who) VALUES (:who)"), {"who": who})
        time.sleep(hold)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM marks")).scalar_one())


def _second_writer_while_first_holds(engine: Engine, first: Any) -> list[str]:
    """Run ``first`` in a thread; once it holds the write transaction, write from this thread."""
    errors: list[str] = []

    def run_first() -> None:
        try:
            first()
        except Exception as exc:  # reported by the assertion below
            errors.append(f"first: {exc}")

    thread = threading.Thread(target=run_first)
    thread.start()
    time.sleep(HOLD_SECONDS / 3)
    try:
        _write(engine, "second")
    except Exception as exc:
        errors.append(f"second: {exc}")
    thread.join()
    return errors


def test_a_second_writer_waits_in_the_queue_not_at_sqlites_lock(tmp_path: Path) -> None:
    engine = _queued_engine(tmp_path / "queue.db")
    started = time.monotonic()
    errors = _second_writer_while_first_holds(engine, lambda: _write(engine, "first", hold=HOLD_SECONDS))
    assert errors == []
    assert _count(engine) == 2
    assert time.monotonic() - started >= HOLD_SECONDS  # the second really waited for the first


def test_a_writer_whose_turn_does_not_come_is_refused_without_touching_sqlite(  # type: ignore[no-untyped-def]
        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(writers, "QUEUE_WAIT_SECONDS", HOLD_SECONDS / 3)
    engine = _queued_engine(tmp_path / "queue.db")
    begun: list[str] = []
    event.listen(engine, "begin", lambda conn: begun.append("BEGIN"))
    errors = _second_writer_while_first_holds(engine, lambda: _write(engine, "first", hold=HOLD_SECONDS))
    assert len(errors) == 1 and errors[0].startswith("second: no turn to write")
    assert begun == ["BEGIN"]  # the refused writer never reached BEGIN IMMEDIATE
    assert _count(engine) == 1
    _write(engine, "third")  # the queue is free again
    assert _count(engine) == 2


def test_the_queue_is_given_back_only_after_the_commit_ran(tmp_path: Path) -> None:
    engine = _queued_engine(tmp_path / "commit.db")

    def slow_commit(_conn: Any) -> None:
        # SQLAlchemy's "commit" event runs before COMMIT: a queue given back here let the next
        # writer's BEGIN IMMEDIATE meet SQLite's still-held lock.
        if threading.current_thread() is not threading.main_thread():
            time.sleep(HOLD_SECONDS)

    event.listen(engine, "commit", slow_commit)
    assert _second_writer_while_first_holds(engine, lambda: _write(engine, "first")) == []
    assert _count(engine) == 2


def test_a_rolled_back_writer_gives_the_queue_back(tmp_path: Path) -> None:
    engine = _queued_engine(tmp_path / "rollback.db")
    with pytest.raises(RuntimeError), make_session_factory(engine).begin() as session:
        session.execute(text("INSERT INTO marks (who) VALUES ('lost')"))
        raise RuntimeError("the view failed")
    started = time.monotonic()
    _write(engine, "next")
    assert time.monotonic() - started < 1.0
    assert _count(engine) == 1


def test_a_connection_that_dies_mid_write_gives_the_queue_back(tmp_path: Path) -> None:
    engine = _queued_engine(tmp_path / "invalid.db")
    with engine.connect() as conn:
        conn.begin()
        conn.execute(text("INSERT INTO marks (who) VALUES ('lost')"))
        conn.invalidate()  # as when the DBAPI connection breaks
    started = time.monotonic()
    _write(engine, "next")
    assert time.monotonic() - started < 1.0  # not the queue's 10 s time limit
    assert _count(engine) == 1


def _process_writes(path: str, who: str, count: int, hold: float, errors: Any) -> None:
    engine = make_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _no_busy_wait)
    serialise_sqlite_writers(engine)
    for _ in range(count):
        try:
            _write(engine, who, hold)
        except Exception as exc:
            errors.put(f"{who}: {exc}")
    engine.dispose()


def test_writers_of_several_processes_queue_on_the_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    engine = _queued_engine(path)
    assert writers_lock_path(engine) == f"{path}-writers.lock"
    context = multiprocessing.get_context("spawn")
    errors = context.Queue()
    processes = [context.Process(target=_process_writes, args=(str(path), f"p{i}", 40, 0.002, errors))
                 for i in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []  # nobody met SQLite's lock with its busy timeout at 0
    assert _count(engine) == 120


def test_memory_databases_have_no_lock_file() -> None:
    assert writers_lock_path(make_engine("sqlite://")) is None


def test_a_get_request_uses_one_session_and_a_post_reads_without_the_write_lock(db: Database) -> None:
    app: Flask = create_app({"SECRET_KEY": "x", "SESSION_FACTORY": db.sessions, "TESTING": True})
    with app.test_request_context("/agent", method="GET"):
        assert db_is_read_db()
    with app.test_request_context("/tickets/1/claim", method="POST"):
        if db.backend == "sqlite":
            assert not db_is_read_db()
            holder = threading.Event()
            done = threading.Event()

            def hold_write_lock() -> None:
                with db.sessions.begin() as session:
                    session.execute(text("UPDATE stations SET name_en = name_en WHERE id = 1"))
                    holder.set()
                    done.wait(5)

            thread = threading.Thread(target=hold_write_lock)
            thread.start()
            holder.wait(5)
            started = time.monotonic()
            assert read_db().execute(text("SELECT count(*) FROM users")).scalar_one() > 0
            assert time.monotonic() - started < 1.0  # a read does not queue behind the writer
            done.set()
            thread.join()
        else:
            assert db_is_read_db()  # PostgreSQL: one session (one pooled connection) per request


def db_is_read_db() -> bool:
    """Whether the request's read session is its writing session."""
    return db() is read_db()


def test_gets_read_in_a_transaction_and_postgresql_posts_read_in_their_writing_one(db: Database) -> None:
    app: Flask = create_app({"SECRET_KEY": "x", "SESSION_FACTORY": db.sessions, "TESTING": True})
    with app.test_request_context("/supervisor/calls", method="GET"):
        assert request_session_in_transaction()  # one snapshot per page; the exports' server-side cursors need it
    with app.test_request_context("/tickets/1/claim", method="POST"):
        assert db_is_read_db() is (db.backend == "postgresql")


def request_session_in_transaction() -> bool:
    """Whether the request's session reads inside a transaction."""
    session = db()
    session.execute(text("SELECT 1"))
    return session.in_transaction() and session.connection().get_execution_options().get("isolation_level") != \
        "AUTOCOMMIT"


def test_the_hot_read_views_read_in_autocommit_on_postgresql_only(db: Database) -> None:
    app: Flask = create_app({"SECRET_KEY": "x", "SESSION_FACTORY": db.sessions, "TESTING": True})
    with app.test_request_context("/agent/live", method="GET"):
        assert request_session_in_transaction() is (db.backend == "sqlite")  # no BEGIN/ROLLBACK round trips
    with app.test_request_context("/tickets/1/candidates", method="GET"):
        assert request_session_in_transaction() is (db.backend == "sqlite")
    with app.test_request_context("/supervisor/calls", method="GET"):
        assert request_session_in_transaction()  # not marked: may stream or write its audit entry


def test_the_other_processes_engines_queue_with_the_consoles(tmp_path: Path) -> None:
    """``hotline agi``, the scheduler and the call listener build their engine with ``engine_for``."""
    from hotline.config import load_settings
    from hotline.runtime import engine_for

    settings = load_settings(environ={}, overrides={"data_dir": tmp_path})
    console = _queued_engine(Path(settings.resolved_database_url().removeprefix("sqlite:///")))
    agi = engine_for(settings)
    event.listen(agi, "connect", _no_busy_wait)
    assert writers_lock_path(agi) == writers_lock_path(console)
    errors = _second_writer_while_first_holds(console, lambda: _write(agi, "agi", hold=HOLD_SECONDS))
    assert errors == []
    assert _count(console) == 2
    agi.dispose()
