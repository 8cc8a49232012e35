"""``hotline db``: migrate, seed and check the ticket store."""

from __future__ import annotations

import click
from sqlalchemy import func, select

from hotline.cli import settings_of
from hotline.runtime import engine_for
from models import make_session_factory
from models.entities import ProviderCompany, ServiceCategory, SubService, Worker
from models.schema import schema_differences, upgrade_to_head
from models.seed import seed_all


@click.group()
def db() -> None:
    """Create, migrate, seed and check the database."""


@db.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply all Alembic migrations (creates the SQLite file on first use)."""
    engine = engine_for(settings_of(ctx))
    upgrade_to_head(engine)
    click.echo(f"database at head: {engine.url.render_as_string(hide_password=True)}")


@db.command()
@click.option("--companies", default=480, show_default=True, help="Demo provider companies to create.")
@click.pass_context
def seed(ctx: click.Context, companies: int) -> None:
    """Load the catalogue, Pinghu's stations, demo providers and demo accounts (idempotent)."""
    engine = engine_for(settings_of(ctx))
    upgrade_to_head(engine)
    with make_session_factory(engine).begin() as session:
        report = seed_all(session, companies=companies)
    with make_session_factory(engine)() as session:
        totals = {
            "categories": session.scalar(select(func.count()).select_from(ServiceCategory)),
            "sub_services": session.scalar(select(func.count()).select_from(SubService)),
            "companies": session.scalar(select(func.count()).select_from(ProviderCompany)),
            "workers": session.scalar(select(func.count()).select_from(Worker)),
        }
    click.echo(f"added: {report}")
    click.echo("in the database: " + ", ".join(f"{k}={v}" for k, v in totals.items()))


@db.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Fail when the migrated database and the models differ (a migration is missing)."""
    engine = engine_for(settings_of(ctx))
    upgrade_to_head(engine)
    differences = schema_differences(engine)
    if differences:
        for difference in differences:
            click.echo(f"  {difference}", err=True)
        raise click.ClickException("the models and the migrations differ: write a migration")
    click.echo("models and migrations match")
