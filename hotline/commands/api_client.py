"""``hotline api-client``: register, list and revoke the online channel's API clients (Open311)."""

from __future__ import annotations

import click
from sqlalchemy import select

from hotline.cli import settings_of
from hotline.runtime import sessions_for
from models.entities import Station, User
from models.enums import Role
from models.errors import DomainError
from models.online import create_api_client, revoke_api_client


@click.group("api-client")
def api_client() -> None:
    """API clients of the Open311 endpoint (/open311/v2): apps and mini-programs."""


@api_client.command()
@click.argument("name")
@click.option("--display-name", help="A readable name (default: NAME).")
@click.option("--station", "station_code", default="PH", show_default=True,
              help="Station code whose tickets it opens when a request has no position nearby.")
@click.pass_context
def add(ctx: click.Context, name: str, display_name: str | None, station_code: str) -> None:
    """Register a client and print its API key (shown only this once)."""
    engine, sessions = sessions_for(settings_of(ctx))
    try:
        with sessions.begin() as session:
            station = session.scalars(select(Station).where(Station.code == station_code)).one_or_none()
            if station is None:
                raise click.BadParameter(f"no station with code {station_code!r}", param_hint="--station")
            _user, key = create_api_client(session, name=name, display_name=display_name or name,
                                           station_id=station.id)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        engine.dispose()
    click.echo(f"API key for {name} (keep it secret; it is not shown again):\n{key}")


@api_client.command("list")
@click.pass_context
def list_clients(ctx: click.Context) -> None:
    """The registered clients and whether they are active."""
    engine, sessions = sessions_for(settings_of(ctx))
    with sessions() as session:
        for user in session.scalars(select(User).where(User.role == Role.API).order_by(User.username)):
            click.echo(f"{user.username}\t{'active' if user.active else 'revoked'}\t{user.display_name}")
    engine.dispose()


@api_client.command()
@click.argument("name")
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Revoke a client's key at once."""
    engine, sessions = sessions_for(settings_of(ctx))
    try:
        with sessions.begin() as session:
            revoke_api_client(session, name)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        engine.dispose()
    click.echo(f"{name} revoked")
