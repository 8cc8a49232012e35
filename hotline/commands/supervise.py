"""``hotline calls``: the call-record listener (AMI events → one record per call, left messages →
callback tickets, dispatches and survey results → queue_log) and the reconcile from Asterisk's CDR
and queue_log."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType

import click

from hotline.cli import settings_of
from hotline.config import Settings, secret_from_file


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


@calls.command()
@click.option("--cdr", type=click.Path(dir_okay=False, path_type=Path), help="cdr-custom/Master.csv to read.")
@click.option("--queue-log", type=click.Path(dir_okay=False, path_type=Path), help="The queue_log file to read.")
@click.pass_context
def reconcile(ctx: click.Context, cdr: Path | None, queue_log: Path | None) -> None:
    """Make every inbound call of the CDR exactly one finished call record (safe to run again)."""
    from callcenter.callrecords import reconcile_files

    settings = settings_of(ctx)
    cdr_path, queue_log_path = _records_files(settings, cdr, queue_log)
    engine, sessions = _migrated_sessions(settings)
    try:
        report = reconcile_files(sessions, cdr_path, queue_log_path)
    finally:
        engine.dispose()
    click.echo(f"{report.seen} calls in the CDR: {report.created} records created, {report.finished} finished, "
               f"{report.unchanged} already complete; {report.callbacks} callback tickets for left messages")
    for problem in report.skipped:
        click.echo(f"skipped {problem}", err=True)


@calls.command()
@click.option("--cdr", type=click.Path(dir_okay=False, path_type=Path), help="cdr-custom/Master.csv to read.")
@click.option("--queue-log", type=click.Path(dir_okay=False, path_type=Path), help="The queue_log file to read.")
@click.pass_context
def listen(ctx: click.Context, cdr: Path | None, queue_log: Path | None) -> None:
    """Listen to Asterisk's AMI and keep the call records; reconnects and reconciles by itself.

    While connected it also writes the dispatches and survey results of calls' tickets to queue_log.
    """
    from callcenter.ami import AmiClient
    from callcenter.callrecords import CallRecorder, CallRecordListener, RecorderConfig, reconcile_files
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
    listener = CallRecordListener(recorder, connect,
                                  after_connect=lambda: reconcile_files(sessions, cdr_path, queue_log_path),
                                  while_connected=story.write_pending)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        listener.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"listening to AMI on {settings.ami_host}:{settings.ami_port}")
    try:
        listener.run()
    finally:
        engine.dispose()
