"""``hotline web``: the agent console, provider pages and JSON API on a threaded WSGI server.

One process by default.  ``--workers N`` (the ``web_workers`` setting) serves with N processes of
``web_threads`` threads each, all accepting on one listening socket that the first process
opened (as gunicorn's workers do): each has its own interpreter lock, so the console uses every
core of the machine.  Everything the processes must agree on is in the database (login sessions,
rate limits, claims, screen pops), SQLite writers of all of them queue on one lock file
(:mod:`callcenter.db`), and only the first worker runs the offer sweep and turns AMI agent events
into states and screen pops.  A worker that dies is started again; one that fails with an error
during its first seconds stops the server (a start-up error, e.g. a database it cannot open).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

import click

from hotline.cli import settings_of
from hotline.config import Settings, secret_from_file

log = logging.getLogger("hotline.web")

DEMO_LOGINS = ("agent01..agent04 (agents), supervisor, admin, ld-agent / ld-supervisor (Lindai station), "
               "worker00001..worker00005 (providers); password demo96345")
STOP_GRACE_SECONDS = 10.0  # after SIGTERM, a worker still running this long is killed
START_UP_SECONDS = 10.0  # a worker failing sooner is a start-up error, not a crash to recover from


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


def migrate(settings: Settings) -> None:
    """Bring the database to the current schema (once, before any worker starts)."""
    from hotline.runtime import engine_for
    from models.schema import upgrade_to_head

    engine = engine_for(settings)
    upgrade_to_head(engine)
    engine.dispose()


def build_app(settings: Settings, **overrides: Any):  # type: ignore[no-untyped-def]
    """The Flask app over a migrated database (nothing listens yet)."""
    from callcenter import create_app

    migrate(settings)
    return create_app({**console_config(settings), **overrides})


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


def run_server(app: Any, server: Any, settings: Settings, *, sweep: bool) -> None:
    """Serve until SIGTERM/SIGINT: AMI telephony started, the offer sweep when ``sweep``."""
    from callcenter.telephony import EXTENSION as TELEPHONY

    app.extensions[TELEPHONY].start()
    stop = threading.Event()
    if sweep and settings.web_offer_sweep_seconds > 0:
        threading.Thread(target=sweep_offers_forever, args=(app, settings.web_offer_sweep_seconds, stop),
                         name="offer-sweep", daemon=True).start()

    def shutdown(signum: int, frame: FrameType | None) -> None:
        stop.set()
        app.extensions[TELEPHONY].stop()
        server.close()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        server.run()
    except OSError:
        if not stop.is_set():
            raise
    finally:
        stop.set()


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket the workers share (port 0: a free one)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family, backlog=1024)


def _announce(host: str, port: int, workers: int, threads: int) -> None:
    address = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
    click.echo(f"console: {address}", err=False)
    click.echo(f"serving: {workers} process{'es' if workers > 1 else ''} x {threads} threads")
    click.echo(f"demo logins: {DEMO_LOGINS}")


def _worker(index: int, sock: socket.socket, settings: Settings, config: dict[str, Any]) -> None:
    """One forked worker: its own app (engine, caches) over the shared socket; never returns."""
    from waitress import create_server

    from callcenter import create_app

    code = 0
    try:
        app = create_app({**config, "AMI_AGENT_EVENTS": index == 0})
        server = create_server(app, sockets=[sock], threads=settings.web_threads, ident="hotline",
                               clear_untrusted_proxy_headers=True)
        run_server(app, server, settings, sweep=index == 0)
    except BaseException:
        log.exception("web worker %d failed", index)
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


class Workers:
    """The parent of ``--workers N``: starts the workers, starts a dead one again, stops them all."""

    def __init__(self, count: int, sock: socket.socket, settings: Settings, config: dict[str, Any]) -> None:
        self.count, self.sock, self.settings, self.config = count, sock, settings, config
        self.running: dict[int, tuple[int, float]] = {}  # pid → (worker index, started at)
        self.stopping = False
        self._killer: threading.Timer | None = None

    def start(self, index: int) -> None:
        """Fork worker ``index`` (not once stopping).

        SIGTERM and SIGINT are held back around the fork: a stop arriving meanwhile is handled
        once the new worker is in ``running`` (so it is asked to stop too), and the child never
        runs the parent's handler before its own are in place.
        """
        if self.stopping:
            return
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        try:
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
                _worker(index, self.sock, self.settings, self.config)
            self.running[pid] = (index, time.monotonic())
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def stop(self, signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        """Ask every worker to finish (they close their servers and exit); kill what is left after a grace time."""
        self.stopping = True
        for pid in list(self.running):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self._killer is None:
            self._killer = threading.Timer(STOP_GRACE_SECONDS, self._kill_remaining)
            self._killer.daemon = True
            self._killer.start()

    def _kill_remaining(self) -> None:
        for pid, (index, _started) in list(self.running.items()):
            log.warning("web worker %d (pid %d) did not stop within %.0f s; killing it", index, pid,
                        STOP_GRACE_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def supervise(self) -> int:
        """Run until the workers are stopped; the exit code (1 after a start-up failure)."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for index in range(self.count):
            self.start(index)
        failed = False
        while self.running:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index, started = self.running.pop(pid, (-1, 0.0))
            if index < 0 or self.stopping:
                continue
            young = time.monotonic() - started < START_UP_SECONDS
            if young and os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
                log.error("web worker %d failed to start (exit status %d); stopping", index, os.WEXITSTATUS(status))
                failed = True
                self.stop()
                continue
            log.warning("web worker %d (pid %d) ended (wait status %s); starting it again", index, pid, status)
            if young:
                time.sleep(1.0)  # no tight loop of a worker killed as soon as it starts
            self.start(index)
        return 1 if failed else 0


@click.command("web")
@click.option("--host", help="Address to listen on (default: the web_host setting).")
@click.option("--port", type=int, help="TCP port (default: the web_port setting; 0 picks a free one).")
@click.option("--workers", type=int, help="Processes sharing the port (default: the web_workers setting, 1).")
@click.pass_context
def web(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the web console (agents, dispatch, providers, API) with threads, in one process or several."""
    settings = settings_of(ctx)
    count = settings.web_workers if workers is None else workers
    if count < 1 or count > 64:
        raise click.BadParameter(f"{count}: between 1 and 64 processes", param_hint="--workers / web_workers")
    if settings.web_threads < 1:
        raise click.BadParameter(f"{settings.web_threads}: at least 1 thread", param_hint="web_threads")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(process)d %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    bind_host = host or settings.web_host
    bind_port = settings.web_port if port is None else port
    if count == 1:
        from waitress import create_server

        app = build_app(settings)
        server = create_server(app, host=bind_host, port=bind_port, threads=settings.web_threads, ident="hotline",
                               clear_untrusted_proxy_headers=True)
        _announce(str(server.effective_host), int(server.effective_port), 1, settings.web_threads)
        run_server(app, server, settings, sweep=True)
        return
    migrate(settings)
    config = console_config(settings)
    sock = listening_socket(bind_host, bind_port)
    bound_host, bound_port = sock.getsockname()[:2]
    _announce(str(bound_host), int(bound_port), count, settings.web_threads)
    ctx.exit(Workers(count, sock, settings, config).supervise())
