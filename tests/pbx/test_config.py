"""The configuration Asterisk loaded: no errors from our files, the promised security settings."""

from __future__ import annotations

from hotline.sandbox.runner import Sandbox
from hotline.sandbox.siteconf import default_conf_source


def _our_files() -> list[str]:
    source = default_conf_source()
    return sorted({p.name for p in source.rglob("*.conf")} | {"site/"})


def test_loaded_configuration_shows_no_error_for_our_files(pbx: Sandbox) -> None:
    """Nothing Asterisk logged while loading (up to "Asterisk Ready.") is an error, and no warning
    names one of our files."""
    lines = pbx.layout.full_log.read_text(errors="replace").splitlines()
    boot = lines[:next(i for i, line in enumerate(lines) if "Asterisk Ready." in line)]
    errors = [line for line in boot if "ERROR[" in line]
    warnings = [line for line in boot if "WARNING[" in line and any(name in line for name in _our_files())]
    assert errors == [] and warnings == []


def test_every_context_and_queue_is_loaded(pbx: Sandbox) -> None:
    dialplan = pbx.cli("dialplan show")
    for context in ("from-carrier", "hotline-route", "hotline-queues", "hotline-agents", "hotline-outbound",
                    "hotline-followup", "sim-dial", "sim-from-hotline", "bench-hotline"):
        assert f"'{context}'" in dialplan
    queues = pbx.cli("queue show")
    for queue in ("general", "emergency", "elderly", "legal", "psychological", "marriage"):
        assert f"hotline-{queue} has" in queues
    assert "carrier" in pbx.cli("pjsip show endpoints")
    softphone = pbx.cli("pjsip show endpoint softphone")
    assert "from-carrier" in softphone and "userpass" in pbx.cli("pjsip show auth softphone")


def test_inbound_context_includes_nothing(pbx: Sandbox) -> None:
    context = pbx.cli("dialplan show from-carrier")
    assert "Include =>" not in context
    assert "Dial(" not in context


def test_no_shell_or_system_is_loaded(pbx: Sandbox) -> None:
    assert "func_shell" not in pbx.cli("module show like func_shell")
    assert "app_system" not in pbx.cli("module show like app_system")
    assert "res_pjsip_endpoint_identifier_anonymous" not in pbx.cli("module show like anonymous")
    assert "Live dangerously:          No" in pbx.cli("core show settings") or \
        "live_dangerously" not in pbx.cli("core show settings").lower()


def test_ami_listens_on_loopback_with_least_rights(pbx: Sandbox) -> None:
    settings = pbx.cli("manager show settings")
    assert f"127.0.0.1:{pbx.settings.ami_port}" in settings or "127.0.0.1" in settings
    user = pbx.cli(f"manager show user {pbx.settings.ami_user}")
    write = next(line for line in user.splitlines() if "write perm" in line)
    assert "system" not in write and "command" not in write and "config" not in write
    assert "originate" in write


def test_status_reports_the_running_instance(pbx: Sandbox) -> None:
    status = pbx.status()
    assert status.running and status.pid == pbx.pid()
    assert "Asterisk 22" in status.version
