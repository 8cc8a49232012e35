"""A generator of realistic call and ticket history, for demos and benchmarks.

``generate_history`` writes calls, tickets, their timelines and residents' evaluations spread
over a span of years (growing volume, daily and weekly rhythm, category mix, every station), in
bulk Core inserts of ``batch`` rows.  It is deterministic for a given seed.  Run it on a database
no process is writing to (it assigns ids itself, then moves PostgreSQL sequences past them).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, insert, select, text

from models.entities import (
    Call,
    Evaluation,
    ServiceCategory,
    Station,
    SubService,
    Ticket,
    TicketCounter,
    TicketEvent,
    User,
    Worker,
)
from models.enums import (
    CallDirection,
    CallOutcome,
    Channel,
    EvaluationParty,
    EventKind,
    Priority,
    Role,
    StationLevel,
    TicketStatus,
)

ZONE = ZoneInfo("Asia/Shanghai")
# Relative demand by category code (high-frequency needs first: appliances, drains, locks, utilities).
CATEGORY_WEIGHTS = {"APPL": 16, "DRAIN": 14, "UTIL": 14, "LOCK": 10, "ELDER": 9, "MED": 7, "CLEAN": 7,
                    "HOUSE": 6, "LIFE": 5, "NET": 4, "MOVE": 3, "LEGAL": 2, "MIND": 2, "EMERG": 1}
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 12, 13, 12, 9, 7, 9, 11, 11, 10, 8, 7, 6, 5, 4, 2, 1]
OUTCOME_WEIGHTS = [(CallOutcome.TICKET, 84), (CallOutcome.ABANDONED_IVR, 5), (CallOutcome.ABANDONED_QUEUE, 6),
                   (CallOutcome.VOICEMAIL, 2), (CallOutcome.STATUS_QUERY, 3)]
CHANNEL_WEIGHTS = [(Channel.PHONE, 80), (Channel.WEB, 15), (Channel.WALK_IN, 3), (Channel.API, 2)]
SCORE_WEIGHTS = [(5, 62), (4, 25), (3, 8), (2, 3), (1, 2)]


@dataclass
class HistoryReport:
    """What the generator wrote."""

    calls: int = 0
    tickets: int = 0
    events: int = 0
    evaluations: int = 0
    first_day: str = ""
    last_day: str = ""
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Reference:
    subs: list[tuple[int, int, str, bool, str]]  # id, category id, category code, needs provider, queue
    sub_weights: list[float]
    stations: list[int]
    agents: list[int]
    workers: list[int]


def _reference(engine: Engine) -> _Reference:
    with engine.connect() as conn:
        categories = {row.id: (row.code, row.queue) for row in conn.execute(select(ServiceCategory))}
        subs = [(r.id, r.category_id, categories[r.category_id][0], r.needs_provider,
                 r.queue or categories[r.category_id][1])
                for r in conn.execute(select(SubService).where(SubService.retired.is_(False)))]
        stations = list(conn.scalars(select(Station.id).where(Station.level == StationLevel.COMMUNITY)))
        agents = list(conn.scalars(select(User.id).where(User.role == Role.AGENT)))
        workers = list(conn.scalars(select(Worker.id)))
    if not subs or not stations or not agents or not workers:
        raise RuntimeError("seed the database first (hotline db seed): catalogue, stations, agents, workers")
    per_category: dict[str, int] = {}
    for sub in subs:
        per_category[sub[2]] = per_category.get(sub[2], 0) + 1
    weights = [CATEGORY_WEIGHTS.get(s[2], 1) / per_category[s[2]] for s in subs]
    return _Reference(subs, weights, stations, agents, workers)


def _days(start: dt.date, end: dt.date, total: int, rng: random.Random) -> Iterator[tuple[dt.date, int]]:
    """Spread ``total`` calls over the days, growing linearly in time, busier on weekdays."""
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    weights = [(1 + 3 * i / max(1, len(days) - 1)) * (0.8 if d.weekday() >= 5 else 1.0) for i, d in enumerate(days)]
    scale = total / sum(weights)
    carry, given = 0.0, 0
    for day, weight in zip(days, weights, strict=True):
        carry += weight * scale
        count = int(carry) - given
        given += count
        yield day, count
    if given < total:
        yield days[-1], total - given


def _pick(rng: random.Random, pairs: list[tuple[Any, int]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


class _Writer:
    """Buffers rows per table and writes them in bulk."""

    def __init__(self, engine: Engine, batch: int) -> None:
        self.engine, self.batch = engine, batch
        self.rows: dict[Any, list[dict[str, Any]]] = {Call: [], Ticket: [], TicketEvent: [], Evaluation: []}

    def add(self, table: Any, row: dict[str, Any]) -> None:
        self.rows[table].append(row)

    def full(self) -> bool:
        return len(self.rows[Call]) + len(self.rows[Ticket]) >= self.batch

    def flush(self) -> None:
        with self.engine.begin() as conn:
            for table in (Ticket, Call, TicketEvent, Evaluation):  # tickets first: calls refer to them
                if self.rows[table]:
                    conn.execute(insert(table), self.rows[table])
                    self.rows[table] = []


def _next_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: (conn.scalar(select(func.coalesce(func.max(entity.id), 0))) or 0) + 1
                for name, entity in (("call", Call), ("ticket", Ticket), ("event", TicketEvent),
                                     ("evaluation", Evaluation))}


def _existing_counters(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(TicketCounter.day, TicketCounter.last)).tuples().all())


def _lifecycle(rng: random.Random, needs_provider: bool, age_days: int) -> list[TicketStatus]:
    """The statuses an old ticket went through (recent ones may still be open)."""
    if not needs_provider:
        steps = [TicketStatus.COMPLETED, TicketStatus.FOLLOWED_UP, TicketStatus.CLOSED]
    else:
        steps = [TicketStatus.DISPATCHED, TicketStatus.PROVIDER_ACCEPTED, TicketStatus.IN_SERVICE,
                 TicketStatus.COMPLETED, TicketStatus.FOLLOWED_UP, TicketStatus.CLOSED]
    if rng.random() < 0.02:
        return [TicketStatus.CANCELLED]
    if age_days <= 2:
        return steps[: rng.randint(0, len(steps) - 2)]
    return steps


def generate_history(engine: Engine, *, calls: int, years: float = 3.0, seed: int = 2004, batch: int = 5000,
                     until: dt.date | None = None,
                     progress: Callable[[int], None] | None = None) -> HistoryReport:
    """Write ``calls`` calls (most with a ticket and its timeline) ending the day before ``until``."""
    rng = random.Random(seed)
    ref = _reference(engine)
    end = (until or dt.datetime.now(ZONE).date()) - dt.timedelta(days=1)
    start = end - dt.timedelta(days=max(1, int(365 * years)))
    ids = _next_ids(engine)
    counters = _existing_counters(engine)
    writer = _Writer(engine, batch)
    report = HistoryReport(first_day=start.isoformat(), last_day=end.isoformat())
    residents_pool = [f"+86138{n:08d}" for n in rng.sample(range(10**8), k=max(100, calls // 6))]
    done = 0
    for day, count in _days(start, end, calls, rng):
        day_key = day.strftime("%y%m%d")
        for _ in range(count):
            _one_call(rng, ref, writer, ids, counters, report, day, day_key, residents_pool, end)
            done += 1
            if writer.full():
                writer.flush()
                if progress:
                    progress(done)
    writer.flush()
    if progress:
        progress(done)
    _store_counters(engine, counters)
    _advance_sequences(engine)
    return report


def _one_call(rng: random.Random, ref: _Reference, writer: _Writer, ids: dict[str, int],
              counters: dict[str, int], report: HistoryReport, day: dt.date, day_key: str,
              residents_pool: list[str], end: dt.date) -> None:
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    local = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)), ZONE)
    started = local.astimezone(dt.UTC)
    sub_id, category_id, category_code, needs_provider, queue = rng.choices(ref.subs, weights=ref.sub_weights)[0]
    number = rng.choice(residents_pool)
    channel = _pick(rng, CHANNEL_WEIGHTS)
    outcome = _pick(rng, OUTCOME_WEIGHTS) if channel == Channel.PHONE else CallOutcome.TICKET
    call_id = None
    if channel == Channel.PHONE:
        call_id = ids["call"]
        ids["call"] += 1
        wait = int(rng.expovariate(1 / 25))
        answered = outcome in (CallOutcome.TICKET, CallOutcome.STATUS_QUERY)
        ivr_seconds = rng.randint(15, 70)
        talk = rng.randint(60, 420) if answered else 0
        uniqueid = f"{int(started.timestamp())}.{call_id}"
        writer.add(Call, {
            "id": call_id, "uniqueid": uniqueid, "linkedid": uniqueid, "direction": CallDirection.INBOUND,
            "caller_number_raw": number[3:], "caller_number": number, "caller_number_flagged": False,
            "caller_name": None, "dialed": "96345", "started_at": started,
            "answered_at": started + dt.timedelta(seconds=ivr_seconds + wait) if answered else None,
            "ended_at": started + dt.timedelta(seconds=ivr_seconds + wait + talk),
            "ivr_path": [{"menu": "main", "key": str(rng.randint(1, 8))}], "language": "zh",
            "queue": queue if outcome != CallOutcome.ABANDONED_IVR else None,
            "queue_wait_seconds": wait if outcome != CallOutcome.ABANDONED_IVR else None,
            "agent_id": rng.choice(ref.agents) if answered else None,
            "outcome": outcome, "ticket_id": None,
        })
        report.calls += 1
    if outcome != CallOutcome.TICKET:
        return
    ticket_id = ids["ticket"]
    ids["ticket"] += 1
    counters[day_key] = counters.get(day_key, 0) + 1
    age = (end - day).days
    statuses = _lifecycle(rng, needs_provider, age)
    final = statuses[-1] if statuses else TicketStatus.ACCEPTED
    worker = rng.choice(ref.workers) if needs_provider and len(statuses) >= 2 else None
    priority = Priority.EMERGENCY if category_code == "EMERG" else Priority.NORMAL
    writer.add(Ticket, {
        "id": ticket_id, "number": f"{day_key}{counters[day_key]:04d}", "channel": channel,
        "origin_call_id": None, "category_id": category_id, "sub_service_id": sub_id,
        "station_id": rng.choice(ref.stations), "contact_number": number, "priority": priority,
        "status": final, "worker_id": worker, "created_at": started, "updated_at": started,
        "callback_requested": False,
    })
    if call_id is not None:
        writer.rows[Call][-1]["ticket_id"] = ticket_id
    report.tickets += 1
    _timeline(rng, writer, ids, report, ticket_id, started, statuses, worker)


def _timeline(rng: random.Random, writer: _Writer, ids: dict[str, int], report: HistoryReport, ticket_id: int,
              started: dt.datetime, statuses: list[TicketStatus], worker: int | None) -> None:
    at = started
    previous: TicketStatus | None = None
    for status in [TicketStatus.ACCEPTED, *statuses]:
        kind = EventKind.CREATED if previous is None else EventKind.STATUS
        writer.add(TicketEvent, {"id": ids["event"], "ticket_id": ticket_id, "at": at, "kind": kind,
                                 "actor": "ivr" if previous is None else "history",
                                 "from_status": previous, "to_status": status, "text": None, "detail": {}})
        ids["event"] += 1
        report.events += 1
        if status == TicketStatus.FOLLOWED_UP:
            writer.add(Evaluation, {"id": ids["evaluation"], "ticket_id": ticket_id, "worker_id": worker,
                                    "party": EvaluationParty.RESIDENT, "score": _pick(rng, SCORE_WEIGHTS),
                                    "solved": rng.random() < 0.95, "comment": None, "actor": "survey",
                                    "source_key": f"history:{ticket_id}", "created_at": at})
            ids["evaluation"] += 1
            report.evaluations += 1
        previous = status
        at = at + dt.timedelta(minutes=rng.randint(3, 240))


def _store_counters(engine: Engine, counters: dict[str, int]) -> None:
    with engine.begin() as conn:
        existing = set(conn.scalars(select(TicketCounter.day)))
        new = [{"day": d, "last": n} for d, n in counters.items() if d not in existing]
        for day in existing & set(counters):
            conn.execute(TicketCounter.__table__.update().where(TicketCounter.day == day)
                         .values(last=counters[day]))
        if new:
            conn.execute(insert(TicketCounter), new)


def _advance_sequences(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in ("calls", "tickets", "ticket_events", "evaluations"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
