"""``hotline up``: set up and start the whole system on one machine, for a demo.

Steps, in order: migrate and seed the database; load a demo history into a database without calls
(``--demo-calls``, 20,000 by default); provision (once) and start the sandbox Asterisk; build the
prompts (cached); then run the long-lived processes (FastAGI server, web console, scheduler, the AMI
call-record listener) as children until Ctrl-C, when everything is stopped again.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

import click

from hotline.cli import SUBCOMMANDS, settings_of
from hotline.config import Settings
from hotline.sandbox.siteconf import SOFTPHONE, SOFTPHONE_SECRET
from models.seed import DEMO_ACCOUNTS, DEMO_PASSWORD


@dataclass(frozen=True)
class Step:
    """A one-shot set-up command (``args``), run when its subcommand exists."""

    title: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Service:
    """A long-lived process of the system."""

    name: str
    args: tuple[str, ...]


DEMO_CALLS = 20_000
SETUP_STEPS = [
    Step("database: migrate and seed", ("db", "seed")),
    Step("demo history: generate into a database without calls", ("demo-data", "--if-empty")),
    Step("asterisk: provision the sandbox (first run only)", ("asterisk", "provision")),
    Step("asterisk: start", ("asterisk", "start")),
    Step("prompts: render (cached)", ("prompts", "build")),
]
SERVICES = [
    Service("agi", ("agi",)),
    Service("web", ("web",)),
    Service("scheduler", ("scheduler",)),
    Service("calls", ("calls", "listen")),
]
TEARDOWN_STEPS = [Step("asterisk: stop", ("asterisk", "stop"))]


def _available(args: tuple[str, ...]) -> bool:
    return args[0] in SUBCOMMANDS


def _global_args(ctx: click.Context) -> list[str]:
    params = ctx.find_root().params
    out: list[str] = []
    if params.get("config_file"):
        out += ["--config", str(params["config_file"])]
    if params.get("data_dir"):
        out += ["--data-dir", str(params["data_dir"])]
    if params.get("database_url"):
        out += ["--database-url", str(params["database_url"])]
    for assignment in params.get("assignments") or ():
        out += ["--set", assignment]
    return out


def _hotline(global_args: list[str], args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "hotline.cli", *global_args, *args]


def _run_step(global_args: list[str], step: Step) -> None:
    click.secho(f"==> {step.title}", bold=True)
    result = subprocess.run(_hotline(global_args, step.args), check=False)
    if result.returncode != 0:
        raise click.ClickException(f"{step.title} failed (exit {result.returncode})")


def _step_args(step: Step, demo_calls: int) -> tuple[str, ...]:
    if step.args[0] == "demo-data":
        return (*step.args, "--calls", str(demo_calls))
    return step.args


def _print_welcome(settings: Settings, running: list[str]) -> None:
    click.secho("\n96345 hotline is running: " + ", ".join(running), fg="green", bold=True)
    if "web" in running:
        click.echo(f"  console:   http://{settings.web_host}:{settings.web_port}/")
    if "agi" in running:
        click.echo(f"  FastAGI:   agi://{settings.agi_host}:{settings.agi_port}/ivr")
    if "calls" in running:
        click.echo(f"  call records: listening to AMI on {settings.ami_host}:{settings.ami_port}")
    click.echo(f"  SIP:       {settings.sip_host}:{settings.sip_port} (dial 96345 from the simulator: "
               "hotline call 96345 --from 13800000001 --digits 1)")
    if settings.asterisk_mode == "sandbox":
        secret = settings.data_dir / "secrets" / SOFTPHONE_SECRET
        click.echo(f"  softphone: register user {SOFTPHONE} at {settings.sip_host}:{settings.sip_port} (UDP), "
                   f"password in {secret}, then dial 96345; agent seats agent01… use secrets/seat-agent01…")
    click.echo(f"  demo logins (password {DEMO_PASSWORD}): " + ", ".join(a[0] for a in DEMO_ACCOUNTS))
    click.echo("  Ctrl-C stops everything.")


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in children.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 10
    for process in children.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


@click.command()
@click.option("--without", multiple=True,
              type=click.Choice(["demo-data", "asterisk", "prompts", "agi", "web", "scheduler", "calls"]),
              help="Leave a part out (repeatable).")
@click.option("--demo-calls", default=DEMO_CALLS, show_default=True, type=click.IntRange(1, 50_000_000),
              help="Size of the demo history loaded on the first start (into a database without calls).")
@click.pass_context
def up(ctx: click.Context, without: tuple[str, ...], demo_calls: int) -> None:
    """Set up everything and run the whole hotline until Ctrl-C."""
    settings = settings_of(ctx)
    global_args = _global_args(ctx)
    for step in SETUP_STEPS:
        if _available(step.args) and step.args[0] not in without:
            _run_step(global_args, Step(step.title, _step_args(step, demo_calls)))
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for service in SERVICES:
            if _available(service.args) and service.name not in without:
                click.secho(f"==> starting {service.name}", bold=True)
                children[service.name] = subprocess.Popen(_hotline(global_args, service.args))
        _print_welcome(settings, list(children))
        while not stopping:
            dead = {name: p.returncode for name, p in children.items() if p.poll() is not None}
            if dead:
                click.secho(f"stopping: {', '.join(f'{n} exited ({c})' for n, c in dead.items())}", fg="red")
                break
            time.sleep(0.5)
    finally:
        click.secho("==> stopping", bold=True)
        _stop(children)
        for step in TEARDOWN_STEPS:
            if _available(step.args) and "asterisk" not in without:
                subprocess.run(_hotline(global_args, step.args), check=False)
    if not stopping:
        raise click.ClickException("a service stopped unexpectedly; see its output above")
