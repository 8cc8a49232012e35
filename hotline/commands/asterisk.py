"""``hotline asterisk provision|start|stop|status|cli``: the sandbox Asterisk (or the operator's)."""

from __future__ import annotations

import json

import click

from hotline.cli import settings_of


def _sandbox(ctx: click.Context):  # type: ignore[no-untyped-def]
    from hotline.sandbox.runner import Sandbox

    return Sandbox(settings_of(ctx))


def _progress(line: str) -> None:
    click.echo(line, err=True)


@click.group("asterisk")
def asterisk() -> None:
    """Provision, run and drive the Asterisk 22 sandbox (or an Asterisk you installed)."""


@asterisk.command("provision")
@click.option("--force", is_flag=True, help="Rebuild the root even when a complete one is cached.")
@click.pass_context
def provision(ctx: click.Context, force: bool) -> None:
    """Build Asterisk 22 from Debian's packages into the cached root (once; about 30 s)."""
    from hotline.sandbox.provision import ProvisionError

    try:
        _sandbox(ctx).provision(_progress, force=force)
    except ProvisionError as exc:
        raise click.ClickException(str(exc)) from None


@asterisk.command("start")
@click.pass_context
def start(ctx: click.Context) -> None:
    """Write the configuration (asterisk_conf/ + site files) and start Asterisk in the background."""
    from hotline.sandbox.provision import ProvisionError
    from hotline.sandbox.runner import SandboxError
    from hotline.sandbox.siteconf import SiteConfigError

    try:
        _sandbox(ctx).start(_progress)
    except (SandboxError, ProvisionError, SiteConfigError) as exc:
        raise click.ClickException(str(exc)) from None


@asterisk.command("stop")
@click.pass_context
def stop(ctx: click.Context) -> None:
    """Stop Asterisk cleanly (nothing stays mounted or running)."""
    from hotline.sandbox.runner import SandboxError

    try:
        stopped = _sandbox(ctx).stop()
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("Asterisk stopped" if stopped else "Asterisk was not running")


@asterisk.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Whether Asterisk runs, with its version, uptime and channels."""
    from hotline.sandbox.runner import SandboxError

    try:
        report = _sandbox(ctx).status()
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    if not report.running:
        click.echo(f"Asterisk instance {report.instance!r} is not running")
        ctx.exit(3)
    click.echo(f"Asterisk instance {report.instance!r} running (pid {report.pid})")
    for line in (report.version, report.uptime, report.channels):
        click.echo(f"  {line}")


@asterisk.command("cli")
@click.argument("command")
@click.pass_context
def cli(ctx: click.Context, command: str) -> None:
    """Run one Asterisk CLI command, e.g. hotline asterisk cli "pjsip show endpoints"."""
    from hotline.sandbox.runner import SandboxError

    try:
        click.echo(_sandbox(ctx).cli(command), nl=False)
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None
