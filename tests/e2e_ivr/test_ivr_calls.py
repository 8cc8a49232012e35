"""Real SIP calls through the sandbox Asterisk into the IVR: keypad path, hangup, emergency,
status, a killed FastAGI server, hostile caller IDs, simultaneous calls."""

from __future__ import annotations

import os
import signal
import time

from agi_scripts.store import load_catalogue
from hotline.config import Settings
from hotline.runtime import sessions_for
from hotline.sandbox.runner import Sandbox
from hotline.simulator.calls import Simulator
from ivr.prompts import all_prompts, digit_keys
from models.calls import call_by_uniqueid
from models.entities import Ticket
from models.enums import CallOutcome, Priority
from models.tickets import ticket_by_number


def _ticket(settings: Settings, number: str) -> Ticket | None:
    engine, sessions = sessions_for(settings)
    try:
        with sessions() as session:
            ticket = ticket_by_number(session, number)
            if ticket is not None:
                _ = ticket.sub_service, ticket.category
            return ticket
    finally:
        engine.dispose()


def test_keypad_path_to_a_ticket_and_the_right_queue(simulator: Simulator, ivr_agi, ivr_store) -> None:  # type: ignore[no-untyped-def]
    result = simulator.place_call(caller="13800000201", digits="w1.5,4,w1.5,1", hold=32)
    assert result.answered and result.variables["AGISTATUS"] == "SUCCESS"
    assert result.variables["HOTLINE_OUTCOME"] == "queued"
    assert result.variables["HOTLINE_CATEGORY"] == "DRAIN"
    assert result.variables["HOTLINE_QUEUE_NAME"] == "hotline-general"
    ticket = _ticket(ivr_store, result.variables["HOTLINE_TICKET"])
    assert ticket is not None and ticket.sub_service is not None and ticket.sub_service.code == "DRAIN-SEWER"
    assert ticket.priority is Priority.HIGH


def test_direct_call_from_the_carrier_channel_runs_the_same_ivr(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi, ivr_store, pbx: Sandbox) -> None:
    """The benchmark's lean call (the carrier's SIP channel originated itself, no Local channels or
    bridge) reaches the IVR with its caller number, is followed on the hotline side through its
    X-Hotline-Sim header, and gets the same ticket as a call placed through sim-dial."""
    before = _sim_dials(pbx)
    pending = simulator.start_call(caller="13800000210", digits="w1.5,4,w1.5,1", hold=32, direct=True)
    channel, uniqueid = pending.hotline_side(timeout=15)
    result = pending.result()
    assert channel.startswith("PJSIP/carrier-") and result.answered and result.ended_by == "hotline"
    assert result.variables["HOTLINE_OUTCOME"] == "queued", result
    ticket = _ticket(ivr_store, result.variables["HOTLINE_TICKET"])
    assert ticket is not None and ticket.sub_service is not None and ticket.sub_service.code == "DRAIN-SEWER"
    engine, sessions = sessions_for(ivr_store)
    try:
        with sessions() as session:
            call = call_by_uniqueid(session, uniqueid)
            assert call is not None and call.caller_number_raw == "13800000210"
    finally:
        engine.dispose()
    assert _sim_dials(pbx) == before  # no Dial() in sim-dial for it


def _sim_dials(pbx: Sandbox) -> int:
    """How many calls the simulator placed through sim-dial's Dial() (Asterisk's full log)."""
    text = pbx.layout.full_log.read_text(encoding="utf-8", errors="replace")
    return sum(1 for line in text.splitlines() if "@sim-dial:" in line and "Dial(" in line)


def test_prompts_played_before_go_in_one_read_and_one_playback(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi, ivr_store, pbx: Sandbox) -> None:
    """A caller keying ahead through a page Asterisk plays with one Read(): no key is lost between items,
    and the ticket number comes with one Playback() (the commands a busy server needs, on a real Asterisk)."""
    engine, sessions = sessions_for(ivr_store)
    try:
        keys = all_prompts(load_catalogue(sessions))
    finally:
        engine.dispose()
    for key in keys:  # as if earlier calls had played them all one by one
        ivr_agi.prompts.add_present("zh", key)
    reads_before = _applications(pbx, "Read", "hotline/svc/DRAIN-SEWER")
    result = simulator.place_call(caller="13800000209", digits="w1.5,4,w1.5,1", hold=32)
    assert result.variables["HOTLINE_OUTCOME"] == "queued", result
    number = result.variables["HOTLINE_TICKET"]
    ticket = _ticket(ivr_store, number)
    assert ticket is not None and ticket.sub_service is not None and ticket.sub_service.code == "DRAIN-SEWER"
    assert _applications(pbx, "Read", "hotline/svc/DRAIN-SEWER") == reads_before + 1
    spoken = "&".join(f"hotline/{key}" for key in ["ticket_opened", *digit_keys(number)])
    assert _applications(pbx, "Playback", spoken) == 1
    assert _applications(pbx, "MSet", f"HOTLINE_TICKET={number},") == 1


def _applications(pbx: Sandbox, application: str, options_part: str) -> int:
    """How often the AGI ran ``application`` with options containing ``options_part`` (Asterisk's full log)."""
    text = pbx.layout.full_log.read_text(encoding="utf-8", errors="replace")
    marker = f"AGI Script Executing Application: ({application}) Options: ("
    return sum(1 for line in text.splitlines() if marker in line and options_part in line.split(marker, 1)[1])


def test_hangup_in_the_menu_leaves_an_abandoned_record(simulator: Simulator, ivr_agi, ivr_store) -> None:  # type: ignore[no-untyped-def]
    result = simulator.place_call(caller="13800000202", digits="w1.5,4,w1,h", hold=1)
    assert result.hotline_uniqueid
    engine, sessions = sessions_for(ivr_store)
    deadline = time.monotonic() + 10
    try:
        while True:
            with sessions() as session:
                record = call_by_uniqueid(session, result.hotline_uniqueid)
                if record is not None and record.outcome is CallOutcome.ABANDONED_IVR:
                    assert record.ticket_id is None and record.ivr_path[-1]["digits"].startswith("4")
                    break
            assert time.monotonic() < deadline, "no abandoned-in-IVR record"
            time.sleep(0.2)
    finally:
        engine.dispose()


def test_zero_zero_is_an_emergency_in_the_emergency_queue(simulator: Simulator, ivr_agi, ivr_store) -> None:  # type: ignore[no-untyped-def]
    result = simulator.place_call(caller="13800000203", digits="w1.5,0,w0.3,0", hold=15)
    assert result.variables["HOTLINE_OUTCOME"] == "emergency"
    assert result.variables["HOTLINE_QUEUE_NAME"] == "hotline-emergency"
    ticket = _ticket(ivr_store, result.variables["HOTLINE_TICKET"])
    assert ticket is not None and ticket.priority is Priority.EMERGENCY


def test_fastagi_server_killed_mid_call_still_queues_the_caller(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi_process) -> None:
    pending = simulator.start_call(caller="13800000205", digits="w3", hold=8)
    assert pending.answered(15)
    time.sleep(2.0)  # the caller is in the IVR's welcome
    os.kill(ivr_agi_process.pid, signal.SIGKILL)
    result = pending.result()
    assert result.variables.get("HOTLINE_QUEUE_NAME") == "hotline-general"


def test_fifty_simultaneous_calls_all_produce_correct_tickets(simulator: Simulator, ivr_agi, ivr_store) -> None:  # type: ignore[no-untyped-def]
    choices = [("4", "1", "DRAIN-SEWER"), ("2", "1", "LOCK-DOOR"), ("3", "4", "UTIL-TRIP"), ("1", "2", "APPL-FRIDGE")]
    pending = [simulator.start_call(caller=f"1390001{i:04d}", hold=40,
                                    digits=f"w1.5,{choices[i % 4][0]},w1.5,{choices[i % 4][1]}")
               for i in range(50)]
    results = [call.result() for call in pending]
    numbers = [result.variables.get("HOTLINE_TICKET") for result in results]
    missing = [r.ivr_variables() for r in results if not r.variables.get("HOTLINE_TICKET")]
    assert all(numbers) and len(set(numbers)) == 50, missing
    for i, result in enumerate(results):
        assert result.variables["HOTLINE_OUTCOME"] == "queued"
        opened = _ticket(ivr_store, result.variables["HOTLINE_TICKET"])
        assert opened is not None and opened.sub_service is not None
        assert opened.sub_service.code == choices[i % 4][2] and opened.contact_number == f"+861390001{i:04d}"
    assert ivr_agi.stats.failed == 0 and ivr_agi.stats.peak_active >= 40


HOSTILE = {
    "quotes": ("13800000261", 'x" "\\ HANGUP\\" EXEC System "reboot'),
    "shell": ("13800000262", "$(reboot) `id` ${HOTLINE_AGI} ; rm -rf /"),
    "4kb": ("13800000263", "名" * 1400),  # 4.2 KB of UTF-8
    "number": ('138"00\\00$(id)', "Resident"),
}


def test_hostile_caller_numbers_and_names_never_reach_a_command(simulator: Simulator, ivr_agi, ivr_store) -> None:  # type: ignore[no-untyped-def]
    pending = {name: simulator.start_call(caller=number, name=caller_name, digits="w1.5,5,w1.5,1", hold=36)
               for name, (number, caller_name) in HOSTILE.items()}
    for name, call in pending.items():
        result = call.result()
        assert result.answered, (name, result)
        assert result.variables.get("HOTLINE_OUTCOME") == "queued", (name, result.ivr_variables())
        record = call_by_uniqueid_in(ivr_store, result.hotline_uniqueid)
        assert record is not None and record.ticket_id is not None
        assert record.caller_name is None or (len(record.caller_name) <= 256 and "\n" not in record.caller_name)
        if name == "4kb":  # sent whole; Asterisk's PJSIP layer keeps under 80 bytes of a display name
            assert 0 < len(result.hotline_caller_name.encode()) < 80 and set(result.hotline_caller_name) == {"名"}
    assert ivr_agi.stats.failed == 0  # every AGI command was framed; none was refused or misparsed


def call_by_uniqueid_in(settings: Settings, uniqueid: str):  # type: ignore[no-untyped-def]
    engine, sessions = sessions_for(settings)
    try:
        with sessions() as session:
            return call_by_uniqueid(session, uniqueid)
    finally:
        engine.dispose()
