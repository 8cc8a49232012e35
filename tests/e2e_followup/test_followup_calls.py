"""Follow-up survey calls through the sandbox: placed by the scheduler over AMI (its own dialer, as
the hotline's AMI user), answered by the simulator's resident, surveyed by the project's FastAGI
server with the seeded store and rendered prompts."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.scheduler.jobs import JobContext, apply_points, drain_due_tasks, schedule_due_followups
from callcenter.scheduler.outbound import FollowupCalls
from hotline.config import Settings
from hotline.simulator.calls import Simulator
from models.alerts import open_alerts
from models.entities import Evaluation, OutboundCall, OutboundState, Ticket, Worker
from models.enums import TicketStatus
from models.scheduling import ScheduledTask
from tests.scheduler.helpers import completed_job

ROOT = Path(__file__).resolve().parents[2]


def run_until(ctx: JobContext, check: Callable[[], Any], timeout: float = 60.0, jobs: bool = True) -> Any:
    """Run the due tasks (as the scheduler's ``tasks.drain`` job does) until ``check`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        if jobs:
            drain_due_tasks(ctx)
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.3)


def attempts(sessions: sessionmaker[Session], ticket_id: int) -> list[OutboundCall]:
    with sessions() as session:
        return list(session.scalars(select(OutboundCall).where(OutboundCall.ticket_id == ticket_id)
                                    .order_by(OutboundCall.attempt)))


def rang(simulator: Simulator, number: str) -> int:
    """How many calls reached the simulated resident's phone."""
    return sum(1 for e in list(simulator.user_events)
               if e.get("UserEvent") == "SimRinging" and e.get("Callee") == number)


def followed_up(context: JobContext, sessions: sessionmaker[Session], simulator: Simulator, number: str,
                digits: str, hold: float = 12) -> tuple[int, int]:
    """A completed job whose follow-up call the resident answers, keying ``digits``."""
    with sessions.begin() as session:
        ticket_id, worker_id = completed_job(session, number)
    simulator.resident_answers(number, ring=0.5, digits=digits, hold=hold)
    try:
        assert schedule_due_followups(context) >= 1
        run_until(context, lambda: [a for a in attempts(sessions, ticket_id) if a.state == OutboundState.SURVEYED])
    finally:
        simulator.resident_never_answers(number)
    return ticket_id, worker_id


def test_resident_presses_four_evaluation_stored_and_points_change(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi, context: JobContext, store_sessions: sessionmaker[Session]) -> None:
    number = "13900000101"
    with store_sessions() as session:
        workers_before = {w.id: w.points for w in session.scalars(select(Worker))}
    ticket_id, worker_id = followed_up(context, store_sessions, simulator, number, "w2,4,w3,1")
    assert apply_points(context) >= 1
    with store_sessions() as session:
        ticket = session.get_one(Ticket, ticket_id)
        assert ticket.status == TicketStatus.FOLLOWED_UP
        [evaluation] = session.scalars(select(Evaluation).where(Evaluation.ticket_id == ticket_id))
        assert (evaluation.party, evaluation.score, evaluation.solved) == ("resident", 4, True)
        assert evaluation.worker_id == worker_id
        assert session.get_one(Worker, worker_id).points == workers_before[worker_id] + 5
    [attempt] = attempts(store_sessions, ticket_id)
    assert attempt.result == {"rating": 4, "solved": True, "agent": False} and attempt.answered_at
    assert rang(simulator, number) == 1

    def task_state() -> str:
        with store_sessions() as session:
            return session.scalars(select(ScheduledTask.state).where(ScheduledTask.ticket_id == ticket_id)).one()

    run_until(context, lambda: task_state() == "done", timeout=15)


def test_resident_presses_one_ticket_reopened_and_supervisors_alerted(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi, context: JobContext, store_sessions: sessionmaker[Session]) -> None:
    ticket_id, _worker = followed_up(context, store_sessions, simulator, "13900000102", "w2,1,w3,2")
    with store_sessions() as session:
        ticket = session.get_one(Ticket, ticket_id)
        assert ticket.status == TicketStatus.REOPENED
        assert [e.to_status for e in ticket.events if e.to_status][-2:] == [TicketStatus.FOLLOWED_UP,
                                                                            TicketStatus.REOPENED]
        [evaluation] = session.scalars(select(Evaluation).where(Evaluation.ticket_id == ticket_id))
        assert (evaluation.score, evaluation.solved) == (1, False)
        alerts = [a for a in open_alerts(session) if a.ticket_id == ticket_id]
        assert [(a.kind, a.audience) for a in alerts] == [("survey_low", "supervisor")]


def test_zero_puts_the_resident_through_to_an_agent(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi, context: JobContext, store_sessions: sessionmaker[Session]) -> None:
    number, seat = "13900000106", "agent03"
    with store_sessions.begin() as session:
        ticket_id, _worker = completed_job(session, number)
    simulator.resident_answers(number, ring=0.5, digits="w2,0", hold=25)
    simulator.agent_answers(seat, ring=0.5, hold=2)
    simulator.login_agent(seat)
    try:
        schedule_due_followups(context)
        run_until(context, lambda: [a for a in attempts(store_sessions, ticket_id) if a.state == OutboundState.AGENT])
        answered = simulator.wait_callee_end("agent", seat, timeout=40)
        assert answered["Who"] == "agent"
    finally:
        simulator.logout_agent(seat)
        simulator.agent_never_answers(seat)
        simulator.resident_never_answers(number)
    with store_sessions() as session:
        assert session.get_one(Ticket, ticket_id).status == TicketStatus.COMPLETED  # nothing rated
        assert session.scalar(select(func.count()).select_from(Evaluation)
                              .where(Evaluation.ticket_id == ticket_id)) == 0


def test_no_answer_is_retried_then_marked_unreachable(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi, context: JobContext, store_sessions: sessionmaker[Session]) -> None:
    number = "13900000103"
    simulator.resident_never_answers(number)
    context.outbound = dataclasses.replace(context.outbound, followup=dataclasses.replace(
        context.outbound.followup, attempts=2, ring_seconds=5))
    context.handlers["followup"] = FollowupCalls(context.sessions, context.dialer, context.outbound)  # type: ignore[arg-type]
    with store_sessions.begin() as session:
        ticket_id, _worker = completed_job(session, number)
    schedule_due_followups(context)

    def unreachable() -> bool:
        with store_sessions() as session:
            return any(a.ticket_id == ticket_id and a.kind == "followup_unreachable" for a in open_alerts(session))

    run_until(context, unreachable, timeout=90)
    made = attempts(store_sessions, ticket_id)
    assert [a.state for a in made] == [OutboundState.NO_ANSWER, OutboundState.NO_ANSWER]
    assert all(a.reason == "originate reason 3" for a in made)
    assert made[1].created_at - made[0].ended_at >= context.outbound.followup.retry_after  # type: ignore[operator]
    assert rang(simulator, number) == 2  # both calls really rang the resident's phone
    with store_sessions() as session:
        assert session.get_one(Ticket, ticket_id).status == TicketStatus.COMPLETED
        assert session.scalar(select(func.count()).select_from(Evaluation)
                              .where(Evaluation.ticket_id == ticket_id)) == 0


def test_hostile_or_unknown_survey_variables_are_refused(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi, store_sessions: sessionmaker[Session]) -> None:
    number = "13900000104"
    with store_sessions() as session:
        evaluations = session.scalar(select(func.count()).select_from(Evaluation))
        last = session.scalar(select(func.max(OutboundCall.id))) or 0
    stats = ivr_agi.stats
    simulator.resident_answers(number, ring=0.2, digits="w1,5,w1,1,w1,5", hold=6)
    try:
        for value in ("1 OR 1=1", "$(reboot)", "12;HANGUP", "", str(last + 1000), "-1", "1" * 30):
            before = stats.finished, stats.failed
            variable = f"HOTLINE_FOLLOWUP={value}"
            reply = simulator.ami.action("Originate", Channel=f"Local/{number}@hotline-outbound",
                                         Context="hotline-followup", Exten="s", Priority="1", Async="true",
                                         CallerID="96345 <96345>", Variable=variable)
            assert reply["Response"] == "Success"
            simulator.wait_callee_end("resident", number, timeout=30)
            deadline = time.monotonic() + 10
            while stats.finished == before[0] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert stats.finished == before[0] + 1, f"the survey route did not run for {value!r}"
            assert stats.failed == before[1], f"the survey route failed on {value!r} instead of refusing it"
    finally:
        simulator.resident_never_answers(number)
    with store_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Evaluation)) == evaluations


def test_scheduler_killed_mid_call_and_restarted_places_the_attempt_once(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi, ivr_store: Settings, store_sessions: sessionmaker[Session]) -> None:
    number = "13900000105"
    with store_sessions.begin() as session:
        ticket_id, _worker = completed_job(session, number)
    simulator.resident_answers(number, ring=4, digits="w1,5,w3,1", hold=10)
    first = _scheduler(ivr_store)
    second = None
    try:
        run_until(None, lambda: [a for a in attempts(store_sessions, ticket_id)  # type: ignore[arg-type]
                                 if a.state in (OutboundState.RINGING, OutboundState.ANSWERED)],
                  timeout=60, jobs=False)
        os.kill(first.pid, signal.SIGKILL)  # mid-call, no clean release of the lease
        first.wait(timeout=10)
        second = _scheduler(ivr_store)
        run_until(None, lambda: [a for a in attempts(store_sessions, ticket_id)  # type: ignore[arg-type]
                                 if a.state == OutboundState.SURVEYED], timeout=90, jobs=False)

        def task_done() -> bool:
            with store_sessions() as session:
                return session.scalars(select(ScheduledTask.state)
                                       .where(ScheduledTask.ticket_id == ticket_id)).one() == "done"

        run_until(None, task_done, timeout=30, jobs=False)  # type: ignore[arg-type]
        time.sleep(3)
    finally:
        simulator.resident_never_answers(number)
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
    assert [a.attempt for a in attempts(store_sessions, ticket_id)] == [1]
    assert rang(simulator, number) == 1
    with store_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Evaluation)
                              .where(Evaluation.ticket_id == ticket_id)) == 1


def _scheduler(settings: Settings) -> subprocess.Popen[bytes]:
    """``hotline scheduler`` as its own process on the e2e store, dialling through the sandbox."""
    sets = {"ami_port": settings.ami_port, "scheduler_lease_seconds": 2, "followup_delay_minutes": 0,
            "calling_hours_start": "00:00", "calling_hours_end": "23:59", "followup_ring_seconds": 15}
    args = [sys.executable, "-m", "hotline.cli", "--data-dir", str(settings.data_dir)]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    args += ["scheduler", "--renew-seconds", "0.3", "--interval", "tasks.drain=0.5",
             "--interval", "followups.schedule=0.5"]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
