"""The supervisors' call log: filtered searches with keyset paging, a call's detail and timeline.

Searches never count or OFFSET over millions of rows: a page is the next ``limit`` rows after a
cursor (the last row's sort value and id), read through the composite indexes declared here.
Sorting is by allow-listed keys only (:data:`SORTS`); every filter value is typed before it reaches
SQL, so a value with SQL in it is refused as malformed (DESIGN.md §6, promise 5).

The call's story for ``queue_log`` readers: :class:`QueueLogMark` keeps how far the dispatches and
survey results of calls' tickets have been written to Asterisk's queue_log (over AMI), and
:func:`pending_story` lists the next ones to write.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Index, Integer, Select, String, func, select, tuple_
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, utcnow
from models.entities import (
    Call,
    Evaluation,
    ServiceCategory,
    Station,
    SubService,
    Ticket,
    TicketEvent,
    User,
    Worker,
)
from models.enums import CallOutcome, EvaluationParty, EventKind, TicketStatus
from models.errors import NotFound, ValidationError
from models.phone import parse_phone

# Composite indexes the searches rely on (created by migration 0004v).
CALL_LOG_INDEXES = (
    Index("ix_calls_number_started", Call.caller_number, Call.started_at),
    Index("ix_calls_agent_started", Call.agent_id, Call.started_at),
    Index("ix_calls_queue_started", Call.queue, Call.started_at),
    Index("ix_tickets_category_created", Ticket.category_id, Ticket.created_at),
)

MAX_PAGE = 200
MAX_RANGE = dt.timedelta(days=3 * 366 + 1)
WAIT_KEY = func.coalesce(Call.queue_wait_seconds, -1)


@dataclass(frozen=True)
class SortKey:
    """An allow-listed sort: the SQL expression and how a cursor value of it is read back."""

    name: str
    expression: Any
    kind: type


SORTS: dict[str, SortKey] = {
    "started": SortKey("started", Call.started_at, dt.datetime),
    "wait": SortKey("wait", WAIT_KEY, int),
}


@dataclass(frozen=True)
class Sort:
    """A sort key and direction (``-started``: newest first, the default)."""

    key: SortKey
    descending: bool = True

    @property
    def token(self) -> str:
        """The sort as written in a URL."""
        return ("-" if self.descending else "") + self.key.name


DEFAULT_SORT = Sort(SORTS["started"], True)


def parse_sort(text: str | None) -> Sort:
    """``started``, ``-started``, ``wait`` or ``-wait``; anything else is refused."""
    if not text:
        return DEFAULT_SORT
    descending = text.startswith("-")
    name = text[1:] if descending else text
    if name not in SORTS:
        raise ValidationError(f"sort: {text[:40]!r} is not one of {', '.join(sorted(SORTS))}")
    return Sort(SORTS[name], descending)


@dataclass(frozen=True)
class CallFilters:
    """What a supervisor searches by; ``scope`` is the stations they may see (None: all)."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    number: str | None = None  # E.164
    agent_id: int | None = None
    queue: str | None = None
    category_id: int | None = None
    outcome: CallOutcome | None = None
    min_wait: int | None = None
    max_wait: int | None = None
    scope: frozenset[int] | None = None

    def described(self) -> dict[str, Any]:
        """The filters as plain values (the audit entry of a search or export)."""
        return {"start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None, "number": self.number,
                "agent_id": self.agent_id, "queue": self.queue, "category_id": self.category_id,
                "outcome": str(self.outcome) if self.outcome else None, "min_wait": self.min_wait,
                "max_wait": self.max_wait}


def normalise_number(text: str, region: str = "CN") -> str:
    """A searched caller number as stored (E.164), or ValidationError."""
    phone = parse_phone(text, region)
    if phone.e164 is None:
        raise ValidationError("number: not a phone number")
    return phone.e164


def check_filters(filters: CallFilters) -> CallFilters:
    """Refuse contradictory or unbounded filters (end before start, negative waits, > 3 years)."""
    if filters.start and filters.end:
        if filters.end <= filters.start:
            raise ValidationError("time range: the end must be after the start")
        if filters.end - filters.start > MAX_RANGE:
            raise ValidationError("time range: at most three years")
    for name, value in (("min_wait", filters.min_wait), ("max_wait", filters.max_wait)):
        if value is not None and not 0 <= value <= 86400:
            raise ValidationError(f"{name}: between 0 and 86400 seconds")
    return filters


# --- cursors --------------------------------------------------------------------------------------

def encode_cursor(sort: Sort, value: Any, call_id: int) -> str:
    """An opaque cursor after the row with sort value ``value`` and id ``call_id``."""
    plain = value.isoformat() if isinstance(value, dt.datetime) else value
    raw = json.dumps([sort.token, plain, call_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: Sort, cursor: str) -> tuple[Any, int]:
    """The (value, id) of a cursor made for ``sort``; a forged or stale cursor is refused."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        token, value, call_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValidationError("cursor: malformed") from exc
    if token != sort.token or not isinstance(call_id, int) or isinstance(call_id, bool):
        raise ValidationError("cursor: does not belong to this sort")
    if sort.key.kind is dt.datetime:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError("cursor: malformed") from exc
        if parsed.tzinfo is None:
            raise ValidationError("cursor: malformed")
        return parsed, call_id
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError("cursor: malformed")
    return value, call_id


# --- queries --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallRow:
    """One line of the call log."""

    id: int
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    caller_number: str | None
    caller_number_raw: str | None
    caller_name: str | None
    queue: str | None
    queue_wait_seconds: int | None
    agent_id: int | None
    agent_name: str | None
    outcome: str
    recording: str | None
    ticket_id: int | None
    ticket_number: str | None
    category_id: int | None
    station_id: int | None
    linkedid: str

    @property
    def talk_seconds(self) -> int | None:
        """Seconds from answer to hang-up."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return max(0, int((self.ended_at - self.answered_at).total_seconds()))


@dataclass
class CallPage:
    """A page of the call log and the cursor of the next one (None at the end)."""

    rows: list[CallRow]
    next_cursor: str | None
    sort: Sort = field(default=DEFAULT_SORT)


_COLUMNS = (Call.id, Call.started_at, Call.answered_at, Call.ended_at, Call.caller_number, Call.caller_number_raw,
            Call.caller_name, Call.queue, Call.queue_wait_seconds, Call.agent_id, User.display_name, Call.outcome,
            Call.recording, Call.ticket_id, Ticket.number, Ticket.category_id, Ticket.station_id, Call.linkedid)


def _conditions(filters: CallFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.start is not None:
        where.append(Call.started_at >= filters.start)
    if filters.end is not None:
        where.append(Call.started_at < filters.end)
    if filters.number is not None:
        where.append(Call.caller_number == filters.number)
    if filters.agent_id is not None:
        where.append(Call.agent_id == filters.agent_id)
    if filters.queue is not None:
        where.append(Call.queue == filters.queue)
    if filters.outcome is not None:
        where.append(Call.outcome == filters.outcome)
    if filters.min_wait is not None:
        where.append(Call.queue_wait_seconds >= filters.min_wait)
    if filters.max_wait is not None:
        where.append(Call.queue_wait_seconds <= filters.max_wait)
    if filters.category_id is not None:
        where.append(Ticket.category_id == filters.category_id)
    if filters.scope is not None:
        where.append(Ticket.station_id.in_(sorted(filters.scope)))
    return where


def call_log_query(filters: CallFilters, sort: Sort = DEFAULT_SORT) -> Select[Any]:
    """The search as one SELECT (ordered, unpaged): calls, their ticket and the answering agent."""
    check_filters(filters)
    needs_ticket = filters.category_id is not None or filters.scope is not None
    stmt = select(*_COLUMNS).select_from(Call)
    stmt = (stmt.join(Ticket, Ticket.id == Call.ticket_id) if needs_ticket
            else stmt.outerjoin(Ticket, Ticket.id == Call.ticket_id))
    stmt = stmt.outerjoin(User, User.id == Call.agent_id).where(*_conditions(filters))
    key = sort.key.expression
    order = (key.desc(), Call.id.desc()) if sort.descending else (key.asc(), Call.id.asc())
    return stmt.order_by(*order)


def _after(sort: Sort, value: Any, call_id: int) -> ColumnElement[bool]:
    pair = tuple_(sort.key.expression, Call.id)
    return pair < tuple_(value, call_id) if sort.descending else pair > tuple_(value, call_id)


def _row(values: Any) -> CallRow:
    return CallRow(*values[:11], str(values[11]), *values[12:])


def _page(session: Session, filters: CallFilters, sort: Sort, cursor: str | None, limit: int) -> CallPage:
    stmt = call_log_query(filters, sort)
    if cursor:
        stmt = stmt.where(_after(sort, *decode_cursor(sort, cursor)))
    rows = [_row(r) for r in session.execute(stmt.limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        value = last.started_at if sort.key.name == "started" else (
            last.queue_wait_seconds if last.queue_wait_seconds is not None else -1)
        next_cursor = encode_cursor(sort, value, last.id)
    return CallPage(rows, next_cursor, sort)


def search_calls(session: Session, filters: CallFilters, *, sort: Sort = DEFAULT_SORT, cursor: str | None = None,
                 limit: int = 50) -> CallPage:
    """One page of the call log after ``cursor``."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: between 1 and {MAX_PAGE}")
    return _page(session, filters, sort, cursor, limit)


def iter_calls(session: Session, filters: CallFilters, *, sort: Sort = DEFAULT_SORT, batch: int = 2000,
               limit: int | None = None) -> Iterator[CallRow]:
    """Every matching call in keyset batches of ``batch`` rows (constant memory, for exports).

    No transaction stays open between batches (the session is rolled back after each one): a long
    export never holds SQLite's lock (this project begins every SQLite transaction IMMEDIATE) nor a
    PostgreSQL snapshot for minutes.  The keyset makes the batches seamless: no call twice or missed.
    """
    cursor: str | None = None
    sent = 0
    while limit is None or sent < limit:
        size = batch if limit is None else min(batch, limit - sent)
        page = _page(session, filters, sort, cursor, size)
        session.rollback()
        yield from page.rows
        sent += len(page.rows)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


# --- detail ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TimelineEntry:
    """One moment of a call's story: an IVR step, the queue, the agent, a ticket event."""

    at: dt.datetime | None
    kind: str  # ivr, queue, answered, ended, ticket
    text: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class CallDetail:
    """A call with what hangs on it."""

    call: Call
    agent_name: str | None
    ticket: Ticket | None
    category: ServiceCategory | None
    sub_service: SubService | None
    station: Station | None
    timeline: list[TimelineEntry]


def visible_call(session: Session, call_id: int, scope: frozenset[int] | None) -> tuple[Call, Ticket | None]:
    """The call if the scope may see it (its ticket's station; calls without a ticket: city only)."""
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(f"call {call_id} does not exist")
    ticket = session.get(Ticket, call.ticket_id) if call.ticket_id else None
    if scope is not None and (ticket is None or ticket.station_id not in scope):
        raise NotFound(f"call {call_id} does not exist")
    return call, ticket


def call_timeline(session: Session, call: Call, ticket: Ticket | None) -> list[TimelineEntry]:
    """The call's timeline: start, IVR steps in order, queue, answer, end, then the ticket's events."""
    entries = [TimelineEntry(call.started_at, "start", call.dialed or "")]
    for step in call.ivr_path or []:
        entries.append(TimelineEntry(None, "ivr", ", ".join(f"{k}={v}" for k, v in dict(step).items()),
                                     dict(step)))
    if call.queue:
        entries.append(TimelineEntry(call.queue_entered_at, "queue", call.queue,
                                     {"wait": call.queue_wait_seconds, "position": call.queue_position}))
    if call.answered_at:
        entries.append(TimelineEntry(call.answered_at, "answered", str(call.agent_id or "")))
    if call.ended_at:
        entries.append(TimelineEntry(call.ended_at, "ended", str(call.outcome)))
    if ticket is not None:
        events = session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                 .order_by(TicketEvent.id))
        for event in events:
            label = str(event.to_status) if event.to_status else (event.text or "")
            entries.append(TimelineEntry(event.at, f"ticket:{event.kind}", label,
                                         {"actor": event.actor, "text": event.text or ""}))
    return entries


def call_detail(session: Session, call_id: int, scope: frozenset[int] | None) -> CallDetail:
    """The detail page's data, or NotFound when the call is absent or outside the scope."""
    call, ticket = visible_call(session, call_id, scope)
    agent = session.get(User, call.agent_id) if call.agent_id else None
    category = session.get(ServiceCategory, ticket.category_id) if ticket and ticket.category_id else None
    sub = session.get(SubService, ticket.sub_service_id) if ticket and ticket.sub_service_id else None
    station = session.get(Station, ticket.station_id) if ticket and ticket.station_id else None
    return CallDetail(call, agent.display_name if agent else None, ticket, category, sub, station,
                      call_timeline(session, call, ticket))


def agents_for_filter(session: Session) -> list[tuple[int, str]]:
    """Agents (id, display name) for the filter form."""
    return list(session.execute(select(User.id, User.display_name).where(User.role.in_(("agent", "supervisor")))
                                .order_by(User.display_name)).tuples())


def queues_for_filter(session: Session) -> list[str]:
    """The queue names calls can wait in (from the catalogue, not a scan of the calls)."""
    names = set(session.scalars(select(ServiceCategory.queue)))
    names |= {q for q in session.scalars(select(SubService.queue).where(SubService.queue.is_not(None)))}
    return sorted(n for n in names if n)


def day_bounds(day: dt.date, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants where a local day begins and ends."""
    start = dt.datetime.combine(day, dt.time(), zone)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


# --- the call's story in queue_log ------------------------------------------------------------------

STORY_STREAMS = ("dispatch", "survey")


class QueueLogMark(Base):
    """How far one stream of custom queue_log events has been written (the last source row id)."""

    __tablename__ = "queue_log_marks"

    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class StoryItem:
    """One fact about a call's ticket to write to queue_log: a dispatch or a survey result."""

    stream: str
    source_id: int  # the ticket event's or the evaluation's id
    at: dt.datetime
    uniqueid: str
    queue: str | None
    ticket_number: str
    values: tuple[str, ...]  # dispatch: sub-service code, worker code; survey: score, solved


def _source(stream: str) -> Any:
    if stream not in STORY_STREAMS:
        raise ValidationError(f"queue_log stream {stream!r} is not one of {', '.join(STORY_STREAMS)}")
    return TicketEvent if stream == "dispatch" else Evaluation


def story_mark(session: Session, stream: str) -> int:
    """The stream's mark; a new stream starts at the newest row, so history is never replayed."""
    source = _source(stream)
    mark = session.get(QueueLogMark, stream)
    if mark is None:
        mark = QueueLogMark(stream=stream, last_id=session.scalar(select(func.max(source.id))) or 0,
                            updated_at=utcnow())
        session.add(mark)
        session.flush()
    return mark.last_id


def advance_story_mark(session: Session, stream: str, last_id: int) -> None:
    """Move the stream's mark forward to ``last_id`` (never backwards)."""
    _source(stream)
    mark = session.get(QueueLogMark, stream)
    if mark is None:
        session.add(QueueLogMark(stream=stream, last_id=last_id, updated_at=utcnow()))
    elif last_id > mark.last_id:
        mark.last_id, mark.updated_at = last_id, utcnow()
    session.flush()


def settled_id(session: Session, stream: str, after_id: int, cutoff: dt.datetime, limit: int = 500) -> int:
    """The highest row id after ``after_id`` among the next ``limit`` rows written before ``cutoff``
    (rows of a transaction that may still be open are left for the next look)."""
    source = _source(stream)
    time_column = source.at if stream == "dispatch" else source.created_at
    rows = session.execute(select(source.id, time_column).where(source.id > after_id)
                           .order_by(source.id).limit(limit)).all()
    settled = after_id
    for row_id, at in rows:
        if at > cutoff:
            break
        settled = row_id
    return settled


def pending_story(session: Session, stream: str, after_id: int, up_to_id: int) -> list[StoryItem]:
    """The dispatches (or resident survey results) of tickets opened from a call, with row ids in
    ``(after_id, up_to_id]``, oldest first."""
    if stream == "dispatch":
        rows = session.execute(
            select(TicketEvent.id, TicketEvent.at, Call.uniqueid, Call.queue, Ticket.number, SubService.code,
                   TicketEvent.detail)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id).join(Call, Call.id == Ticket.origin_call_id)
            .outerjoin(SubService, SubService.id == Ticket.sub_service_id)
            .where(TicketEvent.id > after_id, TicketEvent.id <= up_to_id, TicketEvent.kind == EventKind.STATUS,
                   TicketEvent.to_status == TicketStatus.DISPATCHED)
            .order_by(TicketEvent.id)).all()
        workers = _worker_codes(session, [dict(r[6] or {}).get("worker_id") for r in rows])
        return [StoryItem("dispatch", r[0], r[1], r[2], r[3], r[4],
                          (r[5] or "", workers.get(dict(r[6] or {}).get("worker_id"), ""))) for r in rows]
    _source(stream)
    rows = session.execute(
        select(Evaluation.id, Evaluation.created_at, Call.uniqueid, Call.queue, Ticket.number, Evaluation.score,
               Evaluation.solved)
        .join(Ticket, Ticket.id == Evaluation.ticket_id).join(Call, Call.id == Ticket.origin_call_id)
        .where(Evaluation.id > after_id, Evaluation.id <= up_to_id, Evaluation.party == EvaluationParty.RESIDENT)
        .order_by(Evaluation.id)).all()
    return [StoryItem("survey", r[0], r[1], r[2], r[3], r[4],
                      (str(r[5]), "" if r[6] is None else ("Y" if r[6] else "N"))) for r in rows]


def _worker_codes(session: Session, ids: list[Any]) -> dict[Any, str]:
    wanted = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    if not wanted:
        return {}
    return dict(session.execute(select(Worker.id, Worker.code).where(Worker.id.in_(sorted(wanted)))).tuples().all())


__all__ = ["CALL_LOG_INDEXES", "SORTS", "CallDetail", "CallFilters", "CallPage", "CallRow", "QueueLogMark", "Sort",
           "StoryItem", "TimelineEntry", "advance_story_mark", "call_detail", "call_log_query", "check_filters",
           "decode_cursor", "encode_cursor", "iter_calls", "normalise_number", "parse_sort", "pending_story",
           "search_calls", "settled_id", "story_mark", "visible_call"]
