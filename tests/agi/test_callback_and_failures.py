"""The ``callback`` route (a waiting caller pressed 1), its bad inputs, and how routes end when
something fails: over the FastAGI server with the real ticket store (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select

from agi_scripts.callbacks import parse_callback_request
from agi_scripts.routes import IvrDependencies, build_routes
from agi_scripts.store import ModelsTicketSink, load_catalogue
from ivr.flow import FlowSettings
from models.calls import call_by_uniqueid
from models.entities import Ticket
from models.enums import CallOutcome
from models.tickets import ticket_by_number
from tests.agi.fake_asterisk import FakeAsterisk, FakeCaller, agi_env, ivr_call
from tests.plugins.db import Database

FAST = FlowSettings(speech=False, digit_timeout_ms=3000, describe=False)
NOW = dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC)


def callback_call(server, uniqueid: str, key: str = "1", **variables: str) -> FakeAsterisk:  # type: ignore[no-untyped-def]
    env = agi_env("callback", uniqueid=uniqueid, callerid="13800000777", agi_arg_1=key)
    return FakeAsterisk(server.port, env, FakeCaller(variables=dict(variables))).run()


def played(fake: FakeAsterisk) -> list[str]:
    return fake.sounds()


def waiting_since(seconds: int) -> str:
    return str(int(time.time()) - seconds)


# -- the callback route ------------------------------------------------------------------------------

def test_the_callback_keeps_the_callers_turn(server, db: Database) -> None:  # type: ignore[no-untyped-def]
    number = ivr_call(server, ["4", "1", None], "1733400000.1").caller.variables["HOTLINE_TICKET"]
    entered = waiting_since(95)
    fake = callback_call(server, "1733400000.1", HOTLINE_TICKET=number, HOTLINE_QUEUE_NAME="hotline-general",
                         HOTLINE_QUEUE_ENTERED=entered)
    assert fake.caller.variables["HOTLINE_OUTCOME"] == "callback" and played(fake) == ["callback_recorded"]
    with db.session() as s:
        ticket = ticket_by_number(s, number)
        assert ticket is not None and ticket.callback_requested
        assert ticket.callback_queue == "hotline-general"
        assert ticket.callback_queue_entered_at == dt.datetime.fromtimestamp(int(entered), dt.UTC)
        assert ticket.callback_requested_at is not None
        assert ticket.events[-1].text == "callback requested" and ticket.events[-1].detail["queue"] == "hotline-general"
        record = call_by_uniqueid(s, "1733400000.1")
        assert record is not None and record.ivr_path[-1]["outcome"] == "callback"


def test_pressing_again_keeps_the_first_turn(server, db: Database) -> None:  # type: ignore[no-untyped-def]
    number = ivr_call(server, ["4", "1", None], "1733400001.1").caller.variables["HOTLINE_TICKET"]
    first = waiting_since(300)
    callback_call(server, "1733400001.1", HOTLINE_TICKET=number, HOTLINE_QUEUE_NAME="hotline-general",
                  HOTLINE_QUEUE_ENTERED=first)
    again = callback_call(server, "1733400001.1", HOTLINE_TICKET=number, HOTLINE_QUEUE_NAME="hotline-elderly",
                          HOTLINE_QUEUE_ENTERED=waiting_since(10))
    assert again.caller.variables["HOTLINE_OUTCOME"] == "callback"
    with db.session() as s:
        ticket = ticket_by_number(s, number)
        assert ticket is not None and ticket.callback_queue == "hotline-general"
        assert ticket.callback_queue_entered_at == dt.datetime.fromtimestamp(int(first), dt.UTC)
        assert sum(1 for e in ticket.events if e.text == "callback requested") == 1


def test_a_call_that_reached_the_queue_without_the_ivr_gets_a_callback_ticket(server, db: Database) -> None:  # type: ignore[no-untyped-def]
    fake = callback_call(server, "1733400002.1", HOTLINE_QUEUE_NAME="hotline-general",
                         HOTLINE_QUEUE_ENTERED=waiting_since(30))
    assert fake.caller.variables["HOTLINE_OUTCOME"] == "callback"
    with db.session() as s:
        record = call_by_uniqueid(s, "1733400002.1")
        assert record is not None and record.ticket_id is not None
        ticket = s.get(Ticket, record.ticket_id)
        assert ticket is not None and ticket.callback_requested and ticket.contact_number == "+8613800000777"
    again = callback_call(server, "1733400002.1", HOTLINE_QUEUE_NAME="hotline-general")
    assert again.caller.variables["HOTLINE_OUTCOME"] == "callback"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1  # one ticket per call


@pytest.mark.parametrize("key", ["2", "", "1;EXEC", "11"])
def test_another_key_books_nothing_and_puts_the_caller_back(server, db: Database, key: str) -> None:  # type: ignore[no-untyped-def]
    number = ivr_call(server, ["4", "1", None], "1733400003.1").caller.variables["HOTLINE_TICKET"]
    fake = callback_call(server, "1733400003.1", key=key, HOTLINE_TICKET=number,
                         HOTLINE_QUEUE_NAME="hotline-general", HOTLINE_QUEUE_ENTERED=waiting_since(5))
    assert fake.caller.variables["HOTLINE_OUTCOME"] == "agent" and played(fake) == []
    with db.session() as s:
        ticket = ticket_by_number(s, number)
        assert ticket is not None and not ticket.callback_requested and ticket.callback_queue is None


def test_someone_elses_ticket_number_is_not_booked(server, db: Database) -> None:  # type: ignore[no-untyped-def]
    other = ivr_call(server, ["4", "1", None], "1733400004.1").caller.variables["HOTLINE_TICKET"]
    mine = ivr_call(server, ["2", "1", None], "1733400004.2").caller.variables["HOTLINE_TICKET"]
    fake = callback_call(server, "1733400004.2", HOTLINE_TICKET=other, HOTLINE_QUEUE_NAME="hotline-general",
                         HOTLINE_QUEUE_ENTERED=waiting_since(5))
    assert fake.caller.variables["HOTLINE_OUTCOME"] == "callback"
    with db.session() as s:
        assert not ticket_by_number(s, other).callback_requested  # type: ignore[union-attr]
        assert ticket_by_number(s, mine).callback_requested  # type: ignore[union-attr]


@pytest.mark.parametrize(("queue", "entered"), [
    ('hotline-general" HANGUP', "1764835200"),
    ("general", "$(date +%s)"),
    ("hotline-GENERAL", "99999999999"),  # far future
    ("../../etc/passwd", "12"),
    ("hotline-" + "x" * 40, "17648x5200"),
])
def test_malformed_turn_values_are_dropped_not_stored(server, db: Database, queue: str, entered: str) -> None:  # type: ignore[no-untyped-def]
    number = ivr_call(server, ["4", "1", None], "1733400005.1").caller.variables["HOTLINE_TICKET"]
    fake = callback_call(server, "1733400005.1", HOTLINE_TICKET=number, HOTLINE_QUEUE_NAME=queue,
                         HOTLINE_QUEUE_ENTERED=entered)
    assert fake.caller.variables["HOTLINE_OUTCOME"] == "callback"  # the callback itself is still booked
    with db.session() as s:
        ticket = ticket_by_number(s, number)
        assert ticket is not None and ticket.callback_requested
        assert ticket.callback_queue is None and ticket.callback_queue_entered_at is None


def test_parse_callback_request_keeps_only_expected_shapes() -> None:
    epoch = str(int(NOW.timestamp()) - 60)
    good = parse_callback_request("1", "2612040001", "hotline-legal", epoch, NOW)
    assert good.valid_key and good.ticket_number == "2612040001" and good.queue == "hotline-legal"
    assert good.entered_at == NOW - dt.timedelta(seconds=60)
    stale = parse_callback_request("1", "26120400x1", "hotline-legal", str(int(NOW.timestamp()) - 86400), NOW)
    assert stale.ticket_number is None and stale.entered_at is None
    assert not parse_callback_request("9", None, None, None, NOW).valid_key


# -- failures end the call record; missing catalogue prompts do not ------------------------------------

def test_a_route_that_fails_finishes_the_call_record_as_degraded(agi_server, db: Database) -> None:  # type: ignore[no-untyped-def]
    class BrokenSink(ModelsTicketSink):
        def open_ticket(self, call, request):  # type: ignore[no-untyped-def]
            raise RuntimeError("the database went away")

    sink = BrokenSink(db.sessions)
    server = agi_server(build_routes(IvrDependencies(sink=sink, catalogue=lambda: load_catalogue(db.sessions),
                                                     flow=FAST)))
    fake = FakeAsterisk(server.port, agi_env(uniqueid="1733400006.1"), FakeCaller(keys=["4", "1", None])).run()
    assert fake.caller.variables.get("HOTLINE_OUTCOME") == "error" and "HOTLINE_QUEUE" not in fake.caller.variables
    with db.session() as s:
        record = call_by_uniqueid(s, "1733400006.1")
        assert record is not None and record.outcome is CallOutcome.DEGRADED and record.ended_at is not None
        assert record.ivr_path[-1]["outcome"] == "error" and record.ivr_path[-1]["digits"] == "41"


def test_a_catalogue_that_cannot_be_read_finishes_the_record_too(agi_server, db: Database) -> None:  # type: ignore[no-untyped-def]
    def no_catalogue():  # type: ignore[no-untyped-def]
        raise RuntimeError("catalogue unavailable")

    server = agi_server(build_routes(IvrDependencies(sink=ModelsTicketSink(db.sessions), catalogue=no_catalogue,
                                                     flow=FAST)))
    fake = FakeAsterisk(server.port, agi_env(uniqueid="1733400007.1"), FakeCaller()).run()
    assert fake.caller.variables.get("HOTLINE_OUTCOME") == "error"
    with db.session() as s:
        record = call_by_uniqueid(s, "1733400007.1")
        assert record is not None and record.outcome is CallOutcome.DEGRADED


def test_a_missing_service_name_is_read_as_this_service(server, db: Database) -> None:  # type: ignore[no-untyped-def]
    missing = frozenset({"hotline/svc/DRAIN-SEWER", "hotline/svc/DRAIN-TOILET"})
    first = ivr_call(server, ["4", "1", None], "1733400008.1", missing_sounds=missing, barge=False)
    assert first.caller.variables["HOTLINE_OUTCOME"] == "queued"
    assert "menu_option" in played(first)
    with db.session() as s:
        ticket = ticket_by_number(s, first.caller.variables["HOTLINE_TICKET"])
        assert ticket is not None and ticket.sub_service is not None and ticket.sub_service.code == "DRAIN-SEWER"
    # a later call does not ask Asterisk for the missing file again
    second = ivr_call(server, ["4", "1", None], "1733400008.2", missing_sounds=missing, barge=False)
    assert "svc/DRAIN-SEWER" not in played(second) and "menu_option" in played(second)
    assert "zh/svc/DRAIN-SEWER" in server.prompts.missing()


def test_a_missing_fixed_prompt_still_means_the_human_fallback(server, db: Database) -> None:  # type: ignore[no-untyped-def]
    fake = ivr_call(server, [], "1733400009.1", missing_sounds=frozenset({"hotline/welcome"}))
    assert fake.caller.variables.get("HOTLINE_OUTCOME") == "error"
    with db.session() as s:
        record = call_by_uniqueid(s, "1733400009.1")
        assert record is not None and record.outcome is CallOutcome.DEGRADED


def test_zero_zero_in_the_status_menu_is_an_emergency(server, db: Database) -> None:  # type: ignore[no-untyped-def]
    number = ivr_call(server, ["4", "1", None], "1733400010.1").caller.variables["HOTLINE_TICKET"]
    # the same caller: "9" at the welcome, then 0-0 at "back to the menu / operator"
    fake = ivr_call(server, ["9", "0", "0"], "1733400010.2")
    variables = fake.caller.variables
    assert variables["HOTLINE_OUTCOME"] == "emergency" and variables["HOTLINE_QUEUE"] == "emergency"
    assert variables["HOTLINE_TICKET"] != number


def test_hash_turns_the_page_in_a_menu_even_when_asterisk_swallows_it(server, db: Database) -> None:  # type: ignore[no-untyped-def]
    # "#" answers GET DATA with an empty result and no timeout; in a menu it means "next page".
    fake = ivr_call(server, [None, "#", "3", "1", None], "1733400011.1", barge=False)
    assert fake.caller.variables["HOTLINE_OUTCOME"] == "queued"
    with db.session() as s:
        ticket = ticket_by_number(s, fake.caller.variables["HOTLINE_TICKET"])
        assert ticket is not None and ticket.category is not None and ticket.category.code == "LIFE"
