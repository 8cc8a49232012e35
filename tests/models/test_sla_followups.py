"""SLA escalation once per breach, and follow-ups scheduled once inside calling hours."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from models.entities import Ticket
from models.enums import Channel, EventKind, Priority, TicketStatus
from models.followups import CallingHours, next_calling_time, schedule_followups
from models.sla import escalate_sla_breaches
from models.tickets import TicketRequest, open_ticket, transition_ticket
from tests.plugins.db import Database

NOW = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Pinghu
HOURS = CallingHours(dt.time(9), dt.time(20))


def test_calling_hours_move_night_followups_to_the_morning() -> None:
    evening = dt.datetime(2026, 12, 4, 13, 30, tzinfo=dt.UTC)  # 21:30 local
    assert next_calling_time(evening, HOURS) == dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)  # 09:00 next day
    early = dt.datetime(2026, 12, 4, 22, 0, tzinfo=dt.UTC)  # 06:00 local on the 5th
    assert next_calling_time(early, HOURS) == dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)
    assert next_calling_time(NOW, HOURS) == NOW


def test_sla_breach_escalates_once(db: Database) -> None:
    with db.sessions.begin() as s:
        ticket = open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER"), actor="t",
                             now=NOW)
        ticket_id = ticket.id
    with db.sessions.begin() as s:
        assert escalate_sla_breaches(s, now=NOW + dt.timedelta(minutes=19)) == []
    with db.sessions.begin() as s:
        assert [b.kind for b in escalate_sla_breaches(s, now=NOW + dt.timedelta(minutes=21))] == ["dispatch"]
    with db.sessions.begin() as s:
        assert escalate_sla_breaches(s, now=NOW + dt.timedelta(minutes=50)) == []
    with db.session() as s:
        ticket = s.get_one(Ticket, ticket_id)
        assert ticket.priority == Priority.URGENT  # was high (DRAIN-SEWER's default), one level up
        assert ticket.status == TicketStatus.ACCEPTED
        assert [e.kind for e in ticket.events].count(EventKind.ESCALATION) == 1


def test_completed_ticket_gets_one_followup_in_calling_hours(db: Database) -> None:
    with db.sessions.begin() as s:
        ticket = open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="MIND-TALK",
                                              contact_number="13800000001"), actor="t", now=NOW)
        late = dt.datetime(2026, 12, 4, 11, 30, tzinfo=dt.UTC)  # 19:30 local; +2 h is 21:30
        transition_ticket(s, ticket, TicketStatus.COMPLETED, actor="user:1", now=late)
    with db.sessions.begin() as s:
        [task] = schedule_followups(s, delay=dt.timedelta(hours=2), hours=HOURS, now=late)
        assert task.due_at == dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)
        assert task.payload == {"number": "+8613800000001"}
    with db.sessions.begin() as s:
        assert schedule_followups(s, delay=dt.timedelta(hours=2), hours=HOURS, now=late) == []
    with db.session() as s:
        assert s.scalar(select(Ticket.status).where(Ticket.id == ticket.id)) == TicketStatus.COMPLETED
