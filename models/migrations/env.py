"""Alembic environment: the URL or connection is handed in by the caller (``models.schema``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import models.console
import models.entities
import models.scheduling  # noqa: F401
from models.base import Base, UTCDateTime, make_engine

target_metadata = Base.metadata


def _render_item(kind: str, obj: object, _autogen_context: object) -> str | bool:
    # Migrations stay free of project imports: UTCDateTime is a plain DateTime column.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                      render_item=_render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations()
