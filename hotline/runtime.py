"""Building the long-lived objects of a process from its settings (entry points only)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline.config import Settings
from models import make_engine, make_session_factory
from models.writers import serialise_sqlite_writers


def engine_for(settings: Settings) -> Engine:
    """The database engine of the configured URL (the SQLite file's folder is created).

    On SQLite its write transactions queue in this process and with this host's other processes
    on the same file (:mod:`models.writers`) instead of meeting in SQLite's busy handler.
    """
    url = settings.resolved_database_url()
    if url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    serialise_sqlite_writers(engine)
    return engine


def sessions_for(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    """An engine and its session factory."""
    engine = engine_for(settings)
    return engine, make_session_factory(engine)
