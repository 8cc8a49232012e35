"""Database fixtures: every test that asks for ``db`` runs on SQLite and on PostgreSQL.

A migrated and seeded template is built once per backend per session; each test gets a fresh
copy (a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL), so tests may commit
freely and run real concurrent transactions.  PostgreSQL is required: when it is not reachable the
PostgreSQL half fails with the reason, it never skips.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from models import make_engine, make_session_factory
from models.schema import upgrade_to_head
from models.seed import seed_all

PG_ADMIN_URL = os.environ.get("HOTLINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SEED_COMPANIES = 40  # a smaller provider set keeps the templates quick; the seed test loads all 480


@dataclass
class Database:
    """A fresh, migrated and seeded database for one test."""

    backend: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    def session(self) -> Session:
        """A new session (the test owns its transactions)."""
        return self.sessions()


def _pg_admin() -> Engine:
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:
        pytest.fail(f"PostgreSQL is required for the tests and is not reachable at {PG_ADMIN_URL}: {exc}",
                    pytrace=False)
    return engine


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _seed(url: str, companies: int) -> None:
    engine = make_engine(url)
    upgrade_to_head(engine)
    with make_session_factory(engine).begin() as session:
        seed_all(session, companies=companies)
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dbtemplate") / "template.db"
    _seed(f"sqlite:///{path}", SEED_COMPANIES)
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    admin = _pg_admin()
    name = f"hotline_tpl_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    _seed(_pg_url(name), SEED_COMPANIES)
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _fresh_sqlite(template: Path, folder: Path) -> str:
    target = folder / "hotline.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh seeded database on each backend."""
    if request.param == "sqlite":
        url = _fresh_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)
        yield from _database("sqlite", url)
        return
    template = request.getfixturevalue("pg_template")
    admin = _pg_admin()
    name = f"hotline_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield from _database("postgresql", _pg_url(name))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A fresh seeded SQLite database only (for tests of SQLite-specific behaviour)."""
    yield from _database("sqlite", _fresh_sqlite(sqlite_template, tmp_path))


def _database(backend: str, url: str) -> Iterator[Database]:
    engine = make_engine(url)
    try:
        yield Database(backend, url, engine, make_session_factory(engine))
    finally:
        engine.dispose()
