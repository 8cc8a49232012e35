"""The whole IVR through the FastAGI server over TCP, with the real ticket store (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from agi_scripts.routes import IvrDependencies, build_routes
from agi_scripts.store import CachedCatalogue, ModelsTicketSink, load_catalogue
from ivr.flow import FlowSettings
from models.calls import call_by_uniqueid
from models.entities import Call, Ticket
from models.enums import CallOutcome, Priority
from models.residents import register_resident
from models.tickets import ticket_by_number
from tests.agi.fake_asterisk import FakeAsterisk, FakeCaller, agi_env
from tests.plugins.db import Database

FAST = FlowSettings(speech=False, digit_timeout_ms=3000)


@pytest.fixture
def ivr_server(agi_server, db: Database):  # type: ignore[no-untyped-def]
    sink = ModelsTicketSink(db.sessions)
    deps = IvrDependencies(sink=sink, catalogue=CachedCatalogue(lambda: load_catalogue(db.sessions)),
                           flow=FAST, callbacks=sink)
    return agi_server(build_routes(deps))


def call(server, keys, uniqueid="1733300000.1", callerid="13800000001", script="ivr", **env):  # type: ignore[no-untyped-def]
    return FakeAsterisk(server.port, agi_env(script, uniqueid=uniqueid, callerid=callerid, **env),
                        FakeCaller(keys=keys)).run()


def played(fake: FakeAsterisk) -> list[str]:
    return fake.sounds(("STREAM FILE", "Read", "Playback"))


def test_keypad_path_to_a_ticket_in_the_right_category_and_queue(ivr_server, db: Database) -> None:  # type: ignore[no-untyped-def]
    fake = call(ivr_server, ["4", "1", None])
    variables = fake.caller.variables
    assert variables["HOTLINE_OUTCOME"] == "queued"
    assert variables["HOTLINE_CATEGORY"] == "DRAIN" and variables["HOTLINE_QUEUE"] == "general"
    assert variables["HOTLINE_PRIORITY"] == "10"  # DRAIN-SEWER is high priority
    assert variables["CHANNEL(language)"] == "zh"
    with db.session() as s:
        ticket = ticket_by_number(s, variables["HOTLINE_TICKET"])
        assert ticket is not None and ticket.sub_service is not None
        assert ticket.sub_service.code == "DRAIN-SEWER" and ticket.priority is Priority.HIGH
        assert ticket.contact_number == "+8613800000001"
        record = call_by_uniqueid(s, "1733300000.1")
        assert record is not None and record.ticket_id == ticket.id
        assert record.ivr_path[-1]["digits"] == "41"
    assert "svc/DRAIN-SEWER" not in played(fake)  # the caller barged in before the sub-menu was read


def test_hangup_in_a_menu_is_an_abandoned_record_without_a_ticket(agi_server, db: Database) -> None:  # type: ignore[no-untyped-def]
    sink = ModelsTicketSink(db.sessions)
    server = agi_server(build_routes(IvrDependencies(sink=sink, catalogue=lambda: load_catalogue(db.sessions),
                                                     flow=FAST)))
    FakeAsterisk(server.port, agi_env(uniqueid="1733300000.9"),
                 FakeCaller(keys=["4"], hangup_after=6)).run()
    with db.session() as s:
        record = call_by_uniqueid(s, "1733300000.9")
        assert record is not None and record.outcome is CallOutcome.ABANDONED_IVR
        assert record.ticket_id is None and record.ivr_path[-1]["digits"] == "4"
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0


def test_the_same_call_retried_makes_one_ticket(ivr_server, db: Database) -> None:  # type: ignore[no-untyped-def]
    first = call(ivr_server, ["5", "1", None], uniqueid="1733300001.1")
    second = call(ivr_server, ["5", "1", None], uniqueid="1733300001.1")
    assert first.caller.variables["HOTLINE_TICKET"] == second.caller.variables["HOTLINE_TICKET"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1


def test_emergency_zero_zero(ivr_server, db: Database) -> None:  # type: ignore[no-untyped-def]
    fake = call(ivr_server, ["0", "0"])
    variables = fake.caller.variables
    assert variables["HOTLINE_OUTCOME"] == "emergency"
    assert variables["HOTLINE_QUEUE"] == "emergency" and variables["HOTLINE_PRIORITY"] == "30"
    with db.session() as s:
        ticket = ticket_by_number(s, variables["HOTLINE_TICKET"])
        assert ticket is not None and ticket.priority is Priority.EMERGENCY
        assert ticket.category is not None and ticket.category.code == "EMERG"


@pytest.mark.parametrize("name", ['"; EXEC System "reboot', "back\\slash \\\" quote", "$(reboot) `id`",
                                  "名" * 1400, "line\\nbreak"])
def test_hostile_caller_id_names_and_numbers(ivr_server, db: Database, name: str) -> None:  # type: ignore[no-untyped-def]
    fake = call(ivr_server, ["5", "1", None], callerid='138"00\\00$(id)', agi_calleridname=name)
    assert fake.caller.variables["HOTLINE_OUTCOME"] == "queued"
    assert all(c[0] in {"ANSWER", "SET", "STREAM", "GET", "WAIT", "RECORD", "EXEC"} for c in fake.commands)
    executed = [c[1:] for c in fake.commands if c[0] == "EXEC"]
    assert {app for app, *_ in executed} <= {"Read", "Playback", "MSet"}, executed
    assert not any("System" in arg or "$(" in arg or "reboot" in arg for c in executed for arg in c)
    with db.session() as s:
        record = s.scalars(select(Call)).one()
        assert record.caller_name is not None and len(record.caller_name) <= 256


def test_vulnerable_resident_gets_priority(ivr_server, db: Database) -> None:  # type: ignore[no-untyped-def]
    with db.sessions.begin() as s:
        resident = register_resident(s, name="王阿婆", numbers=["13900000002"])
        resident.elderly_alone = True
    fake = call(ivr_server, [None, "5", "1", None], callerid="13900000002")
    assert "welcome_vulnerable" in played(fake)
    assert fake.caller.variables["HOTLINE_PRIORITY"] == "10"  # normal raised to high


def test_returning_caller_is_offered_the_open_ticket_and_hears_its_status(ivr_server) -> None:  # type: ignore[no-untyped-def]
    first = call(ivr_server, ["5", "1", None], uniqueid="1733300002.1")
    second = call(ivr_server, [None, "9", None], uniqueid="1733300002.2")
    assert "returning_open_ticket" in played(second)
    spoken = played(second)
    number = first.caller.variables["HOTLINE_TICKET"]
    start = spoken.index("status_prefix") + 1
    assert spoken[start:start + 10] == [f"num/{d}" for d in number]
    assert spoken[start + 10] == "status_accepted"
    assert second.caller.variables["HOTLINE_OUTCOME"] == "status"


def test_status_route_by_number(ivr_server) -> None:  # type: ignore[no-untyped-def]
    first = call(ivr_server, ["5", "1", None], uniqueid="1733300003.1")
    number = first.caller.variables["HOTLINE_TICKET"]
    fake = call(ivr_server, [number], uniqueid="1733300003.2", callerid="", script="status")
    assert "status_accepted" in played(fake) and fake.caller.variables["HOTLINE_OUTCOME"] == "status"


def test_callback_route_records_the_request(ivr_server, db: Database) -> None:  # type: ignore[no-untyped-def]
    first = call(ivr_server, ["5", "1", None], uniqueid="1733300004.1")
    number = first.caller.variables["HOTLINE_TICKET"]
    caller = FakeCaller(variables={"HOTLINE_TICKET": number, "HOTLINE_QUEUE_NAME": "hotline-general",
                                   "HOTLINE_QUEUE_ENTERED": str(int(time.time()) - 40)})
    fake = FakeAsterisk(ivr_server.port, agi_env("callback", uniqueid="1733300004.1", agi_arg_1="1"),
                        caller).run()
    assert fake.caller.variables["HOTLINE_OUTCOME"] == "callback"
    assert "callback_recorded" in played(fake)
    with db.session() as s:
        ticket = ticket_by_number(s, number)
        assert ticket is not None and ticket.callback_requested
        assert ticket.callback_queue == "hotline-general" and ticket.callback_queue_entered_at is not None


def test_fifty_simultaneous_calls_all_produce_correct_tickets(ivr_server, db: Database) -> None:  # type: ignore[no-untyped-def]
    choices = [("4", "1", "DRAIN-SEWER"), ("2", "1", "LOCK-DOOR"), ("7", "2", None), ("3", "4", "UTIL-TRIP")]
    fakes = []
    for i in range(50):
        category, service, _ = choices[i % len(choices)]
        env = agi_env(uniqueid=f"1733301000.{i}", callerid=f"1380000{i:04d}")
        caller = FakeCaller(keys=[category, service, None])
        fakes.append(FakeAsterisk(ivr_server.port, env, caller, timeout=60))
    threads = [threading.Thread(target=f.run) for f in fakes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(f.caller.variables.get("HOTLINE_OUTCOME") == "queued" for f in fakes), [
        f.caller.variables for f in fakes if f.caller.variables.get("HOTLINE_OUTCOME") != "queued"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 50
        for i, fake in enumerate(fakes):
            ticket = ticket_by_number(s, fake.caller.variables["HOTLINE_TICKET"])
            expected = choices[i % len(choices)][2]
            if expected:
                assert ticket is not None and ticket.sub_service is not None
                assert ticket.sub_service.code == expected
