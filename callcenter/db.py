"""One database session per request (the view owns the transaction: it commits what it changes)."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from models import make_engine, make_session_factory

EXTENSION = "hotline_sessions"


def init_db(app: Flask) -> None:
    """Attach the session factory (given, or built from DATABASE_URL) and the teardown."""
    factory = app.config.get("SESSION_FACTORY")
    if factory is None:
        factory = make_session_factory(make_engine(app.config["DATABASE_URL"]))
    app.extensions[EXTENSION] = factory
    app.teardown_appcontext(_close_session)


def sessions() -> sessionmaker[Session]:
    """The app's session factory (for background work outside a request)."""
    factory: sessionmaker[Session] = current_app.extensions[EXTENSION]
    return factory


def db() -> Session:
    """The request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = sessions()()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()
