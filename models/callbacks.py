"""Callbacks: calling back residents who chose not to wait (or left a message, or hung up in the queue).

A ticket with ``callback_requested`` gets one callback task (key ``callback:<ticket id>``) whose
payload keeps what the call had: the queue it waited in, its place in line (queue priority, then
the time it joined the queue) and the caller's language.  The scheduler calls back in that order,
only while an agent of the queue is free (no more callbacks in flight than free agents, see
``callcenter/scheduler/outbound.py``); an answered callback is put at the head of the same queue.
When every attempt goes unanswered the ticket is left for an agent with a ``callback_unanswered``
alert.

Abandoned-in-queue calls (``abandoned_queue`` call records) whose ticket is known and whose number
is a valid home number can be offered a callback automatically (a setting): the ticket is marked
for a callback once per call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.alerts import raise_alert
from models.base import utcnow
from models.entities import Call, Resident, Ticket
from models.enums import CallOutcome, EventKind, Priority, TicketStatus
from models.phone import parse_phone
from models.scheduling import ScheduledTask, TaskState, finish_task, schedule_task
from models.tickets import append_event, request_callback

QUEUES = ("general", "emergency", "elderly", "legal", "psychological", "marriage")  # [hotline-queues]
QUEUE_PREFIX = "hotline-"
LANGUAGES = ("zh", "en")
NOT_CALLED_BACK = (TicketStatus.CANCELLED, TicketStatus.CLOSED)


@dataclass(frozen=True)
class CallbackCandidate:
    """A due callback in serving order: queue priority (higher first), then arrival (earlier first)."""

    task_id: int
    ticket_id: int
    number: str
    queue: str
    language: str
    rank: int
    arrival: dt.datetime

    @property
    def order(self) -> tuple[int, dt.datetime, int]:
        """The sort key of serving order."""
        return (-self.rank, self.arrival, self.task_id)


def callback_key(ticket_id: int) -> str:
    """One callback per ticket (``request_callback`` marks a ticket once)."""
    return f"callback:{ticket_id}"


def _origin_call(session: Session, ticket: Ticket) -> Call | None:
    return session.get(Call, ticket.origin_call_id) if ticket.origin_call_id else None


def queue_of(session: Session, ticket: Ticket) -> str:
    """The short name of the queue the caller waited in (or would have), from the allow-list."""
    call = _origin_call(session, ticket)
    for waited in (ticket.callback_queue, call.queue if call is not None else None):
        name = (waited or "").removeprefix(QUEUE_PREFIX)
        if name in QUEUES:
            return name
    if ticket.priority == Priority.EMERGENCY:
        return "emergency"
    if ticket.sub_service is not None and ticket.sub_service.queue_name in QUEUES:
        return ticket.sub_service.queue_name
    if ticket.category is not None and ticket.category.queue in QUEUES:
        return ticket.category.queue
    return "general"


def language_of(session: Session, ticket: Ticket) -> str:
    """The caller's language: the registered resident's, else the call's, else Mandarin."""
    if ticket.resident_id is not None:
        resident = session.get(Resident, ticket.resident_id)
        if resident is not None and resident.language in LANGUAGES:
            return resident.language
    call = _origin_call(session, ticket)
    if call is not None and call.language in LANGUAGES:
        return call.language
    return "zh"


def arrival_of(session: Session, ticket: Ticket) -> dt.datetime:
    """When the caller joined the queue (the turn kept with the callback request, else the call's),
    else when they asked for the callback, else when the ticket was opened."""
    if ticket.callback_queue_entered_at is not None:
        return ticket.callback_queue_entered_at
    call = _origin_call(session, ticket)
    if call is not None and call.queue_entered_at is not None:
        return call.queue_entered_at
    return ticket.callback_requested_at or ticket.created_at


def schedule_callbacks(session: Session, *, max_attempts: int, now: dt.datetime | None = None) -> list[ScheduledTask]:
    """Give every ticket marked for a callback its callback task (idempotent: one per ticket)."""
    now = now or utcnow()
    has_task = select(ScheduledTask.id).where(ScheduledTask.kind == "callback",
                                              ScheduledTask.ticket_id == Ticket.id).exists()
    tickets = session.scalars(select(Ticket).where(Ticket.callback_requested.is_(True),
                                                   Ticket.status.not_in(NOT_CALLED_BACK), ~has_task)
                              .order_by(Ticket.id).limit(1000)).all()
    created: list[ScheduledTask] = []
    for ticket in tickets:
        arrival = arrival_of(session, ticket)
        payload = {"number": ticket.contact_number or "", "queue": queue_of(session, ticket),
                   "language": language_of(session, ticket), "rank": Priority(ticket.priority).rank,
                   "arrival": arrival.isoformat()}
        created.append(schedule_task(session, kind="callback", key=callback_key(ticket.id), due_at=now,
                                     ticket_id=ticket.id, payload=payload, max_attempts=max_attempts))
    return created


def due_callbacks(session: Session, *, now: dt.datetime | None = None, limit: int = 500) -> list[CallbackCandidate]:
    """Pending callbacks due now, in serving order."""
    now = now or utcnow()
    tasks = session.scalars(select(ScheduledTask).where(ScheduledTask.kind == "callback",
                                                        ScheduledTask.state == TaskState.PENDING,
                                                        ScheduledTask.due_at <= now)
                            .order_by(ScheduledTask.due_at).limit(limit)).all()
    found = []
    for task in tasks:
        payload = task.payload or {}
        try:
            arrival = dt.datetime.fromisoformat(str(payload.get("arrival")))
        except ValueError:
            arrival = task.created_at
        queue = payload.get("queue") if payload.get("queue") in QUEUES else "general"
        language = payload.get("language") if payload.get("language") in LANGUAGES else "zh"
        found.append(CallbackCandidate(task.id, task.ticket_id or 0, str(payload.get("number") or ""), queue,
                                       language, int(payload.get("rank") or 0), arrival))
    return sorted(found, key=lambda c: c.order)


def callback_answered(session: Session, task: ScheduledTask, *, call_id: int, now: dt.datetime | None = None) -> None:
    """The resident answered the callback and waits for an agent: the task is done."""
    now = now or utcnow()
    if task.ticket_id is not None:
        ticket = session.get_one(Ticket, task.ticket_id)
        append_event(session, ticket, EventKind.CALL, "scheduler", now=now, text="callback answered",
                     detail={"callback": "answered", "outbound_call": call_id})
    finish_task(session, task, now=now)


def callback_unanswered(session: Session, task: ScheduledTask, *, reason: str, now: dt.datetime | None = None) -> None:
    """Every attempt went unanswered (or the number cannot be dialled): left for an agent."""
    now = now or utcnow()
    if task.ticket_id is not None:
        ticket = session.get_one(Ticket, task.ticket_id)
        raise_alert(session, ticket, "callback_unanswered", key=f"callback-unanswered:{task.id}", now=now,
                    text=f"callback: resident not reached ({reason}); please call back by hand",
                    detail={"callback": "unanswered", "reason": reason, "task": task.id})
    task.state, task.finished_at, task.lease_expires_at = TaskState.FAILED, now, None
    task.last_error = reason[:2000]
    session.flush()


def offer_abandoned_callbacks(session: Session, *, since: dt.datetime, region: str = "CN",
                              now: dt.datetime | None = None) -> int:
    """Mark for a callback the tickets of calls abandoned in the queue since ``since`` (once per call)."""
    now = now or utcnow()
    calls = session.execute(
        select(Call.id, Call.caller_number, Call.ticket_id, Call.queue, Call.queue_entered_at)
        .where(Call.outcome == CallOutcome.ABANDONED_QUEUE, Call.started_at >= since, Call.ticket_id.is_not(None))
        .order_by(Call.id).limit(1000)).all()
    offered = 0
    for call_id, number, ticket_id, queue, entered in calls:
        key = f"callback-offer:{call_id}"
        if session.scalars(select(ScheduledTask.id).where(ScheduledTask.key == key)).first() is not None:
            continue
        marker = schedule_task(session, kind="callback_offer", key=key, due_at=now, ticket_id=ticket_id)
        finish_task(session, marker, now=now)
        phone = parse_phone(number, region)
        ticket = session.get_one(Ticket, ticket_id)
        if not phone.valid or phone.foreign or ticket.status in NOT_CALLED_BACK:
            continue
        waited = queue if queue and queue.removeprefix(QUEUE_PREFIX) in QUEUES else None
        request_callback(session, ticket, actor="scheduler", now=now, queue=waited,
                         queue_entered_at=entered if entered is not None and entered <= now else None)
        offered += 1
    return offered
