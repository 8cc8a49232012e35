"""The sandbox and simulator pieces that need no Asterisk: scripts, site files, AMI framing."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import load_settings
from hotline.sandbox.layout import check_instance, layout_for
from hotline.sandbox.provision import mmdebstrap_command
from hotline.sandbox.siteconf import SiteConfigError, SiteValues, asterisk_conf_text, pjsip_site
from hotline.simulator.ami import AmiError, encode_action, parse_message
from hotline.simulator.calls import Simulator, SimulatorError
from hotline.simulator.probe_agi import quote_argument
from hotline.simulator.script import ScriptError, parse_digits, step_variables


def test_digit_script_parses_into_steps() -> None:
    steps = parse_digits("1,w2,3,w0.5,*#,h")
    assert [s.encoded() for s in steps] == ["dtmf:1", "wait:2", "dtmf:3", "wait:0.5", "dtmf:*#", "hangup"]
    assert step_variables(steps[:1]) == {"SIM_STEPS": "1", "SIM_STEP_1": "dtmf:1"}


@pytest.mark.parametrize("bad", ["1;Hangup", "w", "x", "1,${X}", "w99999", "1\n2"])
def test_digit_script_refuses_anything_else(bad: str) -> None:
    with pytest.raises(ScriptError):
        parse_digits(bad)


def test_ami_refuses_header_values_that_would_break_framing() -> None:
    with pytest.raises(AmiError):
        encode_action("Originate", [("Variable", "A=1\r\nAction: Command")])
    assert encode_action("Ping", [("ActionID", "1")]) == b"Action: Ping\r\nActionID: 1\r\n\r\n"
    assert parse_message("Response: Success\r\nOutput: a\r\nOutput: b")["Output"] == "a\nb\n"


def test_probe_quotes_agi_arguments() -> None:
    assert quote_argument('a"b\\c') == '"a\\"b\\\\c"'
    with pytest.raises(ValueError):
        quote_argument("a\nHANGUP")


def _settings(tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    return load_settings(environ={}, overrides={"data_dir": tmp_path, "asterisk_root": tmp_path / "root",
                                                **overrides})


def test_site_values_refuse_what_is_not_an_address(tmp_path: Path) -> None:
    settings = _settings(tmp_path, sip_host="127.0.0.1\n[evil]")
    with pytest.raises(SiteConfigError):
        SiteValues.from_settings(settings, layout_for(settings))
    with pytest.raises(ValueError):
        check_instance("../etc")


def test_site_pjsip_carries_machine_values_and_the_simulator_only_in_the_sandbox(tmp_path: Path) -> None:
    settings = _settings(tmp_path, sip_port=5070, agent_seats=2)
    values = SiteValues.from_settings(settings, layout_for(settings))
    text = pjsip_site(values)
    assert "bind = 127.0.0.1:5070" in text and "[agent02](agent-phone)" in text
    assert '#include "sandbox/pjsip_sim.conf"' in text
    system = _settings(tmp_path, asterisk_mode="system", carrier_host="192.0.2.10")
    production = pjsip_site(SiteValues.from_settings(system, layout_for(system)))
    assert "sandbox/" not in production and "sim-" not in production
    assert "contact = sip:192.0.2.10:5060" in production
    # The resident softphone exists only in the sandbox, with a password, entering from-carrier.
    assert "[softphone](carrier-endpoint)" in text and "context = from-carrier" in text
    assert "username = softphone" in text and "softphone" not in production


def test_asterisk_conf_gets_the_instances_directories(tmp_path: Path) -> None:
    settings = _settings(tmp_path, asterisk_instance="unit")
    layout = layout_for(settings)
    text = asterisk_conf_text("[directories]\nastetcdir => /etc/asterisk\n[options]\nx = 1\n", layout)
    assert f"astetcdir => {layout.etc}" in text and "x = 1" in text


def test_mmdebstrap_names_no_mirror() -> None:
    command = mmdebstrap_command("sid", Path("/tmp/root"))
    assert command[-2:] == ["sid", "/tmp/root"]
    assert not [arg for arg in command if "://" in arg or arg.endswith(".org")]


class _RecordingAmi:
    """Records actions (the refusals below must never reach one)."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, object]] = []

    def subscribe(self, callback: object) -> object:
        return lambda: None

    def action(self, name: str, headers: object = None, **kwargs: object) -> dict[str, str]:
        self.actions.append((name, headers or kwargs))
        return {"Response": "Success"}

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("caller", "name"), [
    ("13800000001", 'Bob" <666>'), ("13800000001", "a\nb"), ("13800000001", "${SHELL}"),
    ("13800000001", "张三"), ("+8613800000001", ""), ("138 0000", ""), ("", ""),
])
def test_direct_call_refuses_caller_ids_it_cannot_carry_plainly(caller: str, name: str) -> None:
    ami = _RecordingAmi()
    simulator = Simulator(None, ami)  # type: ignore[arg-type]
    with pytest.raises(SimulatorError):
        simulator.start_call(caller=caller, name=name, digits="1", direct=True)
    with pytest.raises(SimulatorError):
        simulator.start_call(caller="13800000001", trunk="to-somewhere", digits="1")
    simulator.close()
    assert ami.actions == []


def test_direct_call_originates_the_carrier_channel_with_its_sim_header() -> None:
    ami = _RecordingAmi()
    simulator = Simulator(None, ami)  # type: ignore[arg-type]
    pending = simulator.start_call(caller="13800000001", name="Li Lei", digits="w1,4", ring=20,
                                   trunk="to-hotline-bench", direct=True)
    (name, headers), = ami.actions
    sent = dict(h for h in headers if h[0] != "Variable")  # type: ignore[union-attr]
    variables = [h[1] for h in headers if h[0] == "Variable"]  # type: ignore[union-attr]
    assert name == "Originate" and sent["Channel"] == "PJSIP/96345@to-hotline-bench"
    assert sent["CallerID"] == '"Li Lei" <13800000001>' and sent["Timeout"] == "20000"
    assert f"PJSIP_HEADER(add,X-Hotline-Sim)={pending.sim_id}" in variables
    assert f"SIM_ID={pending.sim_id}" in variables and "SIM_STEP_2=dtmf:4" in variables
    simulator.close()
