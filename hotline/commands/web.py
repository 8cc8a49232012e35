"""``hotline web``: the agent console, provider pages and JSON API on a threaded WSGI server."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

import click

from hotline.cli import settings_of
from hotline.config import Settings, secret_from_file

log = logging.getLogger("hotline.web")

DEMO_LOGINS = ("agent01..agent04 (agents), supervisor, admin, ld-agent / ld-supervisor (Lindai station), "
               "worker00001..worker00005 (providers); password demo96345")


def console_config(settings: Settings) -> dict[str, Any]:
    """The console's plain configuration values from the settings."""
    return {
        "DATABASE_URL": settings.resolved_database_url(),
        "SECRET_KEY": settings.web_secret_key or secret_from_file(settings.data_dir, "web-secret"),
        "SESSION_COOKIE_SECURE": settings.web_cookie_secure,
        "WEB_SESSION_HOURS": float(settings.web_session_hours),
        "CLAIM_LEASE_SECONDS": settings.claim_lease_seconds,
        "OFFER_TIMEOUT_SECONDS": settings.offer_timeout_seconds,
        "TIMEZONE": settings.timezone,
        "DEFAULT_LANGUAGE": settings.language,
        "PHONE_REGION": settings.phone_region,
        "AMI_ENABLED": settings.web_ami,
        "AMI_HOST": settings.ami_host,
        "AMI_PORT": settings.ami_port,
        "AMI_USER": settings.ami_user,
        "AMI_SECRET": settings.ami_secret or secret_from_file(settings.data_dir, "ami-secret"),
    }


def build_app(settings: Settings):  # type: ignore[no-untyped-def]
    """The Flask app over a migrated database (nothing listens yet)."""
    from callcenter import create_app
    from hotline.runtime import engine_for
    from models.schema import upgrade_to_head

    engine = engine_for(settings)
    upgrade_to_head(engine)
    engine.dispose()
    return create_app(console_config(settings))


def sweep_offers_forever(app: Any, every_seconds: float, stop: threading.Event) -> None:
    """Expire unanswered offers and offer the next candidates, every few seconds."""
    from callcenter.candidates import advance_offers
    from callcenter.db import EXTENSION
    from callcenter.scope import StationTree

    sessions = app.extensions[EXTENSION]
    while not stop.wait(every_seconds):
        try:
            with sessions.begin() as session:
                reoffered = advance_offers(session, StationTree.load(session),
                                           offer_seconds=int(app.config["OFFER_TIMEOUT_SECONDS"]))
            if reoffered:
                log.info("offers expired; tickets offered again: %s", reoffered)
        except Exception:
            log.exception("offer sweep failed; trying again")


@click.command("web")
@click.option("--host", help="Address to listen on (default: the web_host setting).")
@click.option("--port", type=int, help="TCP port (default: the web_port setting; 0 picks a free one).")
@click.pass_context
def web(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the web console (agents, dispatch, providers, API) with threads."""
    from waitress import create_server

    settings = settings_of(ctx)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = build_app(settings)
    server = create_server(app, host=host or settings.web_host,
                           port=settings.web_port if port is None else port, threads=settings.web_threads,
                           ident="hotline", clear_untrusted_proxy_headers=True)
    from callcenter.telephony import EXTENSION as TELEPHONY

    app.extensions[TELEPHONY].start()
    stop = threading.Event()
    if settings.web_offer_sweep_seconds > 0:
        threading.Thread(target=sweep_offers_forever, args=(app, settings.web_offer_sweep_seconds, stop),
                         name="offer-sweep", daemon=True).start()

    def shutdown(signum: int, frame: FrameType | None) -> None:
        stop.set()
        app.extensions[TELEPHONY].stop()
        server.close()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    address = f"http://{server.effective_host}:{server.effective_port}/"
    click.echo(f"console: {address}", err=False)
    click.echo(f"demo logins: {DEMO_LOGINS}")
    try:
        server.run()
    except OSError:
        if not stop.is_set():
            raise
    finally:
        stop.set()
