"""Opening tickets, the lifecycle, notes, edits and the append-only timeline, on both databases."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from models.entities import Call, Ticket, TicketEvent
from models.enums import Channel, EventKind, Priority, TicketStatus
from models.errors import TransitionRefused, ValidationError
from models.tickets import (
    TicketRequest,
    append_note,
    edit_ticket,
    open_ticket,
    open_ticket_for_call,
    transition_ticket,
)
from tests.plugins.db import Database

NOW = dt.datetime(2026, 12, 4, 2, 30, tzinfo=dt.UTC)  # 10:30 in Asia/Shanghai


def _counts(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(Ticket)) or 0,
                s.scalar(select(func.count()).select_from(TicketEvent)) or 0,
                s.scalar(select(func.count()).select_from(Call)) or 0)


def test_open_ticket_from_web_with_catalogue_defaults(db: Database) -> None:
    with db.sessions.begin() as s:
        ticket = open_ticket(s, TicketRequest(channel=Channel.WEB, sub_service_code="LOCK-DOOR",
                                              description="钥匙锁在屋里了", contact_number="138 0000 0001"),
                             actor="api:test", now=NOW)
        assert ticket.number == "2612040001"
        assert ticket.priority == Priority.HIGH and ticket.status == TicketStatus.ACCEPTED
        assert ticket.contact_number == "+8613800000001"
        assert [e.kind for e in ticket.events] == [EventKind.CREATED]
    with db.sessions.begin() as s:
        second = open_ticket(s, TicketRequest(channel=Channel.WALK_IN, sub_service_code="DRAIN-SEWER"),
                             actor="user:1", now=NOW)
        assert second.number == "2612040002"


@pytest.mark.parametrize("request_kwargs, message", [
    ({"sub_service_code": "NOPE-NOPE"}, "unknown sub-service"),
    ({"sub_service_code": "x" * 500}, "not a catalogue code"),
    ({"sub_service_code": "LOCK-DOOR", "description": "a" * 2001}, "at most 2000"),
    ({"sub_service_code": "LOCK-DOOR", "address": "3号楼\x00"}, "control character"),
    ({"sub_service_code": "LOCK-DOOR", "lat": 91.0, "lon": 121.0}, "not a position"),
    ({"sub_service_code": "LOCK-DOOR", "lat": 30.7}, "both latitude and longitude"),
])
def test_bad_requests_are_refused_and_store_nothing(db: Database, request_kwargs: dict, message: str) -> None:
    before = _counts(db)
    with pytest.raises(ValidationError, match=message), db.sessions.begin() as s:
        open_ticket(s, TicketRequest(channel=Channel.API, **request_kwargs), actor="api:test", now=NOW)
    assert _counts(db) == before


def test_retired_sub_service_is_refused(db: Database) -> None:
    with db.sessions.begin() as s:
        s.execute(sa.text("UPDATE sub_services SET retired = true WHERE code = 'APPL-TV'"))
    with pytest.raises(ValidationError, match="retired"), db.sessions.begin() as s:
        open_ticket(s, TicketRequest(channel=Channel.WEB, sub_service_code="APPL-TV"), actor="t", now=NOW)


def test_ticket_for_call_is_idempotent_and_keeps_caller_as_received(db: Database) -> None:
    hostile = 'Bob "\\ , $(reboot) ; \n<script>'
    with db.sessions.begin() as s:
        first = open_ticket_for_call(s, uniqueid="1733280000.1", caller_number="13800000001",
                                     caller_name=hostile, request=TicketRequest(
                                         channel=Channel.PHONE, sub_service_code="DRAIN-SEWER"), now=NOW)
    with db.sessions.begin() as s:
        again = open_ticket_for_call(s, uniqueid="1733280000.1", caller_number="13800000001",
                                     request=TicketRequest(channel=Channel.PHONE, sub_service_code="APPL-TV"))
    assert again.id == first.id and again.number == first.number
    with db.session() as s:
        call = s.scalars(select(Call)).one()
        assert call.caller_name == 'Bob "\\ , $(reboot) ; \\x0a<script>'
        assert call.ticket_id == first.id and call.caller_number == "+8613800000001"
    assert _counts(db)[0] == 1


def test_concurrent_open_for_same_call_makes_one_ticket(db: Database) -> None:
    def attempt(_: int) -> int:
        with db.sessions.begin() as s:
            return open_ticket_for_call(s, uniqueid="1733280000.7", caller_number="13800000002",
                                        request=TicketRequest(channel=Channel.PHONE,
                                                              sub_service_code="UTIL-LEAK")).id

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(attempt, range(16)))
    assert len(ids) == 1
    assert _counts(db)[0] == 1


def test_foreign_and_malformed_caller_numbers_are_flagged(db: Database) -> None:
    with db.sessions.begin() as s:
        open_ticket_for_call(s, uniqueid="1.1", caller_number="+16502530000")
        open_ticket_for_call(s, uniqueid="1.2", caller_number="abc<>")
    with db.session() as s:
        calls = {c.uniqueid: c for c in s.scalars(select(Call))}
        assert calls["1.1"].caller_number_flagged and calls["1.1"].caller_number == "+16502530000"
        assert calls["1.2"].caller_number_flagged and calls["1.2"].caller_number is None
        assert calls["1.2"].caller_number_raw == "abc<>"


def test_bad_asterisk_ids_are_refused(db: Database) -> None:
    with pytest.raises(ValidationError, match="not an Asterisk channel id"), db.sessions.begin() as s:
        open_ticket_for_call(s, uniqueid="1;DROP TABLE calls")


def _new_ticket(db: Database, code: str = "DRAIN-SEWER") -> int:
    with db.sessions.begin() as s:
        return open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code=code), actor="t", now=NOW).id


def test_lifecycle_happy_path_appends_every_step(db: Database) -> None:
    ticket_id = _new_ticket(db)
    steps = [TicketStatus.DISPATCHED, TicketStatus.PROVIDER_ACCEPTED, TicketStatus.IN_SERVICE,
             TicketStatus.COMPLETED, TicketStatus.FOLLOWED_UP, TicketStatus.CLOSED]
    for step in steps:
        with db.sessions.begin() as s:
            transition_ticket(s, s.get_one(Ticket, ticket_id), step, actor="user:1")
    with db.session() as s:
        events = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                           .order_by(TicketEvent.id)).all()
        assert [e.to_status for e in events] == [TicketStatus.ACCEPTED, *steps]


@pytest.mark.parametrize("target", [TicketStatus.CLOSED, TicketStatus.IN_SERVICE, TicketStatus.FOLLOWED_UP])
def test_forbidden_transition_is_refused_and_changes_nothing(db: Database, target: TicketStatus) -> None:
    ticket_id = _new_ticket(db)
    before = _counts(db)
    with pytest.raises(TransitionRefused, match="cannot go from accepted"), db.sessions.begin() as s:
        transition_ticket(s, s.get_one(Ticket, ticket_id), target, actor="user:1")
    with db.session() as s:
        assert s.get_one(Ticket, ticket_id).status == TicketStatus.ACCEPTED
    assert _counts(db) == before


def test_cancelled_is_terminal(db: Database) -> None:
    ticket_id = _new_ticket(db)
    with db.sessions.begin() as s:
        transition_ticket(s, s.get_one(Ticket, ticket_id), TicketStatus.CANCELLED, actor="user:1")
    with pytest.raises(TransitionRefused), db.sessions.begin() as s:
        transition_ticket(s, s.get_one(Ticket, ticket_id), TicketStatus.REOPENED, actor="user:1")


def test_notes_and_edits_land_on_the_timeline(db: Database) -> None:
    ticket_id = _new_ticket(db)
    with db.sessions.begin() as s:
        ticket = s.get_one(Ticket, ticket_id)
        append_note(s, ticket, "居民说晚上七点后在家", actor="user:3")
        diff = edit_ticket(s, ticket, {"sub_service_code": "DRAIN-TOILET", "address": "徐家埭社区5幢"},
                           actor="user:3")
        assert set(diff) == {"sub_service_id", "address"}
    with pytest.raises(ValidationError, match="cannot be edited"), db.sessions.begin() as s:
        edit_ticket(s, s.get_one(Ticket, ticket_id), {"status": "closed"}, actor="user:3")
    with pytest.raises(ValidationError, match="required"), db.sessions.begin() as s:
        append_note(s, s.get_one(Ticket, ticket_id), "   ", actor="user:3")
    with db.session() as s:
        kinds = [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id))]
        assert kinds == [EventKind.CREATED, EventKind.NOTE, EventKind.EDIT]


def test_timeline_cannot_be_edited_through_the_orm_or_sql(db: Database) -> None:
    ticket_id = _new_ticket(db)
    with pytest.raises(ValidationError, match="append-only"), db.sessions.begin() as s:
        event = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)).first()
        assert event is not None
        event.text = "rewritten"
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE ticket_events SET text = 'x'"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM ticket_events"))


BAD_TEXT = {
    "control character": "水管\x00爆了",
    "escape sequence": "\x1b[31m红色",
    "bidi override": "abc\u202edcba",
    "over-long": "很" * 5000,
}


@pytest.mark.parametrize("bad", sorted(BAD_TEXT))
@pytest.mark.parametrize("operation", ["note", "description", "address", "transition note"])
def test_bad_text_in_any_agent_field_is_refused_and_changes_nothing(db: Database, operation: str,
                                                                    bad: str) -> None:
    ticket_id = _new_ticket(db)
    value = BAD_TEXT[bad]
    if operation == "address" and bad == "over-long":
        value = "幢" * 300  # the address allows 256
    before = _counts(db)
    with db.session() as s:
        ticket = s.get_one(Ticket, ticket_id)
        snapshot = (ticket.description, ticket.address, ticket.status)
    with pytest.raises(ValidationError), db.sessions.begin() as s:
        ticket = s.get_one(Ticket, ticket_id)
        if operation == "note":
            append_note(s, ticket, value, actor="user:3")
        elif operation == "transition note":
            transition_ticket(s, ticket, TicketStatus.CANCELLED, actor="user:3", note=value)
        else:
            edit_ticket(s, ticket, {operation: value}, actor="user:3")
    assert _counts(db) == before
    with db.session() as s:
        ticket = s.get_one(Ticket, ticket_id)
        assert (ticket.description, ticket.address, ticket.status) == snapshot


@pytest.mark.parametrize("changes", [{"station_id": 999_999}, {"station_id": "1"}, {"station_id": True},
                                     {"priority": "urgent; DROP TABLE tickets"}, {"lat": 91, "lon": 121},
                                     {"sub_service_code": "NO-SUCH"}])
def test_bad_edits_are_refused_and_change_nothing(db: Database, changes: dict) -> None:
    ticket_id = _new_ticket(db)
    before = _counts(db)
    with pytest.raises(ValidationError), db.sessions.begin() as s:
        edit_ticket(s, s.get_one(Ticket, ticket_id), changes, actor="user:3")
    assert _counts(db) == before
