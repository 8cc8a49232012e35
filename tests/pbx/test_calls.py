"""Real SIP calls from the simulated carrier into the hotline (issue 3's required tests)."""

from __future__ import annotations

from pathlib import Path

from hotline.sandbox.records import read_cdr, read_queue_log
from hotline.sandbox.runner import Sandbox
from hotline.simulator.calls import Simulator
from hotline.simulator.probe_agi import ProbeAgiServer, ProbeSession
from hotline.simulator.script import wait
from tests.pbx.helpers import eventually, tone_wav


def _route_to_general(session: ProbeSession) -> None:
    session.set_variable("HOTLINE_QUEUE", "general")
    session.set_variable("HOTLINE_OUTCOME", "agent")


def _done(session: ProbeSession) -> None:
    session.set_variable("HOTLINE_OUTCOME", "status")


def test_call_reaches_fastagi_route_with_the_callers_number(simulator: Simulator,
                                                            probe: ProbeAgiServer) -> None:
    probe.behaviours["ivr"] = _done
    result = simulator.place_call(number="96345", caller="13800000001", name="Zhang San", hold=5)

    call = probe.wait_call(lambda c: c.env.get("agi_uniqueid") == result.hotline_uniqueid)
    assert result.answered and result.ended_by == "hotline"
    assert call.route == "ivr"
    assert call.env["agi_callerid"] == "13800000001"
    assert call.env["agi_calleridname"] == "Zhang San"
    assert call.env["agi_extension"] == "96345"
    assert call.env["agi_channel"].startswith("PJSIP/carrier-")
    assert result.variables["AGISTATUS"] == "SUCCESS"


def test_dtmf_pressed_by_the_simulator_arrives(simulator: Simulator, probe: ProbeAgiServer) -> None:
    result = simulator.place_call(caller="13800000002", digits="w1,2,w0.5,3,*", hold=4)

    call = probe.wait_call(lambda c: c.env.get("agi_uniqueid") == result.hotline_uniqueid)
    assert result.digits_sent == "23*"
    assert call.digits == "23*"
    assert result.variables["HOTLINE_PROBE_DIGITS"] == "23*"


def test_ivr_channel_variables_choose_the_queue(simulator: Simulator, probe: ProbeAgiServer) -> None:
    def to_legal(session: ProbeSession) -> None:
        session.set_variable("HOTLINE_TICKET", "T-1")
        session.set_variable("HOTLINE_PRIORITY", "2")
        session.set_variable("HOTLINE_QUEUE", "legal")
        session.set_variable("HOTLINE_OUTCOME", "queued")

    probe.behaviours["ivr"] = to_legal
    result = simulator.place_call(caller="13800000003", hold=3)
    assert result.variables["HOTLINE_QUEUE_NAME"] == "hotline-legal"
    assert result.variables["QUEUE_PRIO"] == "2"


def test_an_unknown_queue_from_the_ivr_falls_back_to_general(simulator: Simulator,
                                                             probe: ProbeAgiServer) -> None:
    def bad_queue(session: ProbeSession) -> None:
        session.set_variable("HOTLINE_QUEUE", "legal,1)|Hangup(")
        session.set_variable("HOTLINE_PRIORITY", "99999;x")
        session.set_variable("HOTLINE_OUTCOME", "queued")

    probe.behaviours["ivr"] = bad_queue
    result = simulator.place_call(caller="13800000004", hold=3)
    assert result.variables["HOTLINE_QUEUE_NAME"] == "hotline-general"
    assert result.variables["QUEUE_PRIO"] == "0"


def test_fastagi_down_lands_in_general_queue_answered_by_an_agent_phone(
        simulator: Simulator, probe: ProbeAgiServer) -> None:
    probe.stop()
    simulator.agent_answers("agent01", ring=0.3, hold=2)
    simulator.login_agent("agent01")
    try:
        result = simulator.place_call(caller="13800000005", hold=15)
    finally:
        simulator.logout_agent("agent01")
        simulator.agent_never_answers("agent01")

    assert result.variables["AGISTATUS"] == "FAILURE"
    assert result.variables["HOTLINE_DEGRADED"] == "1"
    assert result.queue == "hotline-general"
    assert result.agent == "agent01"
    assert result.queue_joined_after is not None and result.queue_joined_after < 2.0  # no dead air
    assert result.ended_by == "hotline"  # the agent hung up after talking
    end = simulator.wait_callee_end("agent", "agent01")
    assert end["EndedBy"] == "callee"
    assert probe.calls == []


def test_an_agent_answers_a_call_the_ivr_queued(simulator: Simulator, probe: ProbeAgiServer,
                                                pbx: Sandbox) -> None:
    probe.behaviours["ivr"] = _route_to_general
    simulator.agent_answers("agent02", ring=0.3, hold=2)
    simulator.login_agent("agent02")
    try:
        result = simulator.place_call(caller="13800000006", hold=15)
    finally:
        simulator.logout_agent("agent02")
        simulator.agent_never_answers("agent02")

    assert result.agent == "agent02"
    rows = [r for r in read_queue_log(pbx.layout.queue_log) if r.callid == result.hotline_uniqueid]
    events = [r.event for r in rows]
    assert events[:1] == ["DID"] and "ENTERQUEUE" in events and "CONNECT" in events
    assert any(e in events for e in ("COMPLETEAGENT", "COMPLETECALLER"))
    recording = pbx.layout.recordings_host / f"{result.hotline_uniqueid}.wav"
    assert eventually(lambda: recording.exists() and recording.stat().st_size > 1000)


def test_no_agent_logged_in_the_caller_leaves_a_message(simulator: Simulator, probe: ProbeAgiServer,
                                                        pbx: Sandbox, tmp_path: Path) -> None:
    probe.behaviours["ivr"] = _route_to_general
    speech = tone_wav(tmp_path / "message.wav", seconds=2.0)
    # The caller speaks after the 'leave a message' prompt (vm-intro, 5.7 s) and its beep.
    result = simulator.place_call(caller="13800000007", steps=[wait(6.5)], say=speech, hold=0.5)

    assert result.variables["QUEUESTATUS"] == "JOINEMPTY"
    message = result.variables["HOTLINE_MESSAGE"]
    assert message == f"msg-{result.hotline_uniqueid}.wav"
    recording = pbx.layout.recordings_host / message
    assert eventually(lambda: recording.exists() and recording.stat().st_size > 8000)

    def callback_row() -> object:
        rows = read_queue_log(pbx.layout.queue_log)
        mine = (r for r in rows if r.callid == result.hotline_uniqueid and r.event == "CALLBACKMSG")
        return next(mine, None)

    row = eventually(callback_row)
    assert row.queue == "hotline-general" and row.data[0] == message
    cdr = eventually(lambda: [r for r in read_cdr(pbx.layout.cdr_csv)
                              if r["uniqueid"] == result.hotline_uniqueid])
    assert cdr[0]["userfield"] == "callback-message"


def test_a_call_to_another_number_is_rejected(simulator: Simulator, probe: ProbeAgiServer,
                                              pbx: Sandbox) -> None:
    result = simulator.place_call(number="12345", caller="13800000008", ring=5)

    assert not result.answered
    assert result.dial_status in {"CHANUNAVAIL", "CONGESTION"}
    assert result.hangup_cause == "1"  # unallocated number (SIP 404)
    assert probe.calls == []
    rows = eventually(lambda: [r for r in read_cdr(pbx.layout.cdr_csv)
                               if r["dst"] == "12345" and r["dcontext"] == "from-carrier"])
    assert rows[0]["disposition"] in {"NO ANSWER", "FAILED", "CONGESTION", "BUSY"}


def test_the_carrier_cannot_reach_an_outbound_route(simulator: Simulator, probe: ProbeAgiServer) -> None:
    simulator.resident_answers("13900000001", ring=0.2, hold=1)
    try:
        result = simulator.place_call(number="13900000001", caller="13800000009", ring=5)
    finally:
        simulator.resident_never_answers("13900000001")
    assert not result.answered and result.hangup_cause == "1"
    assert not [e for e in simulator.user_events if e.get("Callee") == "13900000001"]


def test_queue_log_and_cdr_rows_exist_for_each_call(simulator: Simulator, probe: ProbeAgiServer,
                                                    pbx: Sandbox) -> None:
    probe.behaviours["ivr"] = _done
    results = [simulator.start_call(caller=f"1380000001{n}", hold=5).result() for n in range(3)]

    for result in results:
        assert result.hotline_uniqueid
        rows = [r for r in read_queue_log(pbx.layout.queue_log) if r.callid == result.hotline_uniqueid]
        assert [r.event for r in rows][:1] == ["DID"]
        assert rows[0].data == ("96345",)
        cdr = eventually(lambda r=result: [c for c in read_cdr(pbx.layout.cdr_csv)
                                           if c["uniqueid"] == r.hotline_uniqueid])
        assert cdr[0]["linkedid"] == result.hotline_linkedid
        assert cdr[0]["src"] == result.caller_number and cdr[0]["channel"] == result.hotline_channel
        assert cdr[0]["disposition"] == "ANSWERED"


def test_outbound_follow_up_call_reaches_a_simulated_resident(simulator: Simulator,
                                                              probe: ProbeAgiServer) -> None:
    def survey(session: ProbeSession) -> None:
        session.set_variable("HOTLINE_SURVEY_SCORE", session.collect_digits(5000, 1000))

    probe.behaviours["survey"] = survey
    simulator.resident_answers("13900000002", ring=0.5, digits="w1,5", hold=3)
    try:
        reply = simulator.ami.action("Originate", Channel="Local/13900000002@hotline-outbound",
                                     Context="hotline-followup", Exten="s", Priority="1", Async="true",
                                     CallerID="96345 <96345>")
        assert reply["Response"] == "Success"
        call = probe.wait_call(lambda c: c.route == "survey", timeout=15)
        assert eventually(call.finished.is_set, timeout=15)
    finally:
        simulator.resident_never_answers("13900000002")
    assert call.digits == "5"
    end = simulator.wait_callee_end("resident", "13900000002")
    assert end["Sent"] == "5"


def test_an_agent_logs_in_and_out_from_the_phone(simulator: Simulator, pbx: Sandbox) -> None:
    simulator.agent_dials("agent03", "*71", hold=2)
    assert eventually(lambda: "agent03" in pbx.cli("queue show hotline-general"), timeout=10)
    simulator.agent_dials("agent03", "*73", hold=2)
    assert eventually(lambda: "paused" in next((line for line in pbx.cli("queue show hotline-general")
                                                .splitlines() if "agent03" in line), ""), timeout=10)
    simulator.agent_dials("agent03", "*72", hold=2)
    assert eventually(lambda: "agent03" not in pbx.cli("queue show hotline-general"), timeout=10)
