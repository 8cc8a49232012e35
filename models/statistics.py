"""Daily statistics snapshots: one row of figures per finished local day, for the big screen and reports.

A day's row is written once, after the day is over (local days, Asia/Shanghai by default): the
job fills the missing days of the last ``days_back`` days and never rewrites a stored day, so it
can run any number of times (and on two schedulers by mistake) with the effect of once.  Reading
a month of history is then one small range read instead of a scan of the calls and tickets.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.base import utcnow
from models.calllog import day_bounds
from models.entities import (
    Alert,
    Call,
    DailyStatistics,
    Evaluation,
    OutboundCall,
    ServiceCategory,
    Ticket,
    TicketEvent,
)
from models.enums import CallDirection, CallOutcome, EvaluationParty, EventKind, TicketStatus


def _count_if(condition):  # type: ignore[no-untyped-def]
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def compute_day(session: Session, day: dt.date, zone: dt.tzinfo) -> DailyStatistics:
    """The figures of one local day (not stored)."""
    start, end = day_bounds(day, zone)
    offered, answered, ab_ivr, ab_queue = session.execute(
        select(func.count(), _count_if(Call.answered_at.is_not(None)),
               _count_if(Call.outcome == CallOutcome.ABANDONED_IVR),
               _count_if(Call.outcome == CallOutcome.ABANDONED_QUEUE))
        .where(Call.started_at >= start, Call.started_at < end, Call.direction == CallDirection.INBOUND)).one()
    opened = session.scalar(select(func.count()).select_from(Ticket)
                            .where(Ticket.created_at >= start, Ticket.created_at < end)) or 0
    completed = session.scalar(select(func.count()).select_from(TicketEvent)
                               .where(TicketEvent.at >= start, TicketEvent.at < end,
                                      TicketEvent.to_status == TicketStatus.COMPLETED)) or 0
    surveys, mean = session.execute(
        select(func.count(), func.avg(Evaluation.score))
        .where(Evaluation.created_at >= start, Evaluation.created_at < end,
               Evaluation.party == EvaluationParty.RESIDENT)).one()
    unreachable = session.scalar(select(func.count()).select_from(Alert)
                                 .where(Alert.created_at >= start, Alert.created_at < end,
                                        Alert.kind == "followup_unreachable")) or 0
    callbacks = session.scalar(select(func.count()).select_from(OutboundCall)
                               .where(OutboundCall.created_at >= start, OutboundCall.created_at < end,
                                      OutboundCall.purpose == "callback")) or 0
    escalations = session.scalar(select(func.count()).select_from(TicketEvent)
                                 .where(TicketEvent.at >= start, TicketEvent.at < end,
                                        TicketEvent.kind == EventKind.ESCALATION)) or 0
    categories = session.execute(
        select(ServiceCategory.code, func.count()).join(Ticket, Ticket.category_id == ServiceCategory.id)
        .where(Ticket.created_at >= start, Ticket.created_at < end).group_by(ServiceCategory.code)).all()
    return DailyStatistics(
        day=day, calls_offered=int(offered), calls_answered=int(answered), calls_abandoned_ivr=int(ab_ivr),
        calls_abandoned_queue=int(ab_queue), tickets_opened=int(opened), tickets_completed=int(completed),
        surveys=int(surveys or 0), rating_mean=round(float(mean), 3) if mean is not None else None,
        followups_unreachable=int(unreachable), callbacks_placed=int(callbacks), escalations=int(escalations),
        by_category={code: int(n) for code, n in categories}, computed_at=utcnow())


def snapshot_days(session: Session, *, zone: dt.tzinfo, days_back: int = 7,
                  now: dt.datetime | None = None) -> list[dt.date]:
    """Store the missing snapshots of the ``days_back`` finished days before today; returns the days stored."""
    now = now or utcnow()
    today = now.astimezone(zone).date()
    wanted = [today - dt.timedelta(days=n) for n in range(days_back, 0, -1)]
    stored = set(session.scalars(select(DailyStatistics.day).where(DailyStatistics.day.in_(wanted))))
    written = []
    for day in wanted:
        if day in stored:
            continue
        row = compute_day(session, day, zone)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # stored meanwhile by another runner: keep theirs
            continue
        written.append(day)
    return written


def daily_statistics(session: Session, first: dt.date, last: dt.date) -> list[DailyStatistics]:
    """The stored snapshots of ``first`` … ``last`` (inclusive), in day order."""
    return list(session.scalars(select(DailyStatistics).where(DailyStatistics.day >= first,
                                                              DailyStatistics.day <= last)
                                .order_by(DailyStatistics.day)))
