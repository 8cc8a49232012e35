"""``hotline calls``: the call-record listener (AMI events → one record per call, left messages →
callback tickets, dispatches and survey results → queue_log, calls Asterisk lost → finished) and the
reconcile from Asterisk's CDR and queue_log (``--close-lost``: and from its live channels)."""

from __future__ import annotations

import datetime as dt
import logging
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from hotline.cli import settings_of
from hotline.config import Settings, secret_from_file

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from callcenter.callrecords import LostCallsReport

LOST_SWEEP_SECONDS = 60.0  # how often the listener looks for calls Asterisk lost
LOST_GRACE_SECONDS = 5.0  # how long a call must stay missing before it is finished (a Hangup may be on its way)
LOST_LOOKBACK = dt.timedelta(days=1)  # the listener looks at calls started this recently; --close-lost at all


def _migrated_sessions(settings: Settings):  # type: ignore[no-untyped-def]
    """The engine and session factory over a database migrated to the current schema."""
    from hotline.runtime import sessions_for
    from models.schema import upgrade_to_head

    engine, sessions = sessions_for(settings)
    upgrade_to_head(engine)
    return engine, sessions


def _records_files(settings: Settings, cdr: Path | None, queue_log: Path | None) -> tuple[Path, Path]:
    """The CDR CSV and queue_log files: given, else where this site's Asterisk writes them."""
    if cdr is not None and queue_log is not None:
        return cdr, queue_log
    from hotline.sandbox.layout import layout_for

    layout = layout_for(settings)
    return cdr or layout.cdr_csv, queue_log or layout.queue_log


@click.group()
def calls() -> None:
    """Call records built from Asterisk: listen to AMI, reconcile from the CDR and queue_log."""


def _close_lost(settings: Settings, sessions: sessionmaker[Session], grace: float) -> LostCallsReport:
    """Finish the records of calls the site's Asterisk no longer has, over its AMI."""
    from callcenter.ami import AmiClient, AmiError
    from callcenter.callrecords import (
        BootMark,
        ListCollector,
        PbxQueryError,
        boot_from_fully_booted,
        close_lost_calls,
    )

    lists = ListCollector()
    booted: list[BootMark | None] = []

    def on_event(message: dict[str, str]) -> None:
        if not lists.offer(message) and message.get("Event") == "FullyBooted":
            booted.append(boot_from_fully_booted(message))

    secret = settings.ami_secret or secret_from_file(settings.data_dir, "ami-secret")
    client = AmiClient(settings.ami_host, settings.ami_port, settings.ami_user, secret, on_event)
    try:
        client.connect()
    except (OSError, AmiError) as exc:
        raise click.ClickException(f"--close-lost needs Asterisk's AMI at {settings.ami_host}:{settings.ami_port} "
                                   f"and it is not reachable ({exc}); no call was closed as lost") from None
    try:
        return close_lost_calls(sessions, client, lists, grace=grace,
                                fully_booted=lambda: booted[0] if booted else None)
    except (OSError, AmiError, PbxQueryError) as exc:
        raise click.ClickException(f"Asterisk did not answer over AMI ({exc}); the calls it no longer has may "
                                   "be left open: run it again") from None
    finally:
        client.close()


@calls.command()
@click.option("--cdr", type=click.Path(dir_okay=False, path_type=Path), help="cdr-custom/Master.csv to read.")
@click.option("--queue-log", type=click.Path(dir_okay=False, path_type=Path), help="The queue_log file to read.")
@click.option("--close-lost", is_flag=True,
              help="Also finish open records of calls Asterisk no longer has (killed, crashed): asks its AMI.")
@click.option("--grace", type=click.FloatRange(0, 300), default=LOST_GRACE_SECONDS, show_default=True,
              help="With --close-lost: seconds a call must stay missing before it is finished.")
@click.pass_context
def reconcile(ctx: click.Context, cdr: Path | None, queue_log: Path | None, close_lost: bool, grace: float) -> None:
    """Make every inbound call of the CDR exactly one finished call record (safe to run again)."""
    from callcenter.callrecords import reconcile_files

    settings = settings_of(ctx)
    cdr_path, queue_log_path = _records_files(settings, cdr, queue_log)
    engine, sessions = _migrated_sessions(settings)
    try:
        report = reconcile_files(sessions, cdr_path, queue_log_path)
        click.echo(f"{report.seen} calls in the CDR: {report.created} records created, {report.finished} finished, "
                   f"{report.unchanged} already complete; {report.callbacks} callback tickets for left messages")
        for problem in report.skipped:
            click.echo(f"skipped {problem}", err=True)
        if close_lost:
            lost = _close_lost(settings, sessions, grace)
            click.echo(f"{lost.open} open calls: {lost.alive} still up in Asterisk, {len(lost.finished)} finished as "
                       f"lost, {lost.pending} missing for less than {grace:g} s, {lost.raced} finished meanwhile")
    finally:
        engine.dispose()


@calls.command()
@click.option("--cdr", type=click.Path(dir_okay=False, path_type=Path), help="cdr-custom/Master.csv to read.")
@click.option("--queue-log", type=click.Path(dir_okay=False, path_type=Path), help="The queue_log file to read.")
@click.pass_context
def listen(ctx: click.Context, cdr: Path | None, queue_log: Path | None) -> None:
    """Listen to Asterisk's AMI and keep the call records; reconnects and reconciles by itself.

    While connected it also writes the dispatches and survey results of calls' tickets to queue_log,
    and finishes the records of calls Asterisk no longer has (it was killed or crashed meanwhile).
    """
    from callcenter.ami import AmiClient
    from callcenter.callrecords import CallRecorder, CallRecordListener, LostCalls, RecorderConfig, reconcile_files
    from callcenter.queuelog import QueueLogStory

    settings = settings_of(ctx)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cdr_path, queue_log_path = _records_files(settings, cdr, queue_log)
    engine, sessions = _migrated_sessions(settings)
    secret = settings.ami_secret or secret_from_file(settings.data_dir, "ami-secret")
    recorder = CallRecorder(sessions, RecorderConfig(region=settings.phone_region))

    def connect(on_event):  # type: ignore[no-untyped-def]
        client = AmiClient(settings.ami_host, settings.ami_port, settings.ami_user, secret, on_event)
        client.connect()
        return client

    story = QueueLogStory(sessions)
    lost_calls = LostCalls(sessions, grace=LOST_GRACE_SECONDS, lookback=LOST_LOOKBACK)
    listener = CallRecordListener(recorder, connect,
                                  after_connect=lambda: reconcile_files(sessions, cdr_path, queue_log_path),
                                  while_connected=story.write_pending, lost_calls=lost_calls,
                                  sweep_every=LOST_SWEEP_SECONDS)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        listener.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"listening to AMI on {settings.ami_host}:{settings.ami_port}")
    try:
        listener.run()
    finally:
        engine.dispose()
