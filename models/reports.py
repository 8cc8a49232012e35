"""Daily, weekly and monthly reports by category, station, agent or provider company.

A report over a long range is built chunk by chunk (one calendar month at a time, see
:func:`report_chunks`), so a page can show progress and a download can stream; each chunk returns
additive sums (:class:`ReportCell`) that merge exactly across chunks.

Figures per period and key: volume (tickets opened), SLA met (completed within the sub-service's
completion SLA, among tickets with a known outcome), satisfaction (residents' average score) and
repeat calls (tickets from a contact number that already had a ticket earlier in the same chunk).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.calllog import day_bounds
from models.entities import (
    Call,
    Evaluation,
    ProviderCompany,
    ServiceCategory,
    Station,
    SubService,
    Ticket,
    TicketEvent,
    User,
    Worker,
)
from models.enums import EvaluationParty, TicketStatus
from models.errors import ValidationError

MAX_REPORT_DAYS = 3 * 366 + 1


class Period(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Dimension(StrEnum):
    CATEGORY = "category"
    STATION = "station"
    AGENT = "agent"
    PROVIDER = "provider"


@dataclass
class ReportCell:
    """Additive sums of one (period, key)."""

    volume: int = 0
    sla_known: int = 0
    sla_met: int = 0
    score_sum: int = 0
    score_count: int = 0
    repeats: int = 0

    def add(self, other: ReportCell) -> None:
        """Merge another chunk's sums into this one."""
        for name in ("volume", "sla_known", "sla_met", "score_sum", "score_count", "repeats"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def sla_percent(self) -> float | None:
        """Share of tickets with a known outcome that met the SLA."""
        return round(100.0 * self.sla_met / self.sla_known, 1) if self.sla_known else None

    @property
    def satisfaction(self) -> float | None:
        """Average resident score."""
        return round(self.score_sum / self.score_count, 2) if self.score_count else None

    def as_dict(self) -> dict[str, Any]:
        """Plain values (the JSON of a chunk)."""
        return {"volume": self.volume, "sla_known": self.sla_known, "sla_met": self.sla_met,
                "score_sum": self.score_sum, "score_count": self.score_count, "repeats": self.repeats}


def period_start(day: dt.date, period: Period) -> dt.date:
    """The first day of the period ``day`` falls in."""
    if period == Period.DAILY:
        return day
    if period == Period.WEEKLY:
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def check_range(first: dt.date, last: dt.date) -> None:
    """Refuse an empty or over-long range."""
    if last < first:
        raise ValidationError("range: the last day is before the first")
    if (last - first).days > MAX_REPORT_DAYS:
        raise ValidationError("range: at most three years")


def report_chunks(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The range cut at month boundaries: (first day, last day) of each chunk, inclusive."""
    check_range(first, last)
    chunks: list[tuple[dt.date, dt.date]] = []
    current = first
    while current <= last:
        next_month = (current.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        end = min(last, next_month - dt.timedelta(days=1))
        chunks.append((current, end))
        current = end + dt.timedelta(days=1)
    return chunks


def _chunk_rows(session: Session, start: dt.datetime, end: dt.datetime, scope: frozenset[int] | None) -> Any:
    completed = (select(func.min(TicketEvent.at)).where(TicketEvent.ticket_id == Ticket.id,
                                                        TicketEvent.to_status == TicketStatus.COMPLETED)
                 .scalar_subquery())
    score = (select(func.avg(Evaluation.score)).where(Evaluation.ticket_id == Ticket.id,
                                                     Evaluation.party == EvaluationParty.RESIDENT)
             .scalar_subquery())
    agent = select(func.min(Call.agent_id)).where(Call.ticket_id == Ticket.id).scalar_subquery()
    stmt = (select(Ticket.created_at, Ticket.category_id, Ticket.station_id, Worker.company_id, agent,
                   SubService.sla_complete_minutes, Ticket.contact_number, Ticket.status, completed, score)
            .select_from(Ticket)
            .outerjoin(SubService, SubService.id == Ticket.sub_service_id)
            .outerjoin(Worker, Worker.id == Ticket.worker_id)
            .where(Ticket.created_at >= start, Ticket.created_at < end)
            .order_by(Ticket.created_at))
    if scope is not None:
        stmt = stmt.where(Ticket.station_id.in_(sorted(scope)))
    return session.execute(stmt.execution_options(yield_per=5000, stream_results=True))


def _sla(status: str, created: dt.datetime, completed: Any, minutes: int | None, now: dt.datetime) -> bool | None:
    """Met, missed, or None when not yet known (open and still within the SLA) or not applicable."""
    if minutes is None or status == TicketStatus.CANCELLED:
        return None
    deadline = created + dt.timedelta(minutes=minutes)
    if completed is not None:
        done = completed if completed.tzinfo else completed.replace(tzinfo=dt.UTC)
        return done <= deadline
    return False if now > deadline else None


def build_chunk(session: Session, *, first: dt.date, last: dt.date, period: Period, dimension: Dimension,
                zone: dt.tzinfo, scope: frozenset[int] | None = None) -> dict[tuple[str, int | None], ReportCell]:
    """The sums of one chunk (``first``..``last`` local days, inclusive) per (period start, key)."""
    start, _ = day_bounds(first, zone)
    _, end = day_bounds(last, zone)
    cells: dict[tuple[str, int | None], ReportCell] = {}
    seen_numbers: set[str] = set()
    now = utcnow()
    key_index = {Dimension.CATEGORY: 1, Dimension.STATION: 2, Dimension.PROVIDER: 3, Dimension.AGENT: 4}[dimension]
    for row in _chunk_rows(session, start, end, scope):
        created = row[0]
        day = created.astimezone(zone).date()
        cell = cells.setdefault((period_start(day, period).isoformat(), row[key_index]), ReportCell())
        cell.volume += 1
        met = _sla(row[7], created, row[8], row[5], now)
        if met is not None:
            cell.sla_known += 1
            cell.sla_met += int(met)
        if row[9] is not None:
            cell.score_sum += round(float(row[9]))
            cell.score_count += 1
        number = row[6]
        if number:
            if number in seen_numbers:
                cell.repeats += 1
            seen_numbers.add(number)
    return cells


def key_labels(session: Session, dimension: Dimension, language: str = "zh") -> dict[int, str]:
    """Names of the keys of a dimension."""
    if dimension == Dimension.CATEGORY:
        column = ServiceCategory.name_zh if language == "zh" else ServiceCategory.name_en
        return dict(session.execute(select(ServiceCategory.id, column)).tuples().all())
    if dimension == Dimension.STATION:
        column = Station.name_zh if language == "zh" else Station.name_en
        return dict(session.execute(select(Station.id, column)).tuples().all())
    if dimension == Dimension.AGENT:
        return dict(session.execute(select(User.id, User.display_name)).tuples().all())
    return dict(session.execute(select(ProviderCompany.id, ProviderCompany.name)).tuples().all())


@dataclass(frozen=True)
class ReportLine:
    """One line of a finished report."""

    period: str
    key: int | None
    label: str
    cell: ReportCell


def build_report(session: Session, *, first: dt.date, last: dt.date, period: Period, dimension: Dimension,
                 zone: dt.tzinfo, scope: frozenset[int] | None = None,
                 language: str = "zh") -> Iterator[tuple[int, int, list[ReportLine]]]:
    """Build chunk by chunk; yields (chunks done, chunks in all, lines so far merged) after each chunk."""
    chunks = report_chunks(first, last)
    labels = key_labels(session, dimension, language)
    merged: dict[tuple[str, int | None], ReportCell] = {}
    for done, (a, b) in enumerate(chunks, 1):
        for key, cell in build_chunk(session, first=a, last=b, period=period, dimension=dimension, zone=zone,
                                     scope=scope).items():
            merged.setdefault(key, ReportCell()).add(cell)
        lines = [ReportLine(p, k, labels.get(k, "-") if k is not None else "-", c)
                 for (p, k), c in sorted(merged.items(), key=lambda item: (item[0][0], -item[1].volume))]
        yield done, len(chunks), lines
