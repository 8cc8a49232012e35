"""SLA watch: each sub-service's time to dispatch and time to completion.

A breach escalates the ticket once: its priority goes up one level and a supervisor alert is
raised (``models.alerts``: a row the wallboard and workspace list, and an ``escalation`` entry on
the timeline).  The status is left as it is, so the job carries
on where it was; the ``escalated`` status stays a supervisor's manual decision.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.alerts import raise_alert
from models.base import utcnow
from models.entities import SubService, Ticket
from models.enums import Priority, TicketStatus
from models.lifecycle import OPEN_STATUSES
from models.scheduling import ScheduledTask, finish_task, schedule_task

AWAITING_DISPATCH = frozenset({TicketStatus.ACCEPTED, TicketStatus.REOPENED})
_ESCALATION = [Priority.NORMAL, Priority.HIGH, Priority.URGENT, Priority.EMERGENCY]


@dataclass(frozen=True)
class Breach:
    """A ticket past one of its SLA limits."""

    ticket_id: int
    kind: str  # "dispatch" or "completion"
    due_at: dt.datetime


def find_sla_breaches(session: Session, *, now: dt.datetime | None = None) -> list[Breach]:
    """Open tickets past their time to dispatch (still awaiting a provider) or to completion."""
    now = now or utcnow()
    rows = session.execute(
        select(Ticket.id, Ticket.status, Ticket.created_at, SubService.sla_dispatch_minutes,
               SubService.sla_complete_minutes, SubService.needs_provider)
        .join(SubService, Ticket.sub_service_id == SubService.id)
        .where(Ticket.status.in_(OPEN_STATUSES))
    ).all()
    breaches: list[Breach] = []
    for ticket_id, status, created_at, dispatch_min, complete_min, needs_provider in rows:
        dispatch_due = created_at + dt.timedelta(minutes=dispatch_min)
        complete_due = created_at + dt.timedelta(minutes=complete_min)
        if needs_provider and status in AWAITING_DISPATCH and dispatch_due <= now:
            breaches.append(Breach(ticket_id, "dispatch", dispatch_due))
        if complete_due <= now:
            breaches.append(Breach(ticket_id, "completion", complete_due))
    return breaches


def escalate_breach(session: Session, breach: Breach, *, now: dt.datetime | None = None) -> bool:
    """Escalate once per breach (True the first time, False if it was already escalated)."""
    now = now or utcnow()
    key = f"sla:{breach.ticket_id}:{breach.kind}"
    if session.scalars(select(ScheduledTask.id).where(ScheduledTask.key == key)).first() is not None:
        return False
    marker = schedule_task(session, kind="sla_escalation", key=key, due_at=now, ticket_id=breach.ticket_id)
    finish_task(session, marker, now=now)
    ticket = session.get_one(Ticket, breach.ticket_id)
    before = ticket.priority
    ticket.priority = _ESCALATION[min(len(_ESCALATION) - 1, _ESCALATION.index(before) + 1)]
    raise_alert(session, ticket, f"sla_{breach.kind}", key=key, now=now,
                text=f"SLA {breach.kind} breached (due {breach.due_at:%Y-%m-%d %H:%M} UTC)",
                detail={"breach": breach.kind, "priority": [str(before), str(ticket.priority)]})
    session.flush()
    return True


def escalate_sla_breaches(session: Session, *, now: dt.datetime | None = None,
                          limit: int | None = None) -> list[Breach]:
    """Find and escalate new breaches (at most ``limit``: callers keep transactions short by
    calling again until fewer come back); the ones escalated now are returned."""
    done = set(session.scalars(select(ScheduledTask.key).where(ScheduledTask.kind == "sla_escalation")))
    fresh = [b for b in find_sla_breaches(session, now=now) if f"sla:{b.ticket_id}:{b.kind}" not in done]
    return [b for b in fresh[:limit] if escalate_breach(session, b, now=now)]
