"""Scheduler benchmark: draining 10,000 due jobs, and follow-up survey calls through the sandbox.

1. **Due jobs** on SQLite and PostgreSQL: 5,000 completed jobs whose follow-up is due (each placed as
   a call on a counting telephone system, no PBX) and 5,000 tickets past their SLA (each breach
   escalated by ``sla.check``), drained by two scheduler services started together (one is elected,
   the other stands by, as in production).  Figures: time until every follow-up has its call and
   every breach its escalation, jobs run twice (a follow-up called twice, a breach escalated twice:
   must be 0), and the CPU the scheduler process used.
2. **Survey calls** through a sandbox Asterisk of its own: ``calls`` completed jobs whose residents
   (the simulator) answer and key 4 then 1, the scheduler's real AMI dialer placing at most
   ``concurrent`` follow-up calls at once, the project's FastAGI server running the survey.
   Figures: calls placed, answered, surveys completed (evaluation stored), completed / placed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bench.claims import bench_database
from bench.common import Result
from callcenter.scheduler.dialer import OriginateRequest, originate_fields
from callcenter.scheduler.jobs import JobContext
from callcenter.scheduler.outbound import FollowupCalls, OutboundSettings
from callcenter.scheduler.service import SchedulerService
from models import make_engine, make_session_factory
from models.entities import OutboundCall, Ticket, TicketEvent
from models.enums import Channel, EventKind, TicketStatus
from models.followups import CallingHours, schedule_followups
from models.outbound import OutboundPolicy
from models.schema import upgrade_to_head
from models.seed import seed_catalogue, seed_stations
from models.sla import find_sla_breaches
from models.tickets import TicketRequest, open_ticket, transition_ticket

ANY_TIME = CallingHours(dt.time(0), dt.time(23, 59, 59, 999999))
FAST = {"tasks.drain": 0.2, "sla.check": 0.5, "followups.schedule": 3600.0, "claims.release_expired": 3600.0,
        "offers.expire": 3600.0, "points.apply": 3600.0, "callbacks.place": 3600.0, "stats.daily": 3600.0,
        "housekeeping.files": 3600.0}


class CountingDialer:
    """A telephone system that takes every Originate (checked like the AMI dialer's) and counts them."""

    connected = True

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.calls: Counter[int] = Counter()  # outbound attempt id → Originates sent
        self.lock = threading.Lock()

    def originate(self, request: OriginateRequest) -> str:
        originate_fields(request)
        with self.lock:
            self.calls[request.call_id] += 1
            return f"bench-{request.call_id}"

    def free_agents(self) -> dict[str, int] | None:
        return {}


def prepare_due(sessions: sessionmaker[Session], followups: int, breaches: int) -> int:
    """Completed jobs with due follow-ups and tickets past their SLA; returns the breaches to escalate."""
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    with sessions.begin() as s:
        seed_catalogue(s)
        seed_stations(s)
    for start in range(0, followups, 500):
        with sessions.begin() as s:
            for n in range(start, min(followups, start + 500)):
                ticket = open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="MIND-TALK",
                                                      contact_number=f"139{n:08d}"), actor="bench", now=long_ago)
                transition_ticket(s, ticket, TicketStatus.COMPLETED, actor="bench", now=long_ago)
    for start in range(0, breaches, 500):
        with sessions.begin() as s:
            for _ in range(start, min(breaches, start + 500)):
                open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER"), actor="bench",
                            now=long_ago)
    with sessions.begin() as s:
        schedule_followups(s, delay=dt.timedelta(0), hours=ANY_TIME, max_attempts=3)
        return len(find_sla_breaches(s))


def completed_job(session: Session, number: str, code: str = "DRAIN-SEWER") -> int:
    """A ticket for ``number`` dispatched to a skilled worker, accepted, served and completed."""
    from models.dispatch import accept_offer, complete_service, dispatch_ticket, start_service
    from models.entities import SubService, Worker, WorkerSkill
    from models.enums import WorkerStatus

    sub = session.scalars(select(SubService).where(SubService.code == code)).one()
    worker = session.scalars(select(Worker).join(WorkerSkill, WorkerSkill.worker_id == Worker.id)
                             .where(WorkerSkill.sub_service_id == sub.id).order_by(Worker.id)).first()
    assert worker is not None, f"no worker has {code}"
    worker.status = WorkerStatus.IDLE
    ticket = open_ticket(session, TicketRequest(channel=Channel.PHONE, sub_service_code=code, contact_number=number),
                         actor="bench")
    offer = dispatch_ticket(session, ticket, worker.id, actor="bench", offer_seconds=300)
    accept_offer(session, offer.id, worker.id)
    start_service(session, ticket.id, worker.id)
    complete_service(session, ticket.id, worker.id, report="done")
    return ticket.id


def drain_once(backend: str, followups: int, breaches: int, timeout: float = 900.0) -> dict[str, float]:
    """Two scheduler services drain the due work; timings, duplicates and CPU."""
    with bench_database(backend) as url:
        engine = make_engine(url, pool_size=8)
        upgrade_to_head(engine)
        sessions = make_session_factory(engine)
        expected = prepare_due(sessions, followups, breaches)
        dialer = CountingDialer(sessions)
        outbound = OutboundSettings(followup=OutboundPolicy(attempts=3, ring_seconds=60, hours=ANY_TIME,
                                                            check_every=dt.timedelta(minutes=10)),
                                    followup_max_concurrent=10 * followups)
        services = []
        for name in ("bench-a", "bench-b"):
            ctx = JobContext(sessions=sessions, holder=name, calling_hours=ANY_TIME, dialer=dialer, outbound=outbound)
            ctx.handlers["followup"] = FollowupCalls(sessions, dialer, outbound)
            services.append(SchedulerService(engine, ctx, lease_seconds=5, renew_seconds=0.5, intervals=FAST))
        threads = [threading.Thread(target=service.run, daemon=True) for service in services]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for thread in threads:
            thread.start()
        escalated = placed = 0
        try:
            while time.perf_counter() - wall0 < timeout:
                try:
                    with sessions() as s:
                        escalated = s.scalar(select(func.count()).select_from(TicketEvent)
                                             .where(TicketEvent.kind == EventKind.ESCALATION)) or 0
                except OperationalError:  # SQLite busy with the scheduler's writes: look again
                    continue
                placed = len(dialer.calls)
                if placed >= followups and escalated >= expected:
                    break
                time.sleep(0.2)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            time.sleep(2.0)  # any second run would show up now
        finally:
            for service in services:
                service.stop()
            for thread in threads:
                thread.join(timeout=30)
        with sessions() as s:
            per_task = Counter(s.scalars(select(OutboundCall.task_id)))
            rows = s.execute(select(TicketEvent.ticket_id, TicketEvent.detail)
                             .where(TicketEvent.kind == EventKind.ESCALATION)).tuples().all()
            per_breach = Counter((ticket_id, (detail or {}).get("breach")) for ticket_id, detail in rows)
        twice = (sum(1 for n in per_task.values() if n > 1) + sum(1 for n in dialer.calls.values() if n > 1)
                 + sum(1 for n in per_breach.values() if n > 1))
        leaders = sum(1 for service in services if service.context.runs)
        engine.dispose()
    return {"followups": followups, "placed": placed, "breaches": expected, "escalated": escalated,
            "wall": wall, "per_s": (placed + escalated) / wall, "twice": twice, "cpu": cpu,
            "cpu_percent": 100 * cpu / wall, "leaders": leaders}


def survey_calls(calls: int, concurrent: int, timeout: float = 600.0) -> dict[str, float]:
    """``calls`` follow-up surveys through a sandbox of its own, ``concurrent`` at a time."""
    from agi_scripts.server import serve_in_thread
    from hotline.commands.agi import build_server
    from hotline.commands.prompts import language_dir, prompts_dir
    from hotline.commands.scheduler import build_dialer, job_context
    from hotline.config import load_settings
    from hotline.runtime import sessions_for
    from hotline.sandbox.runner import Sandbox
    from hotline.simulator.calls import Simulator
    from ivr.prompt_build import build_prompts
    from ivr.prompts import FIXED
    from ivr.speech.tts import Pyttsx3Synthesizer
    from models.entities import Evaluation
    from models.seed import seed_all

    with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as data_dir:
        settings = load_settings(environ={}, overrides={
            "data_dir": data_dir, "asterisk_instance": f"bench-sched-{os.getpid()}", "sip_port": 26060,
            "sim_port": 26062, "ami_port": 26038, "agi_port": 26573, "agent_seats": 0, "speech_enabled": False,
            "ivr_digit_timeout_ms": 5000, "followup_max_concurrent": concurrent})
        engine, sessions = sessions_for(settings)
        upgrade_to_head(engine)
        with sessions.begin() as s:
            seed_all(s, companies=20)
        sandbox = Sandbox(settings)
        sandbox.start(progress=lambda line: None)
        wanted = {key: FIXED[key] for key in FIXED if key.startswith("survey_") or key in
                  ("silence", "no_input", "invalid_input", "transfer_agent")}
        build_prompts(wanted, ["zh"], prompts_dir(settings), Path(data_dir) / "prompt-cache", Pyttsx3Synthesizer(),
                      language_dir=language_dir(settings))
        server = build_server(dataclasses.replace(settings))
        thread = serve_in_thread(server)
        simulator = Simulator.connect(sandbox, events="on")
        dialer = build_dialer(settings, sessions)
        assert dialer is not None
        dialer.start()
        numbers = [f"1390002{n:04d}" for n in range(calls)]
        try:
            dialer.wait_connected(20)
            for number in numbers:
                simulator.resident_answers(number, ring=1.0, digits="w2,4,w3,1", hold=8)
            with sessions.begin() as s:
                tickets = [completed_job(s, number) for number in numbers]
            ctx = job_context(settings, sessions, "bench-survey", dialer)
            policy = dataclasses.replace(ctx.outbound.followup, ring_seconds=20, hours=None,
                                         check_every=dt.timedelta(seconds=1), retry_after=dt.timedelta(seconds=5))
            ctx.outbound = dataclasses.replace(ctx.outbound, followup=policy, followup_max_concurrent=concurrent)
            ctx.handlers["followup"] = FollowupCalls(sessions, dialer, ctx.outbound)
            ctx.calling_hours, ctx.followup_delay = ANY_TIME, dt.timedelta(0)
            service = SchedulerService(engine, ctx, lease_seconds=5, renew_seconds=0.5,
                                       intervals={**FAST, "followups.schedule": 1.0, "tasks.drain": 0.3})
            runner = threading.Thread(target=service.run, daemon=True)
            started = time.perf_counter()
            runner.start()
            peak = 0
            try:
                while time.perf_counter() - started < timeout:
                    with sessions() as s:
                        surveyed = s.scalar(select(func.count()).select_from(Evaluation)
                                            .where(Evaluation.ticket_id.in_(tickets))) or 0
                        flying = s.scalar(select(func.count()).select_from(OutboundCall)
                                          .where(OutboundCall.state.in_(["placing", "ringing", "answered"]))) or 0
                    peak = max(peak, flying)
                    if surveyed >= calls:
                        break
                    time.sleep(0.5)
                wall = time.perf_counter() - started
            finally:
                service.stop()
                runner.join(timeout=30)
            with sessions() as s:
                rows = s.scalars(select(OutboundCall).where(OutboundCall.ticket_id.in_(tickets))).all()
                placed = len(rows)
                answered = sum(1 for r in rows if r.answered_at is not None)
                completed = sum(1 for r in rows if r.state == "surveyed")
                surveyed = s.scalar(select(func.count()).select_from(Evaluation)
                                    .where(Evaluation.ticket_id.in_(tickets))) or 0
                followed = s.scalar(select(func.count()).select_from(Ticket)
                                    .where(Ticket.id.in_(tickets), Ticket.status == TicketStatus.FOLLOWED_UP)) or 0
        finally:
            dialer.stop()
            simulator.close()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            sandbox.stop()
            sandbox.remove_instance()
            engine.dispose()
    return {"calls": calls, "placed": placed, "answered": answered, "completed": completed, "evaluations": surveyed,
            "followed_up": followed, "peak": peak, "wall": wall}


def run(followups: int = 5_000, breaches: int = 5_000, backends: tuple[str, ...] = ("sqlite", "postgresql"),
        calls: int = 20, concurrent: int = 20) -> Result:
    """The whole benchmark (``--set calls=0`` skips the sandbox part)."""
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: already running" while draining
    result = Result(
        name="scheduler", title="Scheduler: 10,000 due jobs, and follow-up survey calls through the sandbox",
        method=(f"Due jobs: {followups:,} completed jobs with a follow-up due (the real `followup` handler: decide, "
                "store the attempt, commit, then Originate on a counting telephone system) and "
                f"{breaches:,} tickets past their SLA (`sla.check` escalates each breach; a DRAIN-SEWER ticket "
                "3 h old breaches its 20-minute dispatch limit), drained by two scheduler services started "
                "together in one process (leader election in the database; job store in the same database). "
                "Run twice = a follow-up with two attempts or two Originates, or a breach escalated twice. CPU = "
                "the process's CPU time over the drain (% of one core). Survey calls: "
                f"{calls} completed jobs whose simulated residents answer and key 4 then 1, at most {concurrent} "
                "follow-up calls in flight, placed over AMI by the scheduler's dialer into a sandbox Asterisk of "
                "its own and surveyed by the project's FastAGI server."),
        headers=["part", "database", "jobs", "done", "run twice", "drain s", "jobs/s", "scheduler CPU s",
                 "CPU % of a core"],
    )
    for backend in backends:
        figures = drain_once(backend, followups, breaches)
        result.rows.append(["due jobs", backend, f"{figures['followups'] + figures['breaches']:,.0f}",
                            f"{figures['placed'] + figures['escalated']:,.0f}", f"{figures['twice']:.0f}",
                            f"{figures['wall']:.1f}", f"{figures['per_s']:.0f}", f"{figures['cpu']:.1f}",
                            f"{figures['cpu_percent']:.0f}"])
        result.notes.append(f"{backend}: {figures['placed']:.0f}/{figures['followups']:.0f} follow-ups called, "
                            f"{figures['escalated']:.0f}/{figures['breaches']:.0f} breaches escalated; "
                            f"schedulers that ran jobs: {figures['leaders']:.0f} of 2"
                            + (" (the lease passed to the standby during the drain)" if figures["leaders"] > 1
                               else ""))
    if calls:
        survey = survey_calls(calls, concurrent)
        ratio = survey["completed"] / survey["placed"] if survey["placed"] else 0.0
        result.rows.append(["survey calls", "sqlite", f"{survey['calls']:.0f}", f"{survey['completed']:.0f}", "-",
                            f"{survey['wall']:.1f}", f"{survey['completed'] / survey['wall']:.2f}", "-", "-"])
        result.notes.append(f"survey calls: placed {survey['placed']:.0f}, answered {survey['answered']:.0f}, "
                            f"completed surveys {survey['completed']:.0f} (evaluations {survey['evaluations']:.0f}, "
                            f"tickets followed up {survey['followed_up']:.0f}); completed / placed = {ratio:.3f}; "
                            f"peak calls in flight {survey['peak']:.0f}")
    return result


if __name__ == "__main__":
    print(run().text())
