"""``hotline agi``: the FastAGI server that runs the IVR routes."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from hotline.cli import settings_of
from hotline.config import Settings

DRAIN_SECONDS = 10


def configure_logging(level: str) -> None:
    """One line per call step, on stderr."""
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


def build_server(settings: Settings, host: str | None = None, port: int | None = None):  # type: ignore[no-untyped-def]
    """The FastAGI server with its routes, built from the settings (nothing starts yet)."""
    from agi_scripts.routes import build_routes
    from agi_scripts.server import FastAgiServer, ServerLimits

    limits = ServerLimits(command_timeout_seconds=float(settings.agi_command_timeout_seconds),
                          max_calls=settings.agi_max_calls)
    address = (host or settings.agi_host, settings.agi_port if port is None else port)
    return FastAgiServer(address, build_routes(), limits)


@click.command("agi")
@click.option("--host", help="Address to listen on (default: the agi_host setting, loopback).")
@click.option("--port", type=int, help="TCP port (default: the agi_port setting, 4573).")
@click.pass_context
def agi(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the FastAGI server that Asterisk's AGI(agi://...) calls reach."""
    settings = settings_of(ctx)
    configure_logging(settings.agi_log_level)
    server = build_server(settings, host, port)
    log = logging.getLogger("hotline.agi")

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
