"""Leadership lease and due tasks: one leader, each task claimed once, retries bounded."""

from __future__ import annotations

import datetime as dt
import threading

from models.scheduling import (
    TaskState,
    acquire_leadership,
    claim_due_tasks,
    current_leader,
    finish_task,
    release_leadership,
    retry_task,
    schedule_task,
)
from tests.plugins.db import Database

NOW = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)


def test_one_leader_until_its_lease_expires(db: Database) -> None:
    with db.sessions.begin() as s:
        assert acquire_leadership(s, "scheduler", "a", ttl_seconds=30, now=NOW)
    with db.sessions.begin() as s:
        assert not acquire_leadership(s, "scheduler", "b", ttl_seconds=30, now=NOW + dt.timedelta(seconds=10))
        assert acquire_leadership(s, "scheduler", "a", ttl_seconds=30, now=NOW + dt.timedelta(seconds=20))
    with db.sessions.begin() as s:
        assert current_leader(s, "scheduler", now=NOW + dt.timedelta(seconds=49)) == "a"
        assert acquire_leadership(s, "scheduler", "b", ttl_seconds=30, now=NOW + dt.timedelta(seconds=51))
    with db.sessions.begin() as s:
        release_leadership(s, "scheduler", "b")
    with db.sessions.begin() as s:
        assert current_leader(s, "scheduler") is None


def test_simultaneous_candidates_elect_exactly_one(db: Database) -> None:
    barrier = threading.Barrier(6)
    winners: list[str] = []

    def stand(name: str) -> None:
        barrier.wait()
        with db.sessions.begin() as s:
            if acquire_leadership(s, "scheduler", name, ttl_seconds=30):
                winners.append(name)

    threads = [threading.Thread(target=stand, args=(f"p{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_scheduling_is_idempotent_and_tasks_are_claimed_once(db: Database) -> None:
    with db.sessions.begin() as s:
        for i in range(20):
            schedule_task(s, kind="followup", key=f"followup:{i}", due_at=NOW + dt.timedelta(seconds=i))
        again = schedule_task(s, kind="followup", key="followup:0", due_at=NOW + dt.timedelta(days=9))
        assert again.due_at == NOW
    claimed: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def runner(name: str) -> None:
        barrier.wait()
        while True:
            with db.sessions.begin() as s:
                tasks = claim_due_tasks(s, holder=name, limit=3, lease_seconds=60, now=NOW + dt.timedelta(minutes=1))
                for task in tasks:
                    finish_task(s, task)
            if not tasks:
                return
            with lock:
                claimed.extend(t.id for t in tasks)

    threads = [threading.Thread(target=runner, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 20 and len(set(claimed)) == 20


def test_not_yet_due_tasks_wait_and_lost_runners_are_taken_over(db: Database) -> None:
    with db.sessions.begin() as s:
        schedule_task(s, kind="sla", key="sla:1", due_at=NOW + dt.timedelta(hours=1))
        assert claim_due_tasks(s, holder="a", limit=5, lease_seconds=60, now=NOW) == []
    with db.sessions.begin() as s:
        [task] = claim_due_tasks(s, holder="a", limit=5, lease_seconds=60, now=NOW + dt.timedelta(hours=1))
    # runner "a" dies without finishing; after its lease another runner takes the task over
    with db.sessions.begin() as s:
        assert claim_due_tasks(s, holder="b", limit=5, lease_seconds=60,
                               now=NOW + dt.timedelta(hours=1, seconds=30)) == []
        [again] = claim_due_tasks(s, holder="b", limit=5, lease_seconds=60,
                                  now=NOW + dt.timedelta(hours=1, seconds=61))
        assert again.id == task.id and again.attempts == 2


def test_retries_are_bounded(db: Database) -> None:
    with db.sessions.begin() as s:
        schedule_task(s, kind="followup", key="followup:x", due_at=NOW, max_attempts=2)
    at = NOW
    outcomes = []
    for _ in range(2):
        with db.sessions.begin() as s:
            [task] = claim_due_tasks(s, holder="a", limit=1, lease_seconds=60, now=at)
            at = at + dt.timedelta(minutes=30)
            outcomes.append(retry_task(s, task, at=at, error="no answer"))
    assert outcomes == [True, False]
    with db.session() as s:
        from models.scheduling import ScheduledTask

        assert s.get_one(ScheduledTask, task.id).state == TaskState.FAILED
