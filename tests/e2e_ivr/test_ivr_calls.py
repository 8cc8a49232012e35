"""Real SIP calls through the sandbox Asterisk into the IVR: keypad path, hangup, emergency,
status, a killed FastAGI server, hostile caller IDs, simultaneous calls."""

from __future__ import annotations

import os
import signal
import threading
import time

from sqlalchemy import select

from hotline.config import Settings
from hotline.runtime import sessions_for
from hotline.simulator.calls import Simulator
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
    result = simulator.place_call(caller="13800000201", digits="w1.5,4,w1.5,1", hold=20)
    assert result.answered and result.variables["AGISTATUS"] == "SUCCESS"
    assert result.variables["HOTLINE_OUTCOME"] == "queued"
    assert result.variables["HOTLINE_CATEGORY"] == "DRAIN"
    assert result.variables["HOTLINE_QUEUE_NAME"] == "hotline-general"
    ticket = _ticket(ivr_store, result.variables["HOTLINE_TICKET"])
    assert ticket is not None and ticket.sub_service is not None and ticket.sub_service.code == "DRAIN-SEWER"
    assert ticket.priority is Priority.HIGH


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


def test_hostile_caller_id_name_reaches_a_ticket(simulator: Simulator, ivr_agi, ivr_store) -> None:  # type: ignore[no-untyped-def]
    name = 'x" "\\\\ HANGUP $(reboot) `id`'
    result = simulator.place_call(caller="13800000204", name=name, digits="w1.5,5,w1.5,1", hold=20)
    assert result.variables["HOTLINE_OUTCOME"] == "queued"
    assert _ticket(ivr_store, result.variables["HOTLINE_TICKET"]) is not None


def test_fastagi_server_killed_mid_call_still_queues_the_caller(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi_process) -> None:
    pending = simulator.start_call(caller="13800000205", digits="w3", hold=8)
    assert pending.answered(15)
    time.sleep(2.0)  # the caller is in the IVR's welcome
    os.kill(ivr_agi_process.pid, signal.SIGKILL)
    result = pending.result()
    assert result.variables.get("HOTLINE_QUEUE_NAME") == "hotline-general"


def test_ten_simultaneous_calls_all_produce_correct_tickets(simulator: Simulator, ivr_agi, ivr_store) -> None:  # type: ignore[no-untyped-def]
    choices = [("4", "1", "DRAIN-SEWER"), ("2", "1", "LOCK-DOOR"), ("3", "4", "UTIL-TRIP")]
    results: dict[int, object] = {}

    def place(i: int) -> None:
        category, service, _ = choices[i % len(choices)]
        results[i] = simulator.place_call(caller=f"1390000{i:04d}", digits=f"w1.5,{category},w1.5,{service}",
                                          hold=20)

    threads = [threading.Thread(target=place, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for i, result in results.items():
        ticket = _ticket(ivr_store, result.variables["HOTLINE_TICKET"])  # type: ignore[attr-defined]
        assert ticket is not None and ticket.sub_service is not None
        assert ticket.sub_service.code == choices[i % len(choices)][2]
    assert len(results) == 10
    engine, sessions = sessions_for(ivr_store)
    with sessions() as session:
        assert len(list(session.scalars(select(Ticket)))) >= 10
    engine.dispose()
