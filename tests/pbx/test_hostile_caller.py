"""Caller-controlled data reaches the hotline only as text (DESIGN.md §6.5)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path, PurePosixPath

from hotline.sandbox.records import read_cdr
from hotline.sandbox.runner import Sandbox
from hotline.simulator.calls import Simulator
from hotline.simulator.probe_agi import ProbeAgiServer, ProbeSession
from tests.pbx.helpers import eventually


def _canary() -> str:
    """A short path (caller names are truncated near 80 bytes) that an executed name would create."""
    return f"/tmp/pw{secrets.token_hex(3)}"


def _hostile_name(canary: str) -> str:
    return f'E"\\,;$[1+1]${{SHELL(touch {canary})}}$(touch {canary})`touch {canary}`,Hangup()张'


def _executed(pbx: Sandbox, canary: str) -> bool:
    """Whether the canary exists on the host (FastAGI side) or inside the sandbox root (Asterisk)."""
    return Path(canary).exists() or pbx.layout.host(PurePosixPath(canary)).exists()


def _sip_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _done(session: ProbeSession) -> None:
    session.set_variable("HOTLINE_OUTCOME", "status")


def test_hostile_caller_name_is_stored_only_as_text(simulator: Simulator, probe: ProbeAgiServer,
                                                    pbx: Sandbox) -> None:
    canary = _canary()
    name = _hostile_name(canary)
    probe.behaviours["ivr"] = lambda session: (session.collect_digits(3000, 1000), _done(session))
    result = simulator.place_call(caller="13800000021", name=name, digits="w1,4", hold=5)

    call = probe.wait_call(lambda c: c.env.get("agi_uniqueid") == result.hotline_uniqueid)
    received = call.env["agi_calleridname"]
    # What arrived is the SIP display name (quoted-string escapes kept, long names truncated by
    # Asterisk) and exactly what the channel holds; the call went on normally.
    assert received == result.hotline_caller_name
    assert len(received) >= 70 and name.startswith(_sip_unescape(received))
    assert "${SHELL(" in received and "$(touch" in received and "`touch" in received
    assert call.digits == "4"
    assert result.variables["AGISTATUS"] == "SUCCESS"
    assert result.variables["HOTLINE_OUTCOME_SAFE"] == "status"
    assert not _executed(pbx, canary), "a caller ID name was executed"
    cdr = eventually(lambda: [r for r in read_cdr(pbx.layout.cdr_csv)
                              if r["uniqueid"] == result.hotline_uniqueid])
    assert f"${{SHELL(touch {canary})}}" in cdr[0]["clid"]  # quoted and escaped again, as text


def test_hostile_caller_number_is_text_too(simulator: Simulator, probe: ProbeAgiServer) -> None:
    probe.behaviours["ivr"] = _done
    number = "138${SHELL(id)}'\"0;1"
    result = simulator.place_call(caller=number, name="x", hold=4)

    call = probe.wait_call(lambda c: c.env.get("agi_uniqueid") == result.hotline_uniqueid)
    assert "SHELL" in call.env["agi_callerid"] or call.env["agi_callerid"] in {"", "unknown"}
    assert result.variables["AGISTATUS"] == "SUCCESS"


def test_a_newline_in_the_caller_name_never_reaches_the_dialplan(simulator: Simulator, probe: ProbeAgiServer,
                                                                 pbx: Sandbox) -> None:
    """A display name with a line break makes a malformed INVITE: the hotline's SIP stack drops it
    before any channel exists, so nothing of it reaches the dialplan, AGI or the records."""
    canary = _canary()
    name = f"Evil\r\nagi_network_script: evil\n\n${{SHELL(touch {canary})}}"
    result = simulator.place_call(caller="13800000022", name=name, ring=3)

    assert not result.answered
    assert result.hotline_uniqueid == ""
    assert not [c for c in probe.calls if c.env.get("agi_callerid") == "13800000022"]
    assert not _executed(pbx, canary)
    assert "PJSIP syntax error exception when parsing 'From' header" in pbx.layout.full_log.read_text()
    # The hotline is unharmed: the next call goes through.
    probe.behaviours["ivr"] = _done
    assert simulator.place_call(caller="13800000023", hold=3).variables["AGISTATUS"] == "SUCCESS"
