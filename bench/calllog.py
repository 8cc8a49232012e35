"""Call-log benchmark: searches over N historical calls, a streamed export, and the load itself.

On SQLite (WAL) and PostgreSQL, in one run each: load N calls with their tickets, timelines and
evaluations through ``models.history.generate_history`` (time); then the supervisor's four typical
searches — by caller number, by day, by agent + week, by category + month — as the call log runs
them (``models.calllog.search_calls``, first page of 50) and, as the reference, the same queries
hand-written in SQL on the same indexes (p50/p95 of each, and the ratio); then the CSV and XLSX
exports at two sizes (time and the peak of Python memory, which should not grow with the rows).

``python -m bench.run calllog`` runs it at the default size; ``run(calls=2_130_000)`` is the
article's full history (about an hour of loading here).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
import tracemalloc
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import TextClause

from bench.claims import bench_database
from bench.common import Result, percentile
from callcenter.supervisor.export import build_xlsx, csv_lines
from models import make_engine, make_session_factory
from models.calllog import CallFilters, day_bounds, iter_calls, search_calls
from models.entities import Call, ServiceCategory, User
from models.enums import Role
from models.history import generate_history
from models.schema import upgrade_to_head
from models.seed import seed_all

ZONE = ZoneInfo("Asia/Shanghai")
PAGE = 50
SELECT = ("SELECT c.id, c.started_at, c.answered_at, c.ended_at, c.caller_number, c.caller_number_raw, "
          "c.caller_name, c.queue, c.queue_wait_seconds, c.agent_id, u.display_name, c.outcome, c.recording, "
          "c.ticket_id, t.number, t.category_id, t.station_id, c.linkedid FROM calls c ")
OUTER = "LEFT OUTER JOIN tickets t ON t.id = c.ticket_id LEFT OUTER JOIN users u ON u.id = c.agent_id "
INNER = "JOIN tickets t ON t.id = c.ticket_id LEFT OUTER JOIN users u ON u.id = c.agent_id "
ORDER = f" ORDER BY c.started_at DESC, c.id DESC LIMIT {PAGE + 1}"
REFERENCE_SQL = {
    "by number": SELECT + OUTER + "WHERE c.caller_number = :number" + ORDER,
    "by day": SELECT + OUTER + "WHERE c.started_at >= :start AND c.started_at < :end" + ORDER,
    "by agent + week": SELECT + OUTER + "WHERE c.started_at >= :start AND c.started_at < :end "
                                        "AND c.agent_id = :agent" + ORDER,
    "by category + month": SELECT + INNER + "WHERE c.started_at >= :start AND c.started_at < :end "
                                            "AND t.category_id = :category" + ORDER,
}


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)  # how UTCDateTime stores times


def _load(engine: Engine, calls: int) -> tuple[float, int]:
    upgrade_to_head(engine)
    with make_session_factory(engine).begin() as session:
        seed_all(session, companies=80)
    started = time.perf_counter()
    report = generate_history(engine, calls=calls, years=3.0, until=dt.date(2026, 1, 1), batch=5000)
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return seconds, report.calls + report.tickets + report.events + report.evaluations


def _cases(session: Session, rng: random.Random, count: int) -> dict[str, list[tuple[CallFilters, dict[str, Any]]]]:
    """``count`` parameter sets per search, drawn from the loaded data."""
    max_id = session.scalar(select(func.max(Call.id))) or 1
    numbers = [session.scalar(select(Call.caller_number).where(Call.id >= rng.randint(1, max_id)).limit(1))
               for _ in range(count)]
    agents = list(session.scalars(select(User.id).where(User.role == Role.AGENT)))
    categories = list(session.scalars(select(ServiceCategory.id)))
    first, last = dt.date(2023, 1, 10), dt.date(2025, 12, 20)
    cases: dict[str, list[tuple[CallFilters, dict[str, Any]]]] = {k: [] for k in REFERENCE_SQL}
    for number in numbers:
        cases["by number"].append((CallFilters(number=number), {"number": number}))
    for _ in range(count):
        day = first + dt.timedelta(days=rng.randrange((last - first).days))
        start, end = day_bounds(day, ZONE)
        cases["by day"].append((CallFilters(start=start, end=end), {"start": _naive(start), "end": _naive(end)}))
        monday = day - dt.timedelta(days=day.weekday())
        start, _ = day_bounds(monday, ZONE)
        end, _ = day_bounds(monday + dt.timedelta(days=7), ZONE)
        agent = rng.choice(agents)
        cases["by agent + week"].append((CallFilters(start=start, end=end, agent_id=agent),
                                         {"start": _naive(start), "end": _naive(end), "agent": agent}))
        month = day.replace(day=1)
        start, _ = day_bounds(month, ZONE)
        end, _ = day_bounds((month + dt.timedelta(days=32)).replace(day=1), ZONE)
        category = rng.choice(categories)
        cases["by category + month"].append((CallFilters(start=start, end=end, category_id=category),
                                             {"start": _naive(start), "end": _naive(end), "category": category}))
    return cases


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _orm_search(sessions: sessionmaker[Session], filters: CallFilters) -> int:
    with sessions() as session:
        return len(search_calls(session, filters, limit=PAGE).rows)


def _sql_search(engine: Engine, sql: TextClause, values: dict[str, Any]) -> int:
    with engine.connect() as conn:
        return len(conn.execute(sql, values).fetchall())


def _searches(engine: Engine, count: int) -> list[tuple[str, list[float], list[float]]]:
    sessions = make_session_factory(engine)
    rng = random.Random(96345)
    with sessions() as session:
        cases = _cases(session, rng, count)
    out = []
    for name, params in cases.items():
        sql = text(REFERENCE_SQL[name])
        orm_ms, sql_ms = [], []
        for filters, values in params[:3]:  # warm caches; both must find the same calls
            with sessions() as session, engine.connect() as conn:
                found = [row.id for row in search_calls(session, filters, limit=PAGE).rows]
                session.rollback()
                reference = [row[0] for row in conn.execute(sql, values).fetchall()][:PAGE]
            if found != reference:
                raise AssertionError(f"{name}: the call log and the reference SQL disagree")
        for filters, values in params:  # interleaved; each is one short transaction of its own
            orm_ms.append(_timed(lambda f=filters: _orm_search(sessions, f)))
            sql_ms.append(_timed(lambda v=values, q=sql: _sql_search(engine, q, v)))
        out.append((name, orm_ms, sql_ms))
    return out


def _local(value: dt.datetime | None) -> str:
    return value.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _export(engine: Engine, rows: int, kind: str) -> tuple[float, float, int]:
    """Seconds, peak traced Python memory (MiB) and bytes of one export of ``rows`` calls."""
    sessions = make_session_factory(engine)

    def produce() -> int:
        with sessions() as session:
            stream = iter_calls(session, CallFilters(), limit=rows)
            if kind == "csv":
                return sum(len(chunk.encode()) for chunk in csv_lines(stream, _local))
            path = build_xlsx(stream, _local)
            size = os.path.getsize(path)
            os.unlink(path)
            return size

    started = time.perf_counter()
    size = produce()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    produce()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, size


def run(calls: int = 150_000, searches: int = 60, export_rows: tuple[int, int] = (20_000, 100_000),
        backends: tuple[str, ...] = ("sqlite", "postgresql")) -> Result:
    """Load ``calls`` calls per backend, then time searches and exports (see the module docstring)."""
    result = Result(
        name="calllog",
        title=f"Call log: searches, exports and loading over {calls:,} calls",
        method=(f"`bench/calllog.py`: `generate_history` loads {calls:,} calls (with tickets, timelines and "
                f"evaluations, over 3 years) into a fresh database per backend, then `ANALYZE`. Each search runs "
                f"{searches} times with parameters drawn from the data (first page of {PAGE}, newest first) "
                "through `models.calllog.search_calls`, interleaved with the same query hand-written in SQL "
                "on the same connection and indexes (the reference). Exports stream every call (no filter) "
                "through the console's CSV and XLSX writers; memory is the peak of Python allocations "
                "(tracemalloc) in a second run."),
        headers=["backend", "search", "call log p50 ms", "call log p95 ms", "SQL p50 ms", "SQL p95 ms",
                 "ratio p50"],
    )
    for backend in backends:
        with bench_database(backend) as url:
            engine = make_engine(url)
            try:
                load_seconds, rows = _load(engine, calls)
                result.notes.append(f"{backend}: loading {calls:,} calls ({rows:,} rows in all) took "
                                    f"{load_seconds:.0f} s ({rows / load_seconds:,.0f} rows/s)")
                for name, orm_ms, sql_ms in _searches(engine, searches):
                    p50, ref50 = percentile(orm_ms, 50), percentile(sql_ms, 50)
                    result.rows.append([backend, name, f"{p50:.1f}", f"{percentile(orm_ms, 95):.1f}",
                                        f"{ref50:.1f}", f"{percentile(sql_ms, 95):.1f}", f"{p50 / ref50:.2f}"])
                for kind in ("csv", "xlsx"):
                    figures = [(n, *_export(engine, n, kind)) for n in export_rows if n <= calls]
                    result.notes.append(f"{backend}: {kind.upper()} export " + "; ".join(
                        f"{n:,} rows in {s:.1f} s, peak {m:.1f} MiB, {b / 2**20:.1f} MiB file"
                        for n, s, m, b in figures))
            finally:
                engine.dispose()
    return result

