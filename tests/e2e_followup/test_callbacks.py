"""Callbacks through the sandbox: the scheduler reads free agents from app_queue over AMI, calls back
in serving order no more residents than there are free agents, and an answered resident reaches an
agent of their queue (``[hotline-callback]``)."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.scheduler.jobs import JobContext
from callcenter.scheduler.outbound import place_callbacks
from hotline.simulator.calls import Simulator
from models.alerts import open_alerts
from models.base import utcnow
from models.callbacks import schedule_callbacks
from models.entities import OutboundCall, OutboundState, Ticket
from models.enums import Channel, Priority
from models.scheduling import ScheduledTask, TaskState, finish_task
from models.tickets import TicketRequest, open_ticket, request_callback

SEAT = "agent02"


def forget_other_callbacks(sessions: sessionmaker[Session]) -> None:
    """Callbacks booked by earlier tests of the session (the IVR's) are settled, so only ours are placed."""
    with sessions.begin() as session:
        schedule_callbacks(session, max_attempts=1)
        for task in session.scalars(select(ScheduledTask).where(ScheduledTask.kind == "callback",
                                                                ScheduledTask.state == TaskState.PENDING)):
            finish_task(session, task)


def waiting_caller(sessions: sessionmaker[Session], number: str, priority: Priority, waited_minutes: int) -> int:
    now = utcnow()
    with sessions.begin() as session:
        ticket = open_ticket(session, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER",
                                                    contact_number=number, priority=priority),
                             actor="ivr", now=now - dt.timedelta(minutes=waited_minutes))
        request_callback(session, ticket, actor="ivr", now=now, queue="hotline-general",
                         queue_entered_at=now - dt.timedelta(minutes=waited_minutes))
        return ticket.id


def calls_of(sessions: sessionmaker[Session], *ticket_ids: int) -> list[OutboundCall]:
    with sessions() as session:
        return list(session.scalars(select(OutboundCall).where(OutboundCall.ticket_id.in_(ticket_ids))
                                    .order_by(OutboundCall.id)))


def place_until(ctx: JobContext, check, timeout: float = 60.0, seen: list[int] | None = None):  # type: ignore[no-untyped-def]
    """Run the ``callbacks.place`` job until ``check`` holds; ``seen`` collects the calls in flight per run."""
    deadline = time.monotonic() + timeout
    while True:
        done = place_callbacks(ctx.sessions, ctx.dialer, ctx.outbound, utcnow())
        if seen is not None:
            seen.append(len(done.placed))
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)


def test_callbacks_in_serving_order_one_per_free_agent(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi, context: JobContext, store_sessions: sessionmaker[Session]) -> None:
    forget_other_callbacks(store_sessions)
    first_number, second_number = "13900000201", "13900000202"
    normal = waiting_caller(store_sessions, first_number, Priority.NORMAL, waited_minutes=20)
    urgent = waiting_caller(store_sessions, second_number, Priority.URGENT, waited_minutes=2)
    simulator.resident_answers(first_number, ring=0.5, hold=40)
    simulator.resident_answers(second_number, ring=0.5, hold=40)
    simulator.agent_answers(SEAT, ring=0.5, hold=4)
    simulator.login_agent(SEAT)
    try:
        assert context.dialer is not None
        deadline = time.monotonic() + 15
        while context.dialer.free_agents() != {"general": 1} and time.monotonic() < deadline:
            time.sleep(0.3)
        assert context.dialer.free_agents() == {"general": 1}

        def connected(ticket_id: int) -> bool:
            return any(c.state == OutboundState.CONNECTED for c in calls_of(store_sessions, ticket_id))

        place_until(context, lambda: connected(urgent))
        made = calls_of(store_sessions, normal, urgent)
        assert [c.ticket_id for c in made] == [urgent]  # the urgent caller first; one agent, one call
        assert made[0].queue == "general" and made[0].language == "zh"
        place_until(context, lambda: connected(normal), timeout=90)
        made = calls_of(store_sessions, normal, urgent)
        assert [c.ticket_id for c in made] == [urgent, normal]
        assert made[1].created_at >= made[0].connected_at  # type: ignore[operator]
        end = simulator.wait_callee_end("agent", SEAT, timeout=30)
        assert end["EndedBy"] in ("callee", "hotline")
    finally:
        simulator.logout_agent(SEAT)
        simulator.agent_never_answers(SEAT)
        simulator.resident_never_answers(first_number)
        simulator.resident_never_answers(second_number)
    with store_sessions() as session:
        for ticket_id in (normal, urgent):
            task = session.scalars(select(ScheduledTask).where(ScheduledTask.ticket_id == ticket_id,
                                                              ScheduledTask.kind == "callback")).one()
            assert task.state == TaskState.DONE
            texts = [e.text for e in session.get_one(Ticket, ticket_id).events]
            assert "callback answered" in texts


def test_an_unanswered_callback_is_retried_then_left_for_an_agent(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi, context: JobContext, store_sessions: sessionmaker[Session]) -> None:
    forget_other_callbacks(store_sessions)
    number = "13900000203"
    ticket_id = waiting_caller(store_sessions, number, Priority.NORMAL, waited_minutes=1)
    simulator.resident_never_answers(number)
    simulator.agent_answers(SEAT, ring=0.5, hold=2)
    simulator.login_agent(SEAT)
    try:
        def left_for_an_agent() -> bool:
            with store_sessions() as session:
                return any(a.ticket_id == ticket_id and a.kind == "callback_unanswered" for a in open_alerts(session))

        place_until(context, left_for_an_agent, timeout=90)
    finally:
        simulator.logout_agent(SEAT)
        simulator.agent_never_answers(SEAT)
    made = calls_of(store_sessions, ticket_id)
    assert len(made) == context.outbound.callback.attempts
    assert {c.state for c in made} == {OutboundState.NO_ANSWER}
