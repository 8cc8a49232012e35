"""Ticket operations: open (from a call, idempotently, or from any channel), transition, note, edit.

Every change appends to the ticket's timeline; the timeline is never edited.  Each function
takes a ``Session``; the caller owns the transaction.  A refusal raises a :class:`DomainError`
before anything is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.base import is_postgresql, utcnow
from models.calls import call_by_uniqueid, record_call_start
from models.catalogue import category_by_code, sub_service_by_code
from models.entities import Call, Station, Ticket, TicketCounter, TicketEvent
from models.enums import CallOutcome, Channel, EventKind, Priority, TicketStatus
from models.errors import NotFound, TransitionRefused, ValidationError
from models.lifecycle import can_transition
from models.phone import parse_phone
from models.text import require_clean_text

NUMBER_ZONE = ZoneInfo("Asia/Shanghai")
MAX_DESCRIPTION = 2000
MAX_NOTE = 2000


@event.listens_for(TicketEvent, "before_update")
@event.listens_for(TicketEvent, "before_delete")
def _timeline_is_append_only(_mapper: Any, _connection: Any, target: TicketEvent) -> None:
    raise ValidationError(f"ticket timeline entry {target.id} cannot be changed: the timeline is append-only")


def actor_user(user_id: int) -> str:
    """The timeline actor string of a console user."""
    return f"user:{user_id}"


def get_ticket(session: Session, ticket_id: int, *, for_update: bool = False) -> Ticket:
    """The ticket with this id, optionally row-locked (PostgreSQL), or NotFound."""
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if for_update and is_postgresql(session):
        stmt = stmt.with_for_update()
    ticket = session.scalars(stmt).one_or_none()
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def ticket_by_number(session: Session, number: str) -> Ticket | None:
    """The ticket with this readable number (digits only), if any."""
    if not number.isdigit() or len(number) > 16:
        return None
    return session.scalars(select(Ticket).where(Ticket.number == number)).one_or_none()


def next_ticket_number(session: Session, now: dt.datetime) -> str:
    """A readable number: the Asia/Shanghai date YYMMDD and a daily sequence (2612040001)."""
    day = now.astimezone(NUMBER_ZONE).strftime("%y%m%d")
    if is_postgresql(session):
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(TicketCounter).values(day=day, last=0).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(TicketCounter).values(day=day, last=0).on_conflict_do_nothing())
    last = session.execute(
        update(TicketCounter).where(TicketCounter.day == day).values(last=TicketCounter.last + 1)
        .returning(TicketCounter.last)
    ).scalar_one()
    width = 4 if last < 10_000 else len(str(last))
    return f"{day}{last:0{width}d}"


def append_event(session: Session, ticket: Ticket, kind: EventKind, actor: str, *, now: dt.datetime,
                 text: str | None = None, from_status: TicketStatus | None = None,
                 to_status: TicketStatus | None = None, detail: dict[str, Any] | None = None) -> None:
    """Append one timeline entry (a plain INSERT: the timeline is never updated)."""
    session.execute(insert(TicketEvent).values(
        ticket_id=ticket.id, at=now, kind=kind, actor=actor, from_status=from_status,
        to_status=to_status, text=text, detail=detail or {},
    ))
    ticket.updated_at = now


@dataclass(frozen=True)
class TicketRequest:
    """What is known of a new request, from any channel; validated by :func:`open_ticket`."""

    channel: Channel
    sub_service_code: str | None = None
    category_code: str | None = None
    description: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    station_id: int | None = None
    resident_id: int | None = None
    contact_number: str | None = None
    priority: Priority | None = None
    external_key: str | None = None


def _checked_position(lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    if lat is None and lon is None:
        return None, None
    if lat is None or lon is None:
        raise ValidationError("position: both latitude and longitude are needed")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValidationError(f"position: ({lat}, {lon}) is not a position on Earth")
    return float(lat), float(lon)


def _build_ticket(session: Session, request: TicketRequest, now: dt.datetime) -> Ticket:
    sub = sub_service_by_code(session, request.sub_service_code) if request.sub_service_code else None
    category = sub.category if sub else (
        category_by_code(session, request.category_code) if request.category_code else None)
    lat, lon = _checked_position(request.lat, request.lon)
    contact = None
    if request.contact_number:
        text = require_clean_text(request.contact_number, "contact number", 64)
        phone = parse_phone(text)
        contact = phone.e164 or phone.raw
    priority = request.priority or (sub.default_priority if sub else Priority.NORMAL)
    return Ticket(
        channel=request.channel, category_id=category.id if category else None,
        sub_service_id=sub.id if sub else None,
        description=require_clean_text(request.description, "description", MAX_DESCRIPTION, multiline=True),
        address=require_clean_text(request.address, "address", 256), lat=lat, lon=lon,
        station_id=request.station_id, resident_id=request.resident_id, contact_number=contact,
        priority=priority, status=TicketStatus.ACCEPTED,
        external_key=require_clean_text(request.external_key, "external key", 64),
        created_at=now, updated_at=now,
    )


def open_ticket(session: Session, request: TicketRequest, *, actor: str, now: dt.datetime | None = None,
                origin_call: Call | None = None) -> Ticket:
    """Open (受理) a ticket; with an ``external_key`` already used, return that ticket instead."""
    now = now or utcnow()
    if request.external_key:
        existing = session.scalars(select(Ticket).where(Ticket.external_key == request.external_key)).first()
        if existing is not None:
            return existing
    ticket = _build_ticket(session, request, now)
    ticket.origin_call_id = origin_call.id if origin_call else None
    ticket.number = next_ticket_number(session, now)
    session.add(ticket)
    session.flush()
    append_event(session, ticket, EventKind.CREATED, actor, now=now, to_status=TicketStatus.ACCEPTED,
                 detail={"channel": str(request.channel), "priority": str(ticket.priority)})
    return ticket


def open_ticket_for_call(session: Session, *, uniqueid: str, linkedid: str | None = None,
                         caller_number: str | None = None, caller_name: str | None = None,
                         request: TicketRequest | None = None, actor: str = "ivr",
                         now: dt.datetime | None = None) -> Ticket:
    """Open the ticket of a phone call: the same call (``uniqueid``) never makes two tickets.

    Concurrent or retried calls for the same ``uniqueid`` all return the one ticket; the unique
    ``origin_call_id`` settles a race between two processes.
    """
    now = now or utcnow()
    call = call_by_uniqueid(session, uniqueid) or record_call_start(
        session, uniqueid=uniqueid, linkedid=linkedid, caller_number=caller_number,
        caller_name=caller_name, now=now)
    if call.ticket_id is not None:
        return get_ticket(session, call.ticket_id)
    already = session.scalars(select(Ticket).where(Ticket.origin_call_id == call.id)).one_or_none()
    if already is not None:
        call.ticket_id = already.id
        return already
    request = request or TicketRequest(channel=Channel.PHONE)
    if request.contact_number is None and call.caller_number:
        request = TicketRequest(**{**request.__dict__, "contact_number": call.caller_number})
    if request.resident_id is None and call.resident_id is not None:
        request = TicketRequest(**{**request.__dict__, "resident_id": call.resident_id})
    try:
        with session.begin_nested():
            ticket = open_ticket(session, request, actor=actor, now=now, origin_call=call)
    except IntegrityError:
        ticket = session.scalars(select(Ticket).where(Ticket.origin_call_id == call.id)).one()
    call.ticket_id = ticket.id
    call.outcome = CallOutcome.TICKET
    session.flush()
    return ticket


def transition_ticket(session: Session, ticket: Ticket, target: TicketStatus, *, actor: str,
                      now: dt.datetime | None = None, note: str | None = None,
                      detail: dict[str, Any] | None = None) -> Ticket:
    """Move the ticket to ``target`` if the lifecycle allows it; refuse clearly otherwise."""
    now = now or utcnow()
    target = TicketStatus(target)
    if not can_transition(ticket.status, target):
        raise TransitionRefused(f"ticket {ticket.number}: cannot go from {ticket.status} to {target}")
    text = require_clean_text(note, "note", MAX_NOTE, multiline=True)
    previous = ticket.status
    ticket.status = target
    append_event(session, ticket, EventKind.STATUS, actor, now=now, text=text, from_status=previous,
                 to_status=target, detail=detail)
    session.flush()
    return ticket


def append_note(session: Session, ticket: Ticket, text: str, *, actor: str,
                now: dt.datetime | None = None) -> None:
    """Add a free-text note to the ticket's timeline."""
    clean = require_clean_text(text, "note", MAX_NOTE, multiline=True, required=True)
    append_event(session, ticket, EventKind.NOTE, actor, now=now or utcnow(), text=clean)
    session.flush()


EDITABLE = ("sub_service_code", "description", "address", "lat", "lon", "station_id", "priority")


def edit_ticket(session: Session, ticket: Ticket, changes: dict[str, Any], *, actor: str,
                now: dt.datetime | None = None) -> dict[str, Any]:
    """Change the request's details; every changed field is recorded (old → new) on the timeline."""
    now = now or utcnow()
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"fields that cannot be edited: {', '.join(sorted(unknown))}")
    new_values: dict[str, Any] = {}
    if "sub_service_code" in changes:
        sub = sub_service_by_code(session, changes["sub_service_code"])
        new_values["sub_service_id"] = sub.id
        new_values["category_id"] = sub.category_id
    if "description" in changes:
        new_values["description"] = require_clean_text(changes["description"], "description",
                                                        MAX_DESCRIPTION, multiline=True)
    if "address" in changes:
        new_values["address"] = require_clean_text(changes["address"], "address", 256)
    if "lat" in changes or "lon" in changes:
        lat, lon = _checked_position(changes.get("lat", ticket.lat), changes.get("lon", ticket.lon))
        new_values.update(lat=lat, lon=lon)
    if "station_id" in changes:
        new_values["station_id"] = _existing_station_id(session, changes["station_id"])
    if "priority" in changes:
        try:
            new_values["priority"] = Priority(changes["priority"])
        except ValueError:
            raise ValidationError(f"priority {changes['priority']!r} is not one of "
                                  f"{', '.join(p.value for p in Priority)}") from None
    diff = {k: [_plain(getattr(ticket, k)), _plain(v)] for k, v in new_values.items() if getattr(ticket, k) != v}
    for key, (_, _new) in diff.items():
        setattr(ticket, key, new_values[key])
    if diff:
        append_event(session, ticket, EventKind.EDIT, actor, now=now, detail={"changes": diff})
        session.flush()
    return diff


def _existing_station_id(session: Session, value: Any) -> int | None:
    """A station id that exists (or None to clear it); anything else is refused clearly."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"station {value!r} is not a station id")
    if session.get(Station, value) is None:
        raise ValidationError(f"station {value} does not exist")
    return value


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Priority) else value


CALLBACK_QUEUE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
MAX_CLOCK_SKEW = dt.timedelta(minutes=1)


def request_callback(session: Session, ticket: Ticket, *, actor: str = "ivr",
                     now: dt.datetime | None = None, queue: str | None = None,
                     queue_entered_at: dt.datetime | None = None) -> None:
    """Record that the caller asked to be called back instead of waiting (idempotent).

    A caller who pressed the callback key while waiting keeps their turn: ``queue`` (the app_queue
    name they waited in) and ``queue_entered_at`` (UTC) are kept on the ticket, so callbacks can be
    placed in the order the queue would have served them -- priority, then
    ``callback_queue_entered_at`` (falling back to ``callback_requested_at`` when the caller never
    waited, e.g. a left message).  A second request keeps the first one's turn.
    """
    now = now or utcnow()
    if queue is not None and not (0 < len(queue) <= 32 and set(queue) <= CALLBACK_QUEUE_CHARS):
        raise ValidationError(f"callback queue {queue!r}: lower-case letters, digits and '-' only")
    if queue_entered_at is not None and queue_entered_at > now + MAX_CLOCK_SKEW:
        raise ValidationError("the caller cannot have entered the queue in the future")
    if ticket.callback_requested:
        return
    ticket.callback_requested = True
    ticket.callback_requested_at = now
    ticket.callback_queue = queue
    ticket.callback_queue_entered_at = queue_entered_at
    detail: dict[str, Any] = {"callback": True}
    if queue is not None:
        detail["queue"] = queue
    if queue_entered_at is not None:
        detail["waiting_since"] = queue_entered_at.isoformat()
    append_event(session, ticket, EventKind.CALL, actor, now=now, text="callback requested", detail=detail)
    session.flush()


def latest_open_ticket_for_number(session: Session, e164: str) -> Ticket | None:
    """The caller's most recent ticket that is still open (for "查询进度请按9")."""
    from models.lifecycle import OPEN_STATUSES

    stmt = (select(Ticket).where(Ticket.contact_number == e164, Ticket.status.in_(OPEN_STATUSES))
            .order_by(Ticket.created_at.desc()).limit(1))
    return session.scalars(stmt).first()


def latest_ticket_for_number(session: Session, e164: str) -> Ticket | None:
    """The caller's most recent ticket, open or not (for the status query)."""
    stmt = select(Ticket).where(Ticket.contact_number == e164).order_by(Ticket.created_at.desc()).limit(1)
    return session.scalars(stmt).first()
