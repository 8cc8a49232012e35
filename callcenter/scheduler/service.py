"""The scheduler service: stand by until elected, then run the APScheduler jobs.

Exactly one active scheduler however many are started: each candidate renews a database lease
(``models.scheduling.acquire_leadership``) every few seconds; the holder runs APScheduler with its
job store in the same database, a standby starts its scheduler when the lease is free.  A leader
that cannot renew stops its scheduler before the lease could pass to another.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from callcenter.scheduler.jobs import JOBS, JobContext, install_context, remove_context
from models.scheduling import acquire_leadership, release_leadership

log = logging.getLogger("hotline.scheduler")
LEASE_NAME = "scheduler"
JOBSTORE_TABLE = "apscheduler_jobs"


def candidate_name() -> str:
    """A name unique to this process, readable in the lease table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SchedulerService:
    """A leader-elected APScheduler."""

    def __init__(self, engine: Engine, context: JobContext, *, lease_seconds: int = 15,
                 renew_seconds: float = 5.0, timezone: str = "Asia/Shanghai",
                 intervals: dict[str, float] | None = None) -> None:
        self.engine, self.context = engine, context
        self.intervals = intervals or {}
        self.lease_seconds, self.renew_seconds, self.timezone = lease_seconds, renew_seconds, timezone
        self.stopping = threading.Event()
        self.scheduler: BackgroundScheduler | None = None

    @property
    def is_leader(self) -> bool:
        """Whether this process is running the jobs now."""
        return self.scheduler is not None

    def _renew(self) -> bool:
        try:
            with self.context.sessions.begin() as session:
                return acquire_leadership(session, LEASE_NAME, self.context.holder,
                                          ttl_seconds=self.lease_seconds)
        except Exception as exc:  # the database is away: behave as a standby
            log.warning("cannot renew the scheduler lease: %s", exc)
            return False

    def _start_jobs(self) -> None:
        install_context(self.context)
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine, tablename=JOBSTORE_TABLE)},
            timezone=self.timezone,
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        scheduler.start(paused=True)
        for spec in JOBS:
            self._ensure_job(scheduler, spec.job_id, self.intervals.get(spec.job_id, spec.seconds),
                             spec.misfire_grace)
        scheduler.resume()
        self.scheduler = scheduler
        log.info("%s is the active scheduler", self.context.holder)

    def _ensure_job(self, scheduler: BackgroundScheduler, job_id: str, seconds: float, grace: int) -> None:
        """Keep a persisted job as it is (its missed runs coalesce into one); add or re-time it otherwise."""
        existing = scheduler.get_job(job_id)
        args = [job_id, self.context.holder]
        if existing is not None and existing.trigger.interval.total_seconds() == seconds:
            existing.modify(args=args)  # the new holder runs it; next_run_time stays as persisted
            return
        scheduler.add_job("callcenter.scheduler.jobs:run_job", "interval", args=args, seconds=seconds, id=job_id,
                          name=job_id, replace_existing=True, misfire_grace_time=grace, coalesce=True,
                          max_instances=1)

    def _stop_jobs(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
            remove_context(self.context.holder)
            log.info("%s stopped its jobs", self.context.holder)

    def step(self) -> None:
        """One round: renew or take the lease, and start or stop the jobs to match."""
        leader = self._renew()
        if leader and self.scheduler is None:
            self._start_jobs()
        elif not leader and self.scheduler is not None:
            self._stop_jobs()

    def run(self) -> None:
        """Stand by / lead until :meth:`stop`; give the lease up on the way out."""
        log.info("%s standing for scheduler", self.context.holder)
        while not self.stopping.is_set():
            self.step()
            self.stopping.wait(self.renew_seconds)
        self._stop_jobs()
        try:
            with self.context.sessions.begin() as session:
                release_leadership(session, LEASE_NAME, self.context.holder)
        except Exception as exc:
            log.warning("could not release the scheduler lease: %s", exc)

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self.stopping.set()
