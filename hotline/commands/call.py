"""``hotline call``: place a simulated call from the simulated carrier into the running sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hotline.cli import settings_of


@click.command("call")
@click.argument("number", default="96345")
@click.option("--from", "caller", default="13800000001", show_default=True, help="Caller number.")
@click.option("--name", default="", help="Caller ID name (any text, hostile ones included).")
@click.option("--digits", default="", help='Keys to press once answered: "1,w2,3" = 1, wait 2 s, 3.')
@click.option("--say", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A WAV file the caller plays after the digits.")
@click.option("--hold", type=float, default=30.0, show_default=True,
              help="Seconds to stay on the line after the digits before hanging up.")
@click.option("--ring", type=int, default=30, show_default=True, help="Seconds to wait for an answer.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def call(ctx: click.Context, number: str, caller: str, name: str, digits: str, say: Path | None,
         hold: float, ring: int, as_json: bool) -> None:
    """Call NUMBER (default 96345) through the simulated carrier and report what happened."""
    from hotline.sandbox.runner import Sandbox
    from hotline.simulator.ami import AmiError
    from hotline.simulator.calls import Simulator, SimulatorError
    from hotline.simulator.script import ScriptError

    sandbox = Sandbox(settings_of(ctx))
    if sandbox.pid() is None:
        raise click.ClickException("Asterisk is not running: start it with `hotline asterisk start`")
    try:
        simulator = Simulator.connect(sandbox)
    except (OSError, AmiError) as exc:
        raise click.ClickException(f"cannot reach the sandbox's AMI: {exc}") from None
    try:
        result = simulator.place_call(number=number, caller=caller, name=name, digits=digits, say=say,
                                      hold=hold, ring=ring)
    except (SimulatorError, ScriptError, AmiError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        simulator.close()
    if as_json:
        report = result.as_dict()
        report["ivr_variables"] = result.ivr_variables()
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    click.echo(f"call to {number} from {caller}: " + ("answered" if result.answered else
                                                     f"not answered ({result.dial_status}, cause "
                                                     f"{result.hangup_cause})"))
    if result.answered:
        click.echo(f"  duration {result.duration:.1f} s, hung up by {result.ended_by or 'unknown'}")
        click.echo(f"  digits sent: {result.digits_sent or '-'}")
    if result.agent:
        click.echo(f"  answered by agent {result.agent} from {result.queue}")
    if result.hotline_uniqueid:
        click.echo(f"  hotline channel {result.hotline_channel} uniqueid {result.hotline_uniqueid} "
                   f"linkedid {result.hotline_linkedid}")
    for key, value in result.ivr_variables().items():
        click.echo(f"  {key}={value}")
