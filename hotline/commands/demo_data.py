"""``hotline demo-data``: fill the database with realistic call and ticket history."""

from __future__ import annotations

import time

import click

from hotline.cli import settings_of
from hotline.runtime import engine_for
from models.history import generate_history


@click.command("demo-data")
@click.option("--calls", default=20_000, show_default=True, type=click.IntRange(1, 50_000_000),
              help="How many requests to generate (the article's full history is 2130000).")
@click.option("--years", default=3.0, show_default=True, type=click.FloatRange(0.01, 25),
              help="Span of history, ending yesterday.")
@click.option("--seed", default=2004, show_default=True, help="Random seed (the same seed, the same history).")
@click.pass_context
def demo_data(ctx: click.Context, calls: int, years: float, seed: int) -> None:
    """Generate calls, tickets, timelines and evaluations spread over years, categories and stations."""
    engine = engine_for(settings_of(ctx))
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
