"""``hotline scheduler``: the process that runs the scheduled jobs (one active, others stand by)."""

from __future__ import annotations

import datetime as dt
import logging
import signal
from types import FrameType

import click

from callcenter.scheduler.jobs import JOBS_BY_ID, JobContext
from callcenter.scheduler.service import SchedulerService, candidate_name
from hotline.cli import settings_of
from hotline.config import Settings, parse_clock
from hotline.runtime import sessions_for
from models.followups import CallingHours


def job_context(settings: Settings, sessions: object, holder: str) -> JobContext:
    """The jobs' settings as plain values."""
    return JobContext(
        sessions=sessions,  # type: ignore[arg-type]
        holder=holder,
        followup_delay=dt.timedelta(minutes=settings.followup_delay_minutes),
        followup_retry=dt.timedelta(minutes=settings.followup_retry_minutes),
        followup_attempts=settings.followup_attempts,
        calling_hours=CallingHours(parse_clock(settings.calling_hours_start, "calling_hours_start"),
                                   parse_clock(settings.calling_hours_end, "calling_hours_end"),
                                   settings.timezone),
    )


def _parse_intervals(items: tuple[str, ...]) -> dict[str, float]:
    parsed: dict[str, float] = {}
    for item in items:
        job_id, _, seconds = item.partition("=")
        if job_id not in JOBS_BY_ID:
            raise click.BadParameter(f"unknown job {job_id!r}; jobs: {', '.join(JOBS_BY_ID)}", param_hint="--interval")
        try:
            parsed[job_id] = float(seconds)
        except ValueError:
            raise click.BadParameter(f"{item!r}: seconds must be a number", param_hint="--interval") from None
        if parsed[job_id] <= 0:
            raise click.BadParameter(f"{item!r}: seconds must be positive", param_hint="--interval")
    return parsed


@click.command()
@click.option("--renew-seconds", default=5.0, show_default=True, type=click.FloatRange(0.1, 60),
              help="How often the lease is renewed (and a standby looks for a free lease).")
@click.option("--interval", "intervals", multiple=True, metavar="JOB=SECONDS",
              help="Run a job at another interval than its default (e.g. sla.check=5).")
@click.pass_context
def scheduler(ctx: click.Context, renew_seconds: float, intervals: tuple[str, ...]) -> None:
    """Run the scheduled jobs; with several started, one is active and the others stand by."""
    settings = settings_of(ctx)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    engine, sessions = sessions_for(settings)
    holder = candidate_name()
    service = SchedulerService(engine, job_context(settings, sessions, holder),
                               lease_seconds=settings.scheduler_lease_seconds, renew_seconds=renew_seconds,
                               timezone=settings.timezone, intervals=_parse_intervals(intervals))

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    click.echo(f"scheduler {holder} standing by for the lease on {engine.url.render_as_string()}")
    service.run()
