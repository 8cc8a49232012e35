"""``hotline scheduler``: the process that runs the scheduled jobs (one active, others stand by)."""

from __future__ import annotations

import datetime as dt
import logging
import signal
from types import FrameType

import click
from sqlalchemy.orm import Session, sessionmaker

from callcenter.scheduler.daily import DailySettings
from callcenter.scheduler.dialer import AmiDialer, Dialer
from callcenter.scheduler.jobs import JOBS_BY_ID, JobContext
from callcenter.scheduler.outbound import FollowupCalls, OutboundSettings
from callcenter.scheduler.service import SchedulerService, candidate_name
from hotline.cli import settings_of
from hotline.config import Settings, parse_clock, path_is_set, secret_from_file
from hotline.runtime import sessions_for
from models.followups import CallingHours
from models.outbound import OutboundPolicy


def outbound_settings(settings: Settings) -> OutboundSettings:
    """How follow-ups and callbacks are called, from the settings."""
    hours = calling_hours(settings)
    return OutboundSettings(
        followup=OutboundPolicy(attempts=settings.followup_attempts,
                                retry_after=dt.timedelta(minutes=settings.followup_retry_minutes),
                                ring_seconds=settings.followup_ring_seconds,
                                max_call=dt.timedelta(seconds=settings.followup_max_call_seconds), hours=hours),
        callback=OutboundPolicy(attempts=settings.callback_attempts,
                                retry_after=dt.timedelta(minutes=settings.callback_retry_minutes),
                                ring_seconds=settings.callback_ring_seconds,
                                max_call=dt.timedelta(seconds=max(settings.queue_wait_seconds, 60) + 60)),
        followup_max_concurrent=settings.followup_max_concurrent, region=settings.phone_region,
        caller_id=settings.outbound_caller_id, abandoned_offer=settings.callback_abandoned,
        abandoned_window=dt.timedelta(hours=settings.callback_abandoned_hours))


def calling_hours(settings: Settings) -> CallingHours:
    """When residents may be called."""
    return CallingHours(parse_clock(settings.calling_hours_start, "calling_hours_start"),
                        parse_clock(settings.calling_hours_end, "calling_hours_end"), settings.timezone)


def daily_settings(settings: Settings) -> DailySettings:
    """The daily jobs' folders and retention, from the settings."""
    cache = settings.prompts_cache_dir if path_is_set(settings.prompts_cache_dir) \
        else settings.data_dir / "prompt-cache"
    return DailySettings(zone=settings.timezone, statistics_days_back=settings.statistics_days_back,
                         prompt_cache_dir=cache, prompt_cache_days=settings.prompt_cache_retention_days,
                         recordings_dir=settings.resolved_recordings_dir(),
                         recordings_days=settings.recordings_retention_days)


def build_dialer(settings: Settings, sessions: sessionmaker[Session]) -> AmiDialer | None:
    """The AMI dialer of the follow-up and callback calls (not connected yet); None when AMI is off."""
    if not settings.scheduler_ami:
        return None
    secret = settings.ami_secret or secret_from_file(settings.data_dir, "ami-secret")
    return AmiDialer(settings.ami_host, settings.ami_port, settings.ami_user, secret, sessions)


def job_context(settings: Settings, sessions: object, holder: str, dialer: Dialer | None = None) -> JobContext:
    """The jobs' settings as plain values, with the ``followup`` task handler installed."""
    ctx = JobContext(
        sessions=sessions,  # type: ignore[arg-type]
        holder=holder,
        followup_delay=dt.timedelta(minutes=settings.followup_delay_minutes),
        followup_retry=dt.timedelta(minutes=settings.followup_retry_minutes),
        followup_attempts=settings.followup_attempts,
        calling_hours=calling_hours(settings),
        dialer=dialer,
        outbound=outbound_settings(settings),
        daily=daily_settings(settings),
        offer_seconds=settings.offer_timeout_seconds,
    )
    if dialer is not None:
        ctx.handlers["followup"] = FollowupCalls(ctx.sessions, dialer, ctx.outbound)
    return ctx


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
    parsed = _parse_intervals(intervals)
    dialer = build_dialer(settings, sessions)
    service = SchedulerService(engine, job_context(settings, sessions, holder, dialer),
                               lease_seconds=settings.scheduler_lease_seconds, renew_seconds=renew_seconds,
                               timezone=settings.timezone, intervals=parsed)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    click.echo(f"scheduler {holder} standing by for the lease on {engine.url.render_as_string()}")
    if dialer is not None:
        dialer.start()
    try:
        service.run()
    finally:
        if dialer is not None:
            dialer.stop()
