"""The scheduler's jobs: explicit ids, and the coalesce / misfire policy of each, written down.

Every job body is idempotent (a job run twice has the effect of once): due work lives in the
``scheduled_tasks`` table and is claimed once; periodic sweeps only change rows that still need it.

| job id | trigger | coalesce | misfire grace | why |
|---|---|---|---|---|
| ``tasks.drain`` | every 5 s | yes | 30 s | runs due tasks (follow-ups, callbacks); the next run catches up |
| ``followups.schedule`` | every 60 s | yes | 300 s | gives completed tickets their follow-up task |
| ``claims.release_expired`` | every 30 s | yes | 60 s | frees tickets whose claim lease expired |
| ``offers.expire`` | every 10 s | yes | 60 s | unanswered dispatch offers expire; the job goes to the next candidate |
| ``sla.check`` | every 60 s | yes | 300 s | escalates each SLA breach once |
| ``points.apply`` | every 60 s | yes | 300 s | turns new evaluations into points-ledger entries |
| ``stars.recompute`` | every 6 h | yes | 6 h | star levels from the recent evaluations |
| ``callbacks.place`` | every 5 s | yes | 30 s | calls back waiting residents as agents free up (outbound.py) |
| ``stats.daily`` | every 1 h | yes | 1 h | stores each finished day's figures once (daily.py) |
| ``housekeeping.files`` | every 6 h | yes | 6 h | deletes prompt-cache files and recordings past retention |

Coalescing everywhere: after downtime, each job runs once, not once per missed period.  The
daily jobs run hourly so that a scheduler started late in the day still does the day's work; a
stored day is never computed again and a deleted file is gone, so the extra runs do nothing.

Task handlers (``JobContext.handlers``, by task kind) run claimed tasks inside a transaction and
answer ``None`` (finished) or a :class:`~callcenter.scheduler.outbound.TaskStep`: look again at
``wait_until`` (the task goes back to pending; a check is not a failed try) and work to do after
the commit — the follow-up handler stores the call attempt, the commit makes it durable, and only
then is the Originate sent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from callcenter.candidates import advance_offers
from callcenter.scheduler.daily import DailySettings, housekeeping, snapshot_statistics
from callcenter.scheduler.dialer import Dialer
from callcenter.scheduler.outbound import OutboundSettings, TaskStep, place_callbacks
from callcenter.scope import StationTree
from models.base import utcnow
from models.claims import release_expired_claims
from models.followups import CallingHours, schedule_followups
from models.outbound import wait_task
from models.points_rules import PointsRules, apply_evaluation_points, recompute_stars
from models.scheduling import ScheduledTask, TaskState, claim_due_tasks, finish_task, retry_task
from models.sla import escalate_sla_breaches

log = logging.getLogger("hotline.scheduler")


class TaskHandler(Protocol):
    """Runs one claimed task inside the caller's transaction; raises to have it retried."""

    def __call__(self, session: Session, task: ScheduledTask, now: dt.datetime) -> TaskStep | None: ...


@dataclass
class JobContext:
    """What the jobs need, built by the scheduler entry point."""

    sessions: sessionmaker[Session]
    holder: str
    followup_delay: dt.timedelta = dt.timedelta(hours=2)
    followup_retry: dt.timedelta = dt.timedelta(minutes=30)
    followup_attempts: int = 3
    calling_hours: CallingHours = field(default_factory=CallingHours)
    handlers: dict[str, TaskHandler] = field(default_factory=dict)
    points_rules: PointsRules = field(default_factory=PointsRules)
    clock: Callable[[], dt.datetime] = utcnow
    runs: dict[str, int] = field(default_factory=dict)  # job id → times run (for tests and the bench)
    dialer: Dialer | None = None  # None: no telephone system (follow-ups and callbacks wait)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    daily: DailySettings = field(default_factory=DailySettings)
    offer_seconds: int = 120  # a re-offered job's answer time (the offer_timeout_seconds setting)


@dataclass(frozen=True)
class JobSpec:
    """A periodic job: its id, interval and misfire grace."""

    job_id: str
    seconds: int
    misfire_grace: int
    body: Callable[[JobContext], Any]


def drain_due_tasks(ctx: JobContext, limit: int = 200) -> int:
    """Run every due task whose kind has a handler; failures are retried, then left for a person."""
    now = ctx.clock()
    ran = 0
    if not ctx.handlers:
        return 0
    while True:
        with ctx.sessions.begin() as session:
            tasks = claim_due_tasks(session, holder=ctx.holder, limit=limit, lease_seconds=300,
                                    kinds=sorted(ctx.handlers), now=now)
        if not tasks:
            return ran
        for task in tasks:
            _run_task(ctx, task.id, now)
            ran += 1


def _run_task(ctx: JobContext, task_id: int, now: dt.datetime) -> None:
    step: TaskStep | None = None
    try:
        with ctx.sessions.begin() as session:
            task = session.get_one(ScheduledTask, task_id)
            step = ctx.handlers[task.kind](session, task, now)
            if step is not None and step.wait_until is not None:
                wait_task(task, step.wait_until)
            elif task.state == TaskState.RUNNING:
                finish_task(session, task, now=now)
    except Exception as exc:  # a failed task is retried, never lost
        log.warning("task %s failed: %s", task_id, exc)
        with ctx.sessions.begin() as session:
            task = session.get_one(ScheduledTask, task_id)
            retry_task(session, task, at=now + ctx.followup_retry, error=str(exc), now=now)
        return
    if step is not None and step.after_commit is not None:
        try:
            step.after_commit()
        except Exception:  # the stored attempt times out as lost and is retried
            log.exception("task %s: the work after its commit failed", task_id)


BATCH = 200  # rows written per transaction by the sweeping jobs (SQLite has one writer at a time)


def schedule_due_followups(ctx: JobContext) -> int:
    """Follow-up tasks for newly completed tickets (in short transactions of ``BATCH``)."""
    total, now = 0, ctx.clock()
    while True:
        with ctx.sessions.begin() as session:
            made = len(schedule_followups(session, delay=ctx.followup_delay, hours=ctx.calling_hours,
                                          max_attempts=ctx.followup_attempts, now=now, limit=BATCH))
        total += made
        if made < BATCH:
            return total


def release_expired(ctx: JobContext) -> int:
    """Expired claim leases released."""
    with ctx.sessions.begin() as session:
        return release_expired_claims(session, now=ctx.clock())


def expire_dispatch_offers(ctx: JobContext) -> int:
    """Offers past their answer time expired, each ticket offered to its next candidate at once."""
    with ctx.sessions.begin() as session:
        return len(advance_offers(session, StationTree.load(session), offer_seconds=ctx.offer_seconds,
                                  now=ctx.clock()))


def check_sla(ctx: JobContext) -> int:
    """New SLA breaches escalated (in short transactions of ``BATCH``)."""
    total, now = 0, ctx.clock()
    while True:
        with ctx.sessions.begin() as session:
            escalated = len(escalate_sla_breaches(session, now=now, limit=BATCH))
        total += escalated
        if escalated < BATCH:
            return total


def apply_points(ctx: JobContext) -> int:
    """Ledger entries for new evaluations."""
    with ctx.sessions.begin() as session:
        return apply_evaluation_points(session, ctx.points_rules, now=ctx.clock())


def recompute_star_levels(ctx: JobContext) -> int:
    """Workers whose star level changed."""
    with ctx.sessions.begin() as session:
        return recompute_stars(session, ctx.points_rules, now=ctx.clock())


def place_due_callbacks(ctx: JobContext) -> int:
    """Callbacks placed now (in serving order, within the free agents)."""
    return len(place_callbacks(ctx.sessions, ctx.dialer, ctx.outbound, ctx.clock()).placed)


def daily_statistics(ctx: JobContext) -> int:
    """Days whose statistics snapshot was stored now."""
    return snapshot_statistics(ctx.sessions, ctx.daily, ctx.clock())


def housekeep_files(ctx: JobContext) -> int:
    """Old prompt-cache files and recordings deleted."""
    return sum(housekeeping(ctx.daily, ctx.clock()).values())


JOBS = [
    JobSpec("tasks.drain", 5, 30, drain_due_tasks),
    JobSpec("followups.schedule", 60, 300, schedule_due_followups),
    JobSpec("claims.release_expired", 30, 60, release_expired),
    JobSpec("offers.expire", 10, 60, expire_dispatch_offers),
    JobSpec("sla.check", 60, 300, check_sla),
    JobSpec("points.apply", 60, 300, apply_points),
    JobSpec("stars.recompute", 6 * 3600, 6 * 3600, recompute_star_levels),
    JobSpec("callbacks.place", 5, 30, place_due_callbacks),
    JobSpec("stats.daily", 3600, 3600, daily_statistics),
    JobSpec("housekeeping.files", 6 * 3600, 6 * 3600, housekeep_files),
]
JOBS_BY_ID = {spec.job_id: spec for spec in JOBS}

# The contexts of the schedulers running in this process, by holder name: the persisted jobs refer
# to them by name, since a database job store can only keep plain arguments.
_CONTEXTS: dict[str, JobContext] = {}


def install_context(ctx: JobContext) -> None:
    """Make a scheduler's context reachable by its jobs (done by the service when it starts)."""
    _CONTEXTS[ctx.holder] = ctx


def remove_context(holder: str) -> None:
    """Forget a stopped scheduler's context."""
    _CONTEXTS.pop(holder, None)


def run_job(job_id: str, holder: str) -> None:
    """The APScheduler entry point of every job (plain references, so the job store can persist it)."""
    ctx = _CONTEXTS.get(holder)
    if ctx is None:  # a job of a scheduler that has stopped in this process
        return
    result = JOBS_BY_ID[job_id].body(ctx)
    ctx.runs[job_id] = ctx.runs.get(job_id, 0) + 1
    if result:
        log.info("%s: %s", job_id, result)
