"""Schema management through Alembic: upgrade to head, and check the models match the migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

import models.audit
import models.calllog
import models.console
import models.entities
import models.scheduling  # noqa: F401
from models.base import Base

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` using the project's migrations folder (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Apply every migration not yet applied."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


FOREIGN_TABLES = frozenset({"alembic_version", "apscheduler_jobs"})  # created by Alembic and APScheduler


def _ours(name: str | None, type_: str, _parent: object) -> bool:
    return not (type_ == "table" and name in FOREIGN_TABLES)


def schema_differences(engine: Engine) -> list[object]:
    """What differs between the migrated database and the models (empty when in step)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "include_name": _ours})
        return list(compare_metadata(context, Base.metadata))
