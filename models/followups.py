"""Follow-up visits (回访): scheduling the survey call after a job is completed.

A completed ticket gets one follow-up task, due a configurable delay after completion and moved
into calling hours (Asia/Shanghai by default): a follow-up due at night waits for the morning.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.entities import Ticket, TicketEvent
from models.enums import TicketStatus
from models.scheduling import ScheduledTask, schedule_task


@dataclass(frozen=True)
class CallingHours:
    """When residents may be called: [start, end) local time, every day."""

    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(20, 0)
    zone: str = "Asia/Shanghai"


def next_calling_time(at: dt.datetime, hours: CallingHours) -> dt.datetime:
    """``at`` if inside calling hours, else the next opening (returned in UTC)."""
    zone = ZoneInfo(hours.zone)
    local = at.astimezone(zone)
    if hours.start <= local.time() < hours.end:
        return at.astimezone(dt.UTC)
    day = local.date() if local.time() < hours.start else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, hours.start, zone).astimezone(dt.UTC)


def followup_key(ticket_id: int, completed_event_id: int) -> str:
    """One follow-up per completion (a reopened and re-completed job is followed up again)."""
    return f"followup:{ticket_id}:{completed_event_id}"


def schedule_followups(session: Session, *, delay: dt.timedelta, hours: CallingHours,
                       max_attempts: int = 3, now: dt.datetime | None = None,
                       limit: int | None = None) -> list[ScheduledTask]:
    """Give every completed ticket without one a follow-up task (idempotent by completion); at most
    ``limit`` per call, so a caller can keep its transactions short."""
    now = now or utcnow()
    completed = session.execute(
        select(Ticket.id, Ticket.contact_number, TicketEvent.id, TicketEvent.at)
        .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
        .where(Ticket.status == TicketStatus.COMPLETED, TicketEvent.to_status == TicketStatus.COMPLETED)
    ).all()
    existing = set(session.scalars(select(ScheduledTask.key).where(ScheduledTask.kind == "followup")))
    created = []
    for ticket_id, number, event_id, completed_at in completed:
        key = followup_key(ticket_id, event_id)
        if key in existing or not number:
            continue
        if limit is not None and len(created) >= limit:
            break
        due = next_calling_time(max(now, completed_at + delay), hours)
        created.append(schedule_task(session, kind="followup", key=key, due_at=due, ticket_id=ticket_id,
                                     payload={"number": number}, max_attempts=max_attempts))
    return created
