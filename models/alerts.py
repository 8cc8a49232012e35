"""Alerts: what a supervisor or an agent must look at, raised once per cause.

An alert is a row (for the wallboard and the workspace to list and count quickly) *and* an entry
on the ticket's timeline (the history is never edited):

| kind | audience | raised by | timeline entry |
|---|---|---|---|
| ``sla_dispatch`` / ``sla_completion`` | supervisor | the SLA watch | ``escalation`` |
| ``survey_low`` | supervisor | a follow-up rated 1–2 or "not solved" (the ticket is reopened) | ``escalation`` |
| ``followup_unreachable`` | agent | a follow-up with every attempt unanswered, or no diallable number | ``call`` |
| ``callback_unanswered`` | agent | a callback with every attempt unanswered | ``call`` |

The ``key`` makes raising idempotent: the same cause raised twice stores one alert.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.base import utcnow
from models.entities import Alert, Ticket
from models.enums import EventKind
from models.errors import NotFound
from models.text import require_clean_text
from models.tickets import append_event

SUPERVISOR_KINDS = frozenset({"sla_dispatch", "sla_completion", "survey_low"})
AGENT_KINDS = frozenset({"followup_unreachable", "callback_unanswered"})
KINDS = SUPERVISOR_KINDS | AGENT_KINDS


def raise_alert(session: Session, ticket: Ticket, kind: str, *, key: str, text: str, actor: str = "scheduler",
                detail: dict[str, Any] | None = None, now: dt.datetime | None = None) -> Alert | None:
    """Raise an alert once per ``key`` (None when it was raised before), with its timeline entry."""
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    now = now or utcnow()
    if session.scalars(select(Alert.id).where(Alert.key == key)).first() is not None:
        return None
    audience = "supervisor" if kind in SUPERVISOR_KINDS else "agent"
    alert = Alert(key=key, kind=kind, audience=audience, ticket_id=ticket.id,
                  text=require_clean_text(text, "alert text", 256, required=True) or kind, created_at=now)
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:  # raised at the same moment by another transaction
        return None
    event_kind = EventKind.ESCALATION if audience == "supervisor" else EventKind.CALL
    append_event(session, ticket, event_kind, actor, now=now, text=text,
                 detail={**(detail or {}), "alert": audience, "alert_kind": kind})
    session.flush()
    return alert


@dataclass(frozen=True)
class OpenAlert:
    """An unresolved alert with what a list shows of its ticket."""

    id: int
    kind: str
    audience: str
    text: str
    created_at: dt.datetime
    ticket_id: int | None
    ticket_number: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON form (texts are ours, never caller data)."""
        return {"id": self.id, "kind": self.kind, "audience": self.audience, "text": self.text,
                "created_at": self.created_at.isoformat(), "ticket_id": self.ticket_id,
                "ticket": self.ticket_number}


def _open(scope: frozenset[int] | None, audience: str | None):  # type: ignore[no-untyped-def]
    stmt = select(Alert, Ticket.number).outerjoin(Ticket, Ticket.id == Alert.ticket_id).where(
        Alert.resolved_at.is_(None))
    if audience is not None:
        stmt = stmt.where(Alert.audience == audience)
    if scope is not None:
        stmt = stmt.where(Ticket.station_id.in_(sorted(scope)))
    return stmt


def open_alerts(session: Session, *, scope: frozenset[int] | None = None, audience: str | None = None,
                limit: int = 50) -> list[OpenAlert]:
    """Unresolved alerts, newest first (``scope``: station ids the viewer may see; None: all)."""
    rows = session.execute(_open(scope, audience).order_by(Alert.created_at.desc(), Alert.id.desc())
                           .limit(limit)).all()
    return [OpenAlert(a.id, a.kind, a.audience, a.text, a.created_at, a.ticket_id, number) for a, number in rows]


def count_open_alerts(session: Session, *, scope: frozenset[int] | None = None,
                      audience: str | None = None) -> int:
    """How many alerts are unresolved."""
    stmt = _open(scope, audience).with_only_columns(func.count(Alert.id))
    return int(session.scalar(stmt) or 0)


def alerts_of_ticket(session: Session, ticket_id: int, *, include_resolved: bool = False) -> list[Alert]:
    """A ticket's alerts, oldest first."""
    stmt = select(Alert).where(Alert.ticket_id == ticket_id).order_by(Alert.created_at, Alert.id)
    if not include_resolved:
        stmt = stmt.where(Alert.resolved_at.is_(None))
    return list(session.scalars(stmt))


def resolve_alert(session: Session, alert_id: int, *, actor: str, ticket_id: int | None = None,
                  now: dt.datetime | None = None) -> Alert:
    """Mark an alert as dealt with (noted on its ticket's timeline); resolving twice changes nothing."""
    now = now or utcnow()
    alert = session.get(Alert, alert_id)
    if alert is None or (ticket_id is not None and alert.ticket_id != ticket_id):
        raise NotFound(f"alert {alert_id} does not exist")
    if alert.resolved_at is not None:
        return alert
    alert.resolved_at, alert.resolved_by = now, actor
    if alert.ticket_id is not None:
        ticket = session.get_one(Ticket, alert.ticket_id)
        append_event(session, ticket, EventKind.NOTE, actor, now=now, text=f"alert resolved: {alert.kind}",
                     detail={"alert_resolved": alert.id})
    session.flush()
    return alert
