"""Scheduled work in the database: a leadership lease and due tasks that run once.

* :class:`SchedulerLease` — exactly one active scheduler: whoever holds the named lease runs the
  jobs; the others stand by and take over when it expires (DESIGN §2, "exactly one active").
* :class:`ScheduledTask` — one row per piece of due work (a follow-up call for a ticket, a
  callback, an SLA check), unique by ``key``, so scheduling the same work twice stores it once and
  a due task is claimed by one runner (``SKIP LOCKED`` on PostgreSQL) — it runs once per due time,
  across restarts and several processes (DESIGN §6, promise 4).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, is_postgresql, utcnow
from models.text import require_clean_text


class TaskState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # gave up after its attempts; left for a person


class SchedulerLease(Base):
    """Who is the active scheduler until when."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(96))
    expires_at: Mapped[dt.datetime] = mapped_column()


class ScheduledTask(Base):
    """A piece of due work, unique by key, run once by whichever runner claims it."""

    __tablename__ = "scheduled_tasks"
    __table_args__ = (Index("ix_scheduled_tasks_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(128), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    due_at: Mapped[dt.datetime] = mapped_column()
    state: Mapped[TaskState] = mapped_column(
        Enum(TaskState, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=TaskState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    holder: Mapped[str | None] = mapped_column(String(96))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column()


def acquire_leadership(session: Session, name: str, holder: str, *, ttl_seconds: int,
                       now: dt.datetime | None = None) -> bool:
    """Take or renew the named lease for ``holder``; False while another holder's lease is live."""
    now = now or utcnow()
    expires = now + dt.timedelta(seconds=ttl_seconds)
    inserter = pg_insert if is_postgresql(session) else sqlite_insert
    session.execute(inserter(SchedulerLease).values(name=name, holder=holder, expires_at=now)
                    .on_conflict_do_nothing())
    taken = session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == name,
               or_(SchedulerLease.holder == holder, SchedulerLease.expires_at <= now))
        .values(holder=holder, expires_at=expires).execution_options(synchronize_session=False)
    ).rowcount
    return taken == 1


def release_leadership(session: Session, name: str, holder: str) -> None:
    """Give the lease up at a clean shutdown so a standby takes over at once."""
    session.execute(update(SchedulerLease).where(SchedulerLease.name == name, SchedulerLease.holder == holder)
                    .values(expires_at=utcnow() - dt.timedelta(seconds=1))
                    .execution_options(synchronize_session=False))


def current_leader(session: Session, name: str, *, now: dt.datetime | None = None) -> str | None:
    """The holder of a live lease, if any."""
    now = now or utcnow()
    lease = session.get(SchedulerLease, name)
    return lease.holder if lease is not None and lease.expires_at > now else None


def schedule_task(session: Session, *, kind: str, key: str, due_at: dt.datetime, ticket_id: int | None = None,
                  payload: dict[str, Any] | None = None, max_attempts: int = 3) -> ScheduledTask:
    """Schedule work once: a second call with the same ``key`` returns the first task unchanged."""
    key = require_clean_text(key, "task key", 128, required=True) or key
    existing = session.scalars(select(ScheduledTask).where(ScheduledTask.key == key)).first()
    if existing is not None:
        return existing
    task = ScheduledTask(kind=kind, key=key, due_at=due_at, ticket_id=ticket_id, payload=payload or {},
                         max_attempts=max_attempts, state=TaskState.PENDING)
    try:
        with session.begin_nested():
            session.add(task)
    except IntegrityError:
        return session.scalars(select(ScheduledTask).where(ScheduledTask.key == key)).one()
    return task


def claim_due_tasks(session: Session, *, holder: str, limit: int, lease_seconds: int,
                    kinds: list[str] | None = None, now: dt.datetime | None = None) -> list[ScheduledTask]:
    """Claim up to ``limit`` due tasks (pending, or running with an expired lease) for ``holder``."""
    now = now or utcnow()
    stmt = (select(ScheduledTask.id)
            .where(ScheduledTask.due_at <= now,
                   or_(ScheduledTask.state == TaskState.PENDING,
                       (ScheduledTask.state == TaskState.RUNNING) & (ScheduledTask.lease_expires_at <= now)))
            .order_by(ScheduledTask.due_at).limit(limit))
    if kinds:
        stmt = stmt.where(ScheduledTask.kind.in_(kinds))
    if is_postgresql(session):
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list(session.scalars(stmt))
    if not ids:
        return []
    session.execute(
        update(ScheduledTask).where(ScheduledTask.id.in_(ids))
        .values(state=TaskState.RUNNING, holder=holder, attempts=ScheduledTask.attempts + 1,
                lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False))
    tasks = list(session.scalars(select(ScheduledTask).where(ScheduledTask.id.in_(ids))
                                 .order_by(ScheduledTask.due_at)))
    for task in tasks:
        session.refresh(task)
    return tasks


def finish_task(session: Session, task: ScheduledTask, *, now: dt.datetime | None = None) -> None:
    """The task's work is done."""
    task.state, task.finished_at, task.lease_expires_at = TaskState.DONE, now or utcnow(), None
    session.flush()


def retry_task(session: Session, task: ScheduledTask, *, at: dt.datetime, error: str,
               now: dt.datetime | None = None) -> bool:
    """Try again at ``at`` if attempts remain (True), else mark it failed for a person (False)."""
    task.last_error = error[:2000]
    task.lease_expires_at = None
    if task.attempts >= task.max_attempts:
        task.state, task.finished_at = TaskState.FAILED, now or utcnow()
        session.flush()
        return False
    task.state, task.due_at = TaskState.PENDING, at
    session.flush()
    return True
