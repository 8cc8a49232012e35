"""``hotline demo-data``: fill the database with realistic call and ticket history."""

from __future__ import annotations

import time

import click
from sqlalchemy import Engine, func, select

from hotline.cli import settings_of
from hotline.runtime import engine_for
from models.entities import Call
from models.history import generate_history


def has_calls(engine: Engine) -> bool:
    """Whether the database holds any call yet (the demo history is loaded into an empty one only)."""
    with engine.connect() as connection:
        return bool(connection.scalar(select(func.count()).select_from(select(Call.id).limit(1).subquery())))


@click.command("demo-data")
@click.option("--calls", default=20_000, show_default=True, type=click.IntRange(1, 50_000_000),
              help="How many requests to generate (the article's full history is 2130000).")
@click.option("--years", default=3.0, show_default=True, type=click.FloatRange(0.01, 25),
              help="Span of history, ending yesterday.")
@click.option("--seed", default=2004, show_default=True, help="Random seed (the same seed, the same history).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has calls (hotline up).")
@click.pass_context
def demo_data(ctx: click.Context, calls: int, years: float, seed: int, if_empty: bool) -> None:
    """Generate calls, tickets, timelines and evaluations spread over years, categories and stations."""
    engine = engine_for(settings_of(ctx))
    if if_empty and has_calls(engine):
        click.echo("the database already has calls: no demo history generated")
        return
    started = time.monotonic()
    with click.progressbar(length=calls, label="generating history", show_pos=True, show_eta=True) as bar:
        last = 0

        def advance(done: int) -> None:
            nonlocal last
            bar.update(done - last)
            last = done

        try:
            report = generate_history(engine, calls=calls, years=years, seed=seed, progress=advance)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    elapsed = time.monotonic() - started
    click.echo(f"{report.calls} calls, {report.tickets} tickets, {report.events} timeline entries, "
               f"{report.evaluations} evaluations from {report.first_day} to {report.last_day} "
               f"in {elapsed:.1f} s")
