"""Claim benchmark: 10,000 claim attempts on 1,000 tickets from 16 concurrent workers.

Measured on SQLite (WAL) and PostgreSQL: double claims (must be 0), claims per second and
p50/p95 latency of an attempt; in the same run, a bare single-row ``UPDATE`` from the same number
of workers on the same database as the reference (the ratio is what to compare across machines).
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bench.common import PG_BENCH_ADMIN_URL, Result, percentile
from models import make_engine, make_session_factory
from models.claims import claim_ticket
from models.entities import Ticket, User
from models.enums import Channel, Role
from models.errors import ClaimConflict
from models.schema import upgrade_to_head
from models.seed import seed_catalogue, seed_stations
from models.tickets import TicketRequest, open_ticket
from models.users import hash_password

LEASE_SECONDS = 3600  # longer than the run: any ticket won by two agents is a double claim


@contextmanager
def bench_database(backend: str) -> Iterator[str]:
    """A fresh migrated database URL for the run, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    admin = sa.create_engine(PG_BENCH_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_BENCH_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare(engine: Engine, tickets: int, agents: int) -> tuple[list[int], list[int]]:
    """Catalogue, stations, ``agents`` agents and ``tickets`` open tickets."""
    upgrade_to_head(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as s:
        seed_catalogue(s)
        seed_stations(s)
        station_id = s.scalar(select(sa.func.min(sa.text("id"))).select_from(sa.table("stations")))
        password = hash_password("bench-password")
        s.add_all(User(username=f"bench{i}", password_hash=password, display_name=f"bench {i}", role=Role.AGENT,
                       station_id=station_id) for i in range(agents))
    with sessions.begin() as s:
        for _ in range(tickets):
            open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER"), actor="bench")
    with sessions() as s:
        return (list(s.scalars(select(Ticket.id))),
                list(s.scalars(select(User.id).where(User.username.like("bench%")))))


def run_threads(workers: int, attempts_each: int, action: Callable[[int, int], bool]) -> tuple[list[float], float]:
    """Run ``action(worker, attempt)`` from ``workers`` threads; latencies (s) and wall time."""
    latencies: list[list[float]] = [[] for _ in range(workers)]
    barrier = threading.Barrier(workers + 1)

    def work(index: int) -> None:
        barrier.wait()
        for attempt in range(attempts_each):
            started = time.perf_counter()
            action(index, attempt)
            latencies[index].append(time.perf_counter() - started)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return [x for per in latencies for x in per], time.perf_counter() - started


def claim_run(sessions: sessionmaker[Session], ticket_ids: list[int], agent_ids: list[int], attempts: int,
              workers: int) -> dict[str, float]:
    """The contended claim run; counts winners per ticket to find double claims."""
    winners: dict[int, set[int]] = defaultdict(set)
    lock = threading.Lock()
    rngs = [random.Random(i) for i in range(workers)]
    counts = {"won": 0, "conflict": 0}

    def attempt(worker: int, _n: int) -> bool:
        ticket_id = rngs[worker].choice(ticket_ids)
        agent = agent_ids[worker]
        try:
            with sessions.begin() as s:
                claim_ticket(s, ticket_id, agent, lease_seconds=LEASE_SECONDS)
        except ClaimConflict:
            with lock:
                counts["conflict"] += 1
            return False
        with lock:
            winners[ticket_id].add(agent)
            counts["won"] += 1
        return True

    latencies, wall = run_threads(workers, attempts // workers, attempt)
    with sessions() as s:
        holders = dict(s.execute(select(Ticket.id, Ticket.claim_holder_id)).tuples().all())
    double = sum(1 for agents in winners.values() if len(agents) > 1)
    mismatched = sum(1 for t, agents in winners.items() if holders.get(t) not in agents)
    return {"attempts": len(latencies), "won": counts["won"], "conflicts": counts["conflict"],
            "double": double + mismatched, "per_s": len(latencies) / wall,
            "p50": percentile(latencies, 50) * 1000, "p95": percentile(latencies, 95) * 1000}


def update_run(engine: Engine, ticket_ids: list[int], attempts: int, workers: int) -> dict[str, float]:
    """The reference: one bare single-row UPDATE per transaction from the same workers."""
    rngs = [random.Random(100 + i) for i in range(workers)]
    stmt = sa.text("UPDATE tickets SET description = :d WHERE id = :id")

    def attempt(worker: int, n: int) -> bool:
        with engine.begin() as conn:
            conn.execute(stmt, {"d": f"w{worker}-{n}", "id": rngs[worker].choice(ticket_ids)})
        return True

    latencies, wall = run_threads(workers, attempts // workers, attempt)
    return {"per_s": len(latencies) / wall, "p50": percentile(latencies, 50) * 1000,
            "p95": percentile(latencies, 95) * 1000}


def run(attempts: int = 10_000, tickets: int = 1_000, workers: int = 16,
        backends: tuple[str, ...] = ("sqlite", "postgresql")) -> Result:
    """The whole benchmark on each backend."""
    result = Result(
        name="claims", title="Claims under contention",
        method=(f"{attempts:,} claim attempts on {tickets:,} tickets from {workers} concurrent threads, each "
                "attempt its own transaction (`models.claims.claim_ticket`: conditional UPDATE + timeline "
                "INSERT). Reference: the same number of bare single-row `UPDATE`s from the same threads on the "
                "same database in the same run. \"won\" counts every successful attempt, including an agent "
                "re-claiming (renewing) a ticket it already holds; a double claim is a ticket won by two "
                "different agents, or whose final holder is not its winner."),
        headers=["database", "attempts", "won", "refused", "double claims", "claims/s", "p50 ms", "p95 ms",
                 "bare UPDATE/s", "UPDATE p50 ms", "claim/UPDATE p50"],
    )
    for backend in backends:
        with bench_database(backend) as url:
            engine = make_engine(url, pool_size=workers)
            ticket_ids, agent_ids = prepare(engine, tickets, workers)
            claims = claim_run(make_session_factory(engine), ticket_ids, agent_ids, attempts, workers)
            updates = update_run(engine, ticket_ids, attempts, workers)
            engine.dispose()
        result.rows.append([backend, f"{claims['attempts']:.0f}", f"{claims['won']:.0f}",
                            f"{claims['conflicts']:.0f}", f"{claims['double']:.0f}", f"{claims['per_s']:.0f}",
                            f"{claims['p50']:.2f}", f"{claims['p95']:.2f}", f"{updates['per_s']:.0f}",
                            f"{updates['p50']:.2f}", f"{claims['p50'] / updates['p50']:.1f}×"])
    return result


if __name__ == "__main__":
    print(run().text())
