"""The history generator: consistent rows on both databases, and the store still works after it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from models.entities import Call, Evaluation, Ticket, TicketEvent
from models.enums import CallOutcome, Channel, TicketStatus
from models.history import generate_history
from models.tickets import TicketRequest, open_ticket
from tests.plugins.db import Database


def test_generated_history_is_consistent(db: Database) -> None:
    report = generate_history(db.engine, calls=3000, years=1, batch=700, until=dt.date(2026, 12, 4))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == report.tickets > 2000
        assert s.scalar(select(func.count()).select_from(Call)) == report.calls
        assert s.scalar(select(func.count()).select_from(TicketEvent)) == report.events
        assert s.scalar(select(func.count()).select_from(Evaluation)) == report.evaluations > 0
        assert s.scalar(select(func.count(func.distinct(Ticket.number)))) == report.tickets
        # every phone ticket's call points at it; every ticket's last event is its status
        linked = s.scalar(select(func.count()).select_from(Call).where(Call.outcome == CallOutcome.TICKET,
                                                                       Call.ticket_id.is_(None)))
        assert linked == 0
        ticket = s.scalars(select(Ticket).where(Ticket.status == TicketStatus.CLOSED).limit(1)).one()
        assert ticket.events[-1].to_status == TicketStatus.CLOSED
        newest = s.scalar(select(func.max(Ticket.created_at)))
        assert newest is not None and newest < dt.datetime(2026, 12, 3, 16, 0, tzinfo=dt.UTC)
    with db.sessions.begin() as s:  # ids, sequences and counters moved past the generated rows
        fresh = open_ticket(s, TicketRequest(channel=Channel.WEB, sub_service_code="APPL-TV"), actor="t",
                            now=dt.datetime(2026, 12, 3, 3, 0, tzinfo=dt.UTC))
        assert fresh.number.startswith("261203")
