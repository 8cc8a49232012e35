"""Live figures for the wallboard and the big screen (智能大屏), read straight from the call records.

Each function reads one small aggregate over an indexed time range (today, this week, the last
30 days), so they can be polled every few seconds.  Days and weeks are local days (``zone``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.calllog import day_bounds
from models.console import AgentState
from models.entities import Call, Evaluation, ServiceCategory, SubService, Ticket, User
from models.enums import CallOutcome, EvaluationParty, Priority, Role, TicketStatus
from models.statistics import daily_statistics

SERVICE_LEVEL_SECONDS = 20
OPEN_STATUSES = (TicketStatus.ACCEPTED, TicketStatus.DISPATCHED, TicketStatus.PROVIDER_ACCEPTED,
                 TicketStatus.IN_SERVICE, TicketStatus.ESCALATED, TicketStatus.REOPENED)


@dataclass
class QueueFigures:
    """Waiting calls of one queue."""

    waiting: int = 0
    longest_wait_seconds: int = 0


@dataclass
class Wallboard:
    """The wallboard's figures for today."""

    queues: dict[str, QueueFigures] = field(default_factory=dict)
    agents: dict[str, int] = field(default_factory=dict)
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    open_emergencies: int = 0
    at: dt.datetime = field(default_factory=utcnow)

    @property
    def service_level(self) -> float | None:
        """Share of queued calls answered within 20 s (answered + abandoned in queue as the base)."""
        base = self.answered + self.abandoned
        return round(100.0 * self.answered_in_time / base, 1) if base else None

    @property
    def abandon_rate(self) -> float | None:
        """Share of queued calls abandoned in the queue."""
        base = self.answered + self.abandoned
        return round(100.0 * self.abandoned / base, 1) if base else None

    def as_dict(self) -> dict[str, Any]:
        """JSON for the polling page."""
        return {"queues": {k: {"waiting": v.waiting, "longest_wait_seconds": v.longest_wait_seconds}
                           for k, v in sorted(self.queues.items())},
                "agents": self.agents, "offered": self.offered, "answered": self.answered,
                "answered_in_time": self.answered_in_time, "abandoned": self.abandoned,
                "service_level": self.service_level, "abandon_rate": self.abandon_rate,
                "open_emergencies": self.open_emergencies, "at": self.at.isoformat()}


def _scoped(stmt: Any, scope: frozenset[int] | None) -> Any:
    return stmt if scope is None else stmt.where(Ticket.station_id.in_(sorted(scope)))


def waiting_in_queues(session: Session, since: dt.datetime, now: dt.datetime) -> dict[str, QueueFigures]:
    """Calls in a queue and not yet answered, per queue, from the call records."""
    rows = session.execute(
        select(Call.queue, func.count(), func.min(Call.queue_entered_at))
        .where(Call.started_at >= since, Call.outcome == CallOutcome.IN_PROGRESS, Call.queue.is_not(None),
               Call.queue_entered_at.is_not(None), Call.answered_at.is_(None))
        .group_by(Call.queue))
    figures: dict[str, QueueFigures] = {}
    for queue, count, oldest in rows:
        oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
        figures[queue] = QueueFigures(count, max(0, int((now - oldest_at).total_seconds())))
    return figures


def agents_by_state(session: Session) -> dict[str, int]:
    """Agents per console state (logged out when never set)."""
    state = func.coalesce(AgentState.state, literal_column("'logged_out'")).label("state")
    rows = session.execute(select(state, func.count()).select_from(User)
                           .outerjoin(AgentState, AgentState.user_id == User.id)
                           .where(User.role == Role.AGENT, User.active.is_(True)).group_by(state))
    return {state: count for state, count in rows}


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def wallboard(session: Session, *, zone: dt.tzinfo, scope: frozenset[int] | None = None,
              now: dt.datetime | None = None) -> Wallboard:
    """Today's wallboard: queues, agents, service level, abandon rate, open emergencies."""
    now = now or utcnow()
    start, _end = day_bounds(now.astimezone(zone).date(), zone)
    board = Wallboard(at=now, queues=waiting_in_queues(session, start, now), agents=agents_by_state(session))
    queued = Call.queue_wait_seconds.is_not(None)
    answered = Call.answered_at.is_not(None)
    offered, answered_n, in_time, abandoned = session.execute(
        select(func.count(), _count_if(answered), _count_if(answered & (Call.queue_wait_seconds
                                                                        <= SERVICE_LEVEL_SECONDS)),
               _count_if(Call.outcome == CallOutcome.ABANDONED_QUEUE))
        .where(Call.started_at >= start, Call.started_at <= now, queued)).one()
    board.offered, board.answered, board.answered_in_time, board.abandoned = (int(offered), int(answered_n),
                                                                              int(in_time), int(abandoned))
    board.open_emergencies = session.scalar(_scoped(
        select(func.count()).select_from(Ticket)
        .where(Ticket.priority == Priority.EMERGENCY, Ticket.status.in_(OPEN_STATUSES)), scope)) or 0
    return board


# --- big screen ----------------------------------------------------------------------------------

def week_start(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


def tickets_per_day(session: Session, start: dt.datetime, days: int, zone: dt.tzinfo,
                    scope: frozenset[int] | None) -> list[int]:
    """Tickets opened on each of ``days`` local days from ``start`` (one indexed range read)."""
    end = start + dt.timedelta(days=days)
    counts = [0] * days
    rows = session.execute(_scoped(select(Ticket.created_at).where(Ticket.created_at >= start,
                                                                   Ticket.created_at < end), scope))
    base = start.astimezone(zone).date()
    for (created,) in rows:
        index = (created.astimezone(zone).date() - base).days
        if 0 <= index < days:
            counts[index] += 1
    return counts


def opened_per_day(session: Session, first: dt.date, days: int, zone: dt.tzinfo, scope: frozenset[int] | None,
                   today: dt.date) -> list[int]:
    """Tickets opened on each of ``days`` local days from ``first``: city-wide, a finished day comes
    from its daily snapshot (``daily_statistics``); today, a day without a snapshot, or a station's
    view is counted from the tickets."""
    counts: list[int | None] = [None] * days
    if scope is None and first < today:
        last_finished = min(first + dt.timedelta(days=days - 1), today - dt.timedelta(days=1))
        for row in daily_statistics(session, first, last_finished):
            counts[(row.day - first).days] = row.tickets_opened
    missing = [i for i, value in enumerate(counts) if value is None]
    if missing:
        start, _ = day_bounds(first + dt.timedelta(days=missing[0]), zone)
        live = tickets_per_day(session, start, missing[-1] - missing[0] + 1, zone, scope)
        for i in missing:
            counts[i] = live[i - missing[0]]
    return [int(value or 0) for value in counts]


def big_screen(session: Session, *, zone: dt.tzinfo, scope: frozenset[int] | None = None,
               now: dt.datetime | None = None, language: str = "zh") -> dict[str, Any]:
    """The big screen's figures: today, demand share, top sub-services, week trend, satisfaction."""
    now = now or utcnow()
    today = now.astimezone(zone).date()
    day_start, day_end = day_bounds(today, zone)
    monday = week_start(today)
    this_week, _ = day_bounds(monday, zone)
    month_ago = day_start - dt.timedelta(days=30)
    name = ServiceCategory.name_zh if language == "zh" else ServiceCategory.name_en
    sub_name = SubService.name_zh if language == "zh" else SubService.name_en
    calls_today = session.scalar(select(func.count()).select_from(Call)
                                 .where(Call.started_at >= day_start, Call.started_at < day_end)) or 0
    tickets_today = session.scalar(_scoped(select(func.count()).select_from(Ticket)
                                           .where(Ticket.created_at >= day_start,
                                                  Ticket.created_at < day_end), scope)) or 0
    demand = session.execute(_scoped(
        select(name, func.count()).select_from(Ticket).join(ServiceCategory, ServiceCategory.id == Ticket.category_id)
        .where(Ticket.created_at >= month_ago, Ticket.created_at < day_end)
        .group_by(name).order_by(func.count().desc()), scope)).all()
    top = session.execute(_scoped(
        select(sub_name, func.count()).select_from(Ticket).join(SubService, SubService.id == Ticket.sub_service_id)
        .where(Ticket.created_at >= this_week, Ticket.created_at < day_end)
        .group_by(sub_name).order_by(func.count().desc(), sub_name).limit(10), scope)).all()
    scores = session.execute(_scoped(
        select(Evaluation.score, func.count()).join(Ticket, Ticket.id == Evaluation.ticket_id)
        .where(Evaluation.party == EvaluationParty.RESIDENT, Evaluation.created_at >= month_ago)
        .group_by(Evaluation.score), scope)).all()
    rated = sum(n for _s, n in scores)
    return {
        "calls_today": int(calls_today), "tickets_today": int(tickets_today),
        "demand": [{"name": n, "value": int(v)} for n, v in demand],
        "top_sub_services": [{"name": n, "value": int(v)} for n, v in top],
        "trend": {"this_week": opened_per_day(session, monday, today.weekday() + 1, zone, scope, today),
                  "last_week": opened_per_day(session, monday - dt.timedelta(days=7), 7, zone, scope, today)},
        "satisfaction": {"rated": rated,
                         "average": round(sum(s * n for s, n in scores) / rated, 2) if rated else None,
                         "satisfied_percent": round(100.0 * sum(n for s, n in scores if s >= 4) / rated, 1)
                         if rated else None,
                         "by_score": {int(s): int(n) for s, n in scores}},
        "at": now.isoformat(),
    }
