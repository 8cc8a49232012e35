"""``hotline agi``: the FastAGI server that runs the IVR routes."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import click

from hotline.cli import settings_of
from hotline.config import Settings

if TYPE_CHECKING:
    from agi_scripts.routes import IvrDependencies
    from agi_scripts.server import FastAgiServer

DRAIN_SECONDS = 10
log = logging.getLogger("hotline.agi")


def configure_logging(level: str) -> None:
    """One line per call step, on stderr."""
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


def build_dependencies(settings: Settings) -> IvrDependencies:
    """The ticket store, catalogue and flow settings the routes run with."""
    from agi_scripts.routes import IvrDependencies
    from agi_scripts.store import CachedCatalogue, ModelsTicketSink, load_catalogue
    from hotline.runtime import sessions_for
    from ivr.flow import FlowSettings

    _, sessions = sessions_for(settings)
    sink = ModelsTicketSink(sessions, region=settings.phone_region)
    flow = FlowSettings(
        digit_timeout_ms=settings.ivr_digit_timeout_ms, max_retries=settings.ivr_max_retries,
        describe=settings.ivr_describe, speech=settings.speech_enabled,
        speech_language=settings.speech_language, speech_seconds=float(settings.speech_listen_seconds),
        speech_min_confidence=settings.speech_min_confidence_percent / 100,
    )
    return IvrDependencies(sink=sink, catalogue=CachedCatalogue(lambda: load_catalogue(sessions)),
                           recognizer=None, flow=flow, language=settings.language, callbacks=sink)


def build_server(settings: Settings, host: str | None = None, port: int | None = None) -> FastAgiServer:
    """The FastAGI server with its routes, built from the settings (nothing starts yet)."""
    from agi_scripts.routes import build_routes
    from agi_scripts.server import FastAgiServer, ServerLimits

    limits = ServerLimits(command_timeout_seconds=float(settings.agi_command_timeout_seconds),
                          max_calls=settings.agi_max_calls)
    address = (host or settings.agi_host, settings.agi_port if port is None else port)
    return FastAgiServer(address, build_routes(build_dependencies(settings)), limits)


def warn_about_missing_prompts(settings: Settings) -> None:
    """Say so at start-up when prompt files are missing (a call would hear silence)."""
    from hotline.commands.prompts import prompts_dir
    from ivr.prompt_build import missing_prompt_files
    from ivr.prompts import FIXED

    try:
        missing = missing_prompt_files(prompts_dir(settings), FIXED, [settings.language])
    except Exception as exc:
        log.warning("could not check the prompt files: %s", exc)
        return
    if missing:
        log.warning("%d prompt files are missing (run 'hotline prompts build'), e.g. %s",
                    len(missing), ", ".join(missing[:3]))


@click.command("agi")
@click.option("--host", help="Address to listen on (default: the agi_host setting, loopback).")
@click.option("--port", type=int, help="TCP port (default: the agi_port setting, 4573).")
@click.pass_context
def agi(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the FastAGI server that Asterisk's AGI(agi://...) calls reach."""
    settings = settings_of(ctx)
    configure_logging(settings.agi_log_level)
    server = build_server(settings, host, port)
    warn_about_missing_prompts(settings)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping (active calls finish on their own threads)", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host_bound, port_bound = server.server_address[:2]
    log.info("FastAGI listening on %s:%d, routes: %s", host_bound, port_bound,
             ", ".join(sorted(server.routes)))
    try:
        server.serve_forever()
        left = server.drain(DRAIN_SECONDS)
        if left:
            log.warning("%d calls still active after %d s; they fall back to the dialplan",
                        left, DRAIN_SECONDS)
    finally:
        server.server_close()
