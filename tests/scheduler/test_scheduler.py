"""The scheduler: one active among several, due work run once, takeover, coalescing after downtime."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from callcenter.scheduler.jobs import JobContext
from callcenter.scheduler.service import SchedulerService
from models.entities import Ticket, TicketEvent
from models.enums import Channel, EventKind
from models.scheduling import ScheduledTask, SchedulerLease, TaskState, schedule_task
from models.tickets import TicketRequest, open_ticket
from tests.plugins.db import Database

FAST = {"tasks.drain": 0.2, "sla.check": 0.3, "followups.schedule": 0.5, "claims.release_expired": 0.5,
        "offers.expire": 0.5}


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _service(db: Database, name: str, handled: Counter[int], lock: threading.Lock) -> SchedulerService:
    def probe(_session: object, task: ScheduledTask, _now: dt.datetime) -> None:
        with lock:
            handled[task.id] += 1

    ctx = JobContext(sessions=db.sessions, holder=name, handlers={"probe": probe})
    return SchedulerService(db.engine, ctx, lease_seconds=2, renew_seconds=0.2, intervals=FAST)


def test_two_schedulers_one_active_each_task_once_and_takeover(db: Database) -> None:
    with db.sessions.begin() as s:
        for i in range(40):
            schedule_task(s, kind="probe", key=f"probe:{i}", due_at=dt.datetime.now(dt.UTC))
    handled: Counter[int] = Counter()
    lock = threading.Lock()
    services = [_service(db, f"s{i}", handled, lock) for i in range(2)]
    threads = [threading.Thread(target=s.run, daemon=True) for s in services]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(handled) == 40)
        assert sum(s.is_leader for s in services) == 1
        leader = next(s for s in services if s.is_leader)
        standby = next(s for s in services if not s.is_leader)
        leader.stop()  # a clean stop gives the lease up; the standby takes over
        wait_for(lambda: standby.is_leader, timeout=10)
        with db.sessions.begin() as s:
            for i in range(40, 50):
                schedule_task(s, kind="probe", key=f"probe:{i}", due_at=dt.datetime.now(dt.UTC))
        wait_for(lambda: len(handled) == 50)
    finally:
        for s in services:
            s.stop()
        for t in threads:
            t.join(timeout=10)
    assert set(handled.values()) == {1}
    with db.session() as s:
        states = Counter(s.scalars(select(ScheduledTask.state)))
        assert states == {TaskState.DONE: 50}


def test_missed_runs_coalesce_into_one_after_downtime(db: Database) -> None:
    lock = threading.Lock()
    first = _service(db, "first", Counter(), lock)
    first.intervals = {**FAST, "offers.expire": 2.0}
    thread = threading.Thread(target=first.run, daemon=True)
    thread.start()
    wait_for(lambda: first.context.runs.get("offers.expire", 0) >= 1)
    first.stop()
    thread.join(timeout=10)
    time.sleep(7)  # about three runs of offers.expire are missed while no scheduler runs
    second = _service(db, "second", Counter(), lock)
    second.intervals = {**FAST, "offers.expire": 2.0}
    thread = threading.Thread(target=second.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: second.context.runs.get("offers.expire", 0) >= 1)
        time.sleep(0.2)  # uncoalesced, the missed runs would all fire now, back to back
        assert second.scheduler is not None
        next_regular = second.scheduler.get_job("offers.expire").next_run_time
        runs = second.context.runs["offers.expire"]
        if dt.datetime.now(dt.UTC) < next_regular:
            assert runs == 1  # coalesced: once, not once per missed period
    finally:
        second.stop()
        thread.join(timeout=10)


def _start_scheduler(db: Database, folder: Path) -> subprocess.Popen[str]:
    """A ``hotline scheduler`` process; its output goes to a file (a pipe nobody reads fills up and
    blocks the process's next log line, which then never takes over)."""
    args = [sys.executable, "-m", "hotline.cli", "--data-dir", str(folder), "--database-url", db.url,
            "--set", "scheduler_lease_seconds=2", "scheduler", "--renew-seconds", "0.3",
            "--interval", "sla.check=0.5"]
    log = folder / f"scheduler-{time.monotonic_ns()}.log"
    with log.open("w") as output:
        return subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT, text=True)


def _logs(folder: Path) -> str:
    """The tail of every scheduler process's output (for a failure message)."""
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                     for log in sorted(folder.glob("scheduler-*.log")))


def _breaching_ticket(db: Database) -> int:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)  # past DRAIN-SEWER's 20 min to dispatch
    with db.sessions.begin() as s:
        return open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER"), actor="t",
                           now=long_ago).id


def _escalations(db: Database) -> Counter[int]:
    with db.session() as s:
        return Counter(s.scalars(select(TicketEvent.ticket_id).where(TicketEvent.kind == EventKind.ESCALATION)))


def test_scheduler_processes_elect_one_and_survive_a_kill(db: Database, tmp_path: Path) -> None:
    first_ticket = _breaching_ticket(db)
    processes = [_start_scheduler(db, tmp_path), _start_scheduler(db, tmp_path)]
    try:
        wait_for(lambda: _escalations(db).get(first_ticket) == 1, timeout=40)
        with db.session() as s:
            holder = s.scalar(select(SchedulerLease.holder))
        assert holder is not None
        leader_pid = int(holder.split(":")[1])
        leader = next(p for p in processes if p.pid == leader_pid)
        os.kill(leader.pid, signal.SIGKILL)  # no clean release: the standby waits out the lease
        leader.wait(timeout=10)
        second_ticket = _breaching_ticket(db)
        try:
            wait_for(lambda: _escalations(db).get(second_ticket) == 1, timeout=40)
        except AssertionError as exc:
            raise AssertionError(f"the standby did not take over:\n{_logs(tmp_path)}") from exc
        time.sleep(1.5)
        escalations = _escalations(db)
        assert escalations[first_ticket] == 1 and escalations[second_ticket] == 1  # once per breach
        with db.session() as s:
            assert s.scalar(select(SchedulerLease.holder)) != holder
            assert s.scalar(select(func.count()).select_from(Ticket)) >= 2
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
