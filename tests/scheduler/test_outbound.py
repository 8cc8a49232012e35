"""Follow-up and callback calling with a fake telephone system (the real-PBX versions are in
tests/e2e_followup): attempts stored before they are placed, restarts, spacing, calling hours
(injectable clock), unreachable numbers, the in-flight caps and callback serving order."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from callcenter.scheduler.dialer import AmiDialer, DialError, OriginateRequest, count_free, originate_fields
from callcenter.scheduler.jobs import JobContext, drain_due_tasks, schedule_due_followups
from callcenter.scheduler.outbound import FollowupCalls, OutboundSettings, place_callbacks
from models.alerts import open_alerts
from models.entities import Call, OutboundCall, OutboundState, Ticket, TicketEvent
from models.enums import CallOutcome, Channel, EventKind, Priority, TicketStatus
from models.followups import CallingHours
from models.outbound import OutboundPolicy, originate_result
from models.scheduling import ScheduledTask, TaskState
from models.tickets import TicketRequest, open_ticket, request_callback
from tests.plugins.db import Database
from tests.scheduler.helpers import FakeDialer, completed_job

MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Pinghu
HOURS = CallingHours(dt.time(9), dt.time(20))
POLICY = OutboundPolicy(attempts=3, retry_after=dt.timedelta(minutes=30), ring_seconds=30,
                        check_every=dt.timedelta(seconds=5), hours=HOURS)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def _context(db: Database, dialer: FakeDialer, clock: Clock, holder: str = "s1", **outbound: object) -> JobContext:
    settings = dataclasses.replace(OutboundSettings(followup=POLICY), **outbound)  # type: ignore[arg-type]
    ctx = JobContext(sessions=db.sessions, holder=holder, followup_delay=dt.timedelta(hours=2),
                     calling_hours=HOURS, clock=clock, dialer=dialer, outbound=settings)
    ctx.handlers["followup"] = FollowupCalls(db.sessions, dialer, settings)
    return ctx


def _attempts(db: Database, ticket_id: int) -> list[OutboundCall]:
    with db.session() as s:
        return list(s.scalars(select(OutboundCall).where(OutboundCall.ticket_id == ticket_id)
                              .order_by(OutboundCall.attempt)))


def _answer(db: Database, call_id: int, answered: bool, now: dt.datetime, reason: str = "3") -> None:
    with db.sessions.begin() as s:
        originate_result(s, call_id, answered=answered, reason=reason, now=now)


def test_unanswered_follow_up_is_retried_spaced_then_left_for_an_agent(db: Database) -> None:
    clock = Clock(MORNING)
    dialer = FakeDialer(sessions=db.sessions)
    with db.sessions.begin() as s:
        ticket_id, _worker = completed_job(s, "13800000021", now=MORNING)
    ctx = _context(db, dialer, clock)
    assert schedule_due_followups(ctx) == 1
    drain_due_tasks(ctx)
    assert dialer.placed == []  # due two hours after completion
    clock.advance(hours=2)
    drain_due_tasks(ctx)
    [first] = dialer.placed
    assert dialer.stored_before_originate == [True]  # the attempt was committed before the Originate
    assert first.digits == "13800000021" and first.context == "hotline-followup"
    assert first.variables["HOTLINE_FOLLOWUP"] == str(first.call_id) and first.variables["HOTLINE_LANGUAGE"] == "zh"
    for _ in range(3):  # still ringing: looked at again, never dialled again
        clock.advance(seconds=6)
        drain_due_tasks(ctx)
    assert len(dialer.placed) == 1 and _attempts(db, ticket_id)[0].state == OutboundState.RINGING
    _answer(db, first.call_id, False, clock.now)
    clock.advance(minutes=29)
    drain_due_tasks(ctx)
    assert len(dialer.placed) == 1  # spaced: 30 minutes after the last attempt ended
    clock.advance(minutes=2)
    drain_due_tasks(ctx)
    assert len(dialer.placed) == 2
    _answer(db, dialer.placed[1].call_id, False, clock.now, reason="5")  # busy
    clock.advance(minutes=31)
    drain_due_tasks(ctx)
    assert len(dialer.placed) == 3
    _answer(db, dialer.placed[2].call_id, False, clock.now)
    clock.advance(hours=1)
    drain_due_tasks(ctx)
    assert len(dialer.placed) == 3  # three of three used
    states = [a.state for a in _attempts(db, ticket_id)]
    assert states == [OutboundState.NO_ANSWER, OutboundState.BUSY, OutboundState.NO_ANSWER]
    with db.session() as s:
        [alert] = open_alerts(s)
        assert (alert.kind, alert.ticket_id, alert.audience) == ("followup_unreachable", ticket_id, "agent")
        task = s.scalars(select(ScheduledTask).where(ScheduledTask.kind == "followup")).one()
        assert task.state == TaskState.FAILED
        events = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                     TicketEvent.kind == EventKind.CALL)).all()
        assert [e.detail.get("alert_kind") for e in events] == ["followup_unreachable"]
        assert s.get_one(Ticket, ticket_id).status == TicketStatus.COMPLETED


def test_a_follow_up_due_at_night_waits_for_the_morning(db: Database) -> None:
    evening = dt.datetime(2026, 12, 4, 11, 0, tzinfo=dt.UTC)  # 19:00 local; +2 h is 21:00
    clock = Clock(evening)
    dialer = FakeDialer()
    with db.sessions.begin() as s:
        completed_job(s, "13800000022", now=evening)
    ctx = _context(db, dialer, clock)
    schedule_due_followups(ctx)
    for hours in (2, 4, 9):  # 21:00, 23:00, 04:00 local
        clock.now = evening + dt.timedelta(hours=hours)
        drain_due_tasks(ctx)
        assert dialer.placed == []
    clock.now = dt.datetime(2026, 12, 5, 1, 0, 1, tzinfo=dt.UTC)  # 09:00:01 next morning
    drain_due_tasks(ctx)
    assert len(dialer.placed) == 1


def test_a_retry_that_would_fall_at_night_waits_for_the_morning(db: Database) -> None:
    late = dt.datetime(2026, 12, 4, 11, 45, tzinfo=dt.UTC)  # 19:45 local
    clock = Clock(late)
    dialer = FakeDialer()
    with db.sessions.begin() as s:
        completed_job(s, "13800000023", now=late - dt.timedelta(hours=2))
    ctx = _context(db, dialer, clock)
    schedule_due_followups(ctx)
    drain_due_tasks(ctx)
    _answer(db, dialer.placed[0].call_id, False, clock.now)
    clock.advance(minutes=40)  # 20:25: the retry is due, but outside calling hours
    drain_due_tasks(ctx)
    assert len(dialer.placed) == 1
    with db.session() as s:
        task = s.scalars(select(ScheduledTask).where(ScheduledTask.kind == "followup")).one()
        assert task.due_at == dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)


def test_a_restarted_scheduler_never_places_an_attempt_twice(db: Database) -> None:
    clock = Clock(MORNING)
    dialer = FakeDialer()
    with db.sessions.begin() as s:
        ticket_id, _ = completed_job(s, "13800000024", now=MORNING - dt.timedelta(hours=3))
    first = _context(db, dialer, clock, holder="first")
    schedule_due_followups(first)
    drain_due_tasks(first)
    assert len(dialer.placed) == 1
    # The first scheduler dies mid-call; its successor (a new context, nothing in memory) runs the jobs.
    second = _context(db, dialer, clock, holder="second")
    for _ in range(5):
        clock.advance(seconds=6)
        schedule_due_followups(second)
        drain_due_tasks(second)
    assert len(dialer.placed) == 1
    # The attempt stored but never placed (killed between the commit and the Originate) is lost at
    # its deadline, counts as an attempt, and the next one follows the spacing.
    clock.advance(minutes=1)
    drain_due_tasks(second)
    assert [a.state for a in _attempts(db, ticket_id)] == [OutboundState.LOST]
    clock.advance(minutes=31)
    drain_due_tasks(second)
    assert [a.attempt for a in _attempts(db, ticket_id)] == [1, 2] and len(dialer.placed) == 2


def test_a_surveyed_follow_up_is_done(db: Database) -> None:
    from models.surveys import record_survey

    clock = Clock(MORNING)
    dialer = FakeDialer()
    with db.sessions.begin() as s:
        ticket_id, _ = completed_job(s, "13800000025", now=MORNING - dt.timedelta(hours=3))
    ctx = _context(db, dialer, clock)
    schedule_due_followups(ctx)
    drain_due_tasks(ctx)
    _answer(db, dialer.placed[0].call_id, True, clock.now, reason="4")
    with db.sessions.begin() as s:
        record_survey(s, dialer.placed[0].call_id, rating=5, solved=True, agent=False, now=clock.now)
    clock.advance(seconds=6)
    drain_due_tasks(ctx)
    with db.session() as s:
        assert s.scalars(select(ScheduledTask.state).where(ScheduledTask.kind == "followup")).one() == TaskState.DONE
        assert s.get_one(Ticket, ticket_id).status == TicketStatus.FOLLOWED_UP
    clock.advance(hours=5)
    drain_due_tasks(ctx)
    assert len(dialer.placed) == 1


def test_answered_but_hung_up_before_rating_is_retried(db: Database) -> None:
    clock = Clock(MORNING)
    dialer = FakeDialer()
    with db.sessions.begin() as s:
        ticket_id, _ = completed_job(s, "13800000026", now=MORNING - dt.timedelta(hours=3))
    ctx = _context(db, dialer, clock)
    schedule_due_followups(ctx)
    drain_due_tasks(ctx)
    call_id = dialer.placed[0].call_id
    _answer(db, call_id, True, clock.now, reason="4")
    from models.outbound import call_ended

    with db.sessions.begin() as s:
        call_ended(s, call_id, cause="16", now=clock.now + dt.timedelta(seconds=4))
    clock.advance(seconds=20)
    drain_due_tasks(ctx)
    assert _attempts(db, ticket_id)[0].state == OutboundState.INCOMPLETE
    clock.advance(minutes=31)
    drain_due_tasks(ctx)
    assert len(dialer.placed) == 2


@pytest.mark.parametrize("number", ["+12025550123", "12345", "anonymous"])
def test_foreign_or_malformed_numbers_are_never_dialled(db: Database, number: str) -> None:
    clock = Clock(MORNING)
    dialer = FakeDialer()
    with db.sessions.begin() as s:
        ticket_id, _ = completed_job(s, "13800000027", now=MORNING - dt.timedelta(hours=3))
        s.get_one(Ticket, ticket_id).contact_number = number
    ctx = _context(db, dialer, clock)
    schedule_due_followups(ctx)
    drain_due_tasks(ctx)
    assert dialer.placed == [] and _attempts(db, ticket_id) == []
    with db.session() as s:
        [alert] = open_alerts(s)
        assert alert.kind == "followup_unreachable" and "cannot be dialled" in alert.text


def test_nothing_is_dialled_while_ami_is_away_and_no_attempt_is_used(db: Database) -> None:
    clock = Clock(MORNING)
    dialer = FakeDialer(connected=False)
    with db.sessions.begin() as s:
        ticket_id, _ = completed_job(s, "13800000028", now=MORNING - dt.timedelta(hours=3))
    ctx = _context(db, dialer, clock)
    schedule_due_followups(ctx)
    for _ in range(5):
        drain_due_tasks(ctx)
        clock.advance(minutes=1)
    assert dialer.placed == [] and _attempts(db, ticket_id) == []
    dialer.connected = True
    drain_due_tasks(ctx)
    assert len(dialer.placed) == 1


def test_a_refused_originate_is_an_unanswered_attempt(db: Database) -> None:
    clock = Clock(MORNING)
    dialer = FakeDialer(refuse=True)
    with db.sessions.begin() as s:
        ticket_id, _ = completed_job(s, "13800000029", now=MORNING - dt.timedelta(hours=3))
    ctx = _context(db, dialer, clock)
    schedule_due_followups(ctx)
    drain_due_tasks(ctx)
    [attempt] = _attempts(db, ticket_id)
    assert attempt.state == OutboundState.FAILED and attempt.reason == "refused"


def test_follow_ups_in_flight_are_capped(db: Database) -> None:
    clock = Clock(MORNING)
    dialer = FakeDialer()
    with db.sessions.begin() as s:
        for n in range(5):
            completed_job(s, f"1380000004{n}", now=MORNING - dt.timedelta(hours=3))
    ctx = _context(db, dialer, clock, followup_max_concurrent=2)
    schedule_due_followups(ctx)
    drain_due_tasks(ctx)
    assert len(dialer.placed) == 2
    _answer(db, dialer.placed[0].call_id, False, clock.now)
    clock.advance(seconds=6)
    drain_due_tasks(ctx)
    assert len(dialer.placed) == 3


# --- callbacks -------------------------------------------------------------------------------------

def _waiting_caller(db: Database, number: str, priority: Priority, entered: dt.datetime,
                    queue: str = "hotline-general") -> int:
    with db.sessions.begin() as s:
        ticket = open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER",
                                              contact_number=number, priority=priority), actor="ivr", now=entered)
        request_callback(s, ticket, actor="ivr", now=entered + dt.timedelta(minutes=1), queue=queue,
                         queue_entered_at=entered)
        return ticket.id


def _callback_settings(**changes: object) -> OutboundSettings:
    policy = OutboundPolicy(attempts=2, retry_after=dt.timedelta(minutes=5), ring_seconds=30,
                            check_every=dt.timedelta(seconds=5), max_call=dt.timedelta(minutes=10))
    return dataclasses.replace(OutboundSettings(callback=policy), **changes)  # type: ignore[arg-type]


def test_callbacks_follow_serving_order_and_never_outnumber_free_agents(db: Database) -> None:
    now = MORNING
    tickets = {
        "late-normal": _waiting_caller(db, "13800000051", Priority.NORMAL, now - dt.timedelta(minutes=5)),
        "early-normal": _waiting_caller(db, "13800000052", Priority.NORMAL, now - dt.timedelta(minutes=20)),
        "urgent": _waiting_caller(db, "13800000053", Priority.URGENT, now - dt.timedelta(minutes=1)),
        "legal": _waiting_caller(db, "13800000054", Priority.NORMAL, now - dt.timedelta(minutes=30),
                                 queue="hotline-legal"),
    }
    order = {ticket: name for name, ticket in tickets.items()}
    dialer = FakeDialer(free={"general": 0, "legal": 0})
    settings = _callback_settings()
    done = place_callbacks(db.sessions, dialer, settings, now)
    assert done.scheduled == 4 and done.placed == [] and dialer.placed == []  # nobody free: nobody called
    dialer.free = {"general": 2, "legal": 0}
    place_callbacks(db.sessions, dialer, settings, now)
    with db.session() as s:
        called = [order[s.get_one(OutboundCall, r.call_id).ticket_id] for r in dialer.placed]
    assert called == ["urgent", "early-normal"]  # priority first, then who waited longest
    assert {r.variables["HOTLINE_QUEUE"] for r in dialer.placed} == {"general"}
    assert all(r.context == "hotline-callback" for r in dialer.placed)
    place_callbacks(db.sessions, dialer, settings, now + dt.timedelta(seconds=6))
    assert len(dialer.placed) == 2  # two in flight for two free agents: none more
    _answer(db, dialer.placed[0].call_id, True, now, reason="4")
    with db.sessions.begin() as s:
        from models.outbound import agent_connected

        agent_connected(s, dialer.placed[0].call_id, now=now)
    dialer.free = {"general": 1, "legal": 1}  # agent 1 now talks to "urgent"
    place_callbacks(db.sessions, dialer, settings, now + dt.timedelta(seconds=12))
    with db.session() as s:
        called = [order[s.get_one(OutboundCall, r.call_id).ticket_id] for r in dialer.placed]
        urgent = s.scalars(select(ScheduledTask).where(ScheduledTask.ticket_id == tickets["urgent"])).one()
        assert urgent.state == TaskState.DONE
        events = s.scalars(select(TicketEvent.text).where(TicketEvent.ticket_id == tickets["urgent"])).all()
        assert "callback answered" in events
    assert called == ["urgent", "early-normal", "legal"]  # early-normal still rings: general has no room


def test_unanswered_callbacks_are_retried_then_left_for_an_agent(db: Database) -> None:
    now = MORNING
    ticket_id = _waiting_caller(db, "13800000061", Priority.NORMAL, now - dt.timedelta(minutes=3))
    dialer = FakeDialer(free={"general": 1})
    settings = _callback_settings()
    place_callbacks(db.sessions, dialer, settings, now)
    _answer(db, dialer.placed[0].call_id, False, now + dt.timedelta(seconds=30))
    place_callbacks(db.sessions, dialer, settings, now + dt.timedelta(minutes=1))
    assert len(dialer.placed) == 1
    place_callbacks(db.sessions, dialer, settings, now + dt.timedelta(minutes=6))
    assert len(dialer.placed) == 2
    _answer(db, dialer.placed[1].call_id, False, now + dt.timedelta(minutes=7), reason="5")
    place_callbacks(db.sessions, dialer, settings, now + dt.timedelta(minutes=20))
    assert len(dialer.placed) == 2
    with db.session() as s:
        [alert] = open_alerts(s)
        assert (alert.kind, alert.ticket_id) == ("callback_unanswered", ticket_id)
        task = s.scalars(select(ScheduledTask).where(ScheduledTask.kind == "callback")).one()
        assert task.state == TaskState.FAILED
    place_callbacks(db.sessions, dialer, settings, now + dt.timedelta(hours=1))
    assert len(dialer.placed) == 2  # one callback per ticket


def test_callers_who_hung_up_in_the_queue_get_a_callback_when_enabled(db: Database) -> None:
    now = MORNING
    with db.sessions.begin() as s:
        rows = []
        for n, number in enumerate(("13800000071", "+12025550123")):
            ticket = open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER",
                                                  contact_number=number), actor="ivr", now=now)
            call = Call(uniqueid=f"17000000{n}.1", linkedid=f"17000000{n}.1", caller_number=number,
                        started_at=now - dt.timedelta(minutes=10), queue="hotline-general",
                        queue_entered_at=now - dt.timedelta(minutes=9), outcome=CallOutcome.ABANDONED_QUEUE,
                        ticket_id=ticket.id)
            s.add(call)
            rows.append(ticket.id)
    dialer = FakeDialer(free={"general": 5})
    place_callbacks(db.sessions, dialer, _callback_settings(), now)
    assert dialer.placed == []  # off by default
    settings = _callback_settings(abandoned_offer=True)
    done = place_callbacks(db.sessions, dialer, settings, now)
    assert done.offered == 1 and len(dialer.placed) == 1  # the foreign number is not called
    place_callbacks(db.sessions, dialer, settings, now + dt.timedelta(minutes=1))
    with db.session() as s:
        assert s.get_one(Ticket, rows[0]).callback_requested and not s.get_one(Ticket, rows[1]).callback_requested
        assert s.scalars(select(ScheduledTask).where(ScheduledTask.kind == "callback")).all().__len__() == 1


# --- the AMI dialer's pure parts -------------------------------------------------------------------

def test_originate_headers_are_built_from_checked_values_only() -> None:
    request = OriginateRequest(12, "13800000001", "hotline-followup",
                               {"HOTLINE_FOLLOWUP": "12", "HOTLINE_LANGUAGE": "zh"}, 30)
    fields = originate_fields(request)
    assert fields["Channel"] == "Local/13800000001@hotline-outbound" and fields["ChannelId"] == "hotline-ob-12"
    assert fields["Variable"] == "HOTLINE_FOLLOWUP=12,HOTLINE_LANGUAGE=zh" and fields["Timeout"] == "30000"
    bad = [dataclasses.replace(request, digits="13800000001@evil"), dataclasses.replace(request, digits="911"),
           dataclasses.replace(request, context="from-carrier"),
           dataclasses.replace(request, variables={"HOTLINE_TICKET": "1,HOTLINE_QUEUE=x"}),
           dataclasses.replace(request, variables={"HOTLINE_TICKET": "1\r\nAction: Command"}),
           dataclasses.replace(request, variables={"CDR(userfield)": "x"}),
           dataclasses.replace(request, caller_id="96345 <1>")]
    for each in bad:
        with pytest.raises(DialError):
            originate_fields(each)


def test_free_agents_are_idle_unpaused_members_not_on_a_call() -> None:
    members = [{"Queue": "hotline-general", "Status": "1", "Paused": "0", "InCall": "0"},
               {"Queue": "hotline-general", "Status": "2", "Paused": "0", "InCall": "1"},
               {"Queue": "hotline-general", "Status": "1", "Paused": "1", "InCall": "0"},
               {"Queue": "hotline-legal", "Status": "5", "Paused": "0", "InCall": "0"},
               {"Queue": "hotline-legal", "Status": "1", "Paused": "0", "InCall": "0"}]
    assert count_free(members) == {"general": 1, "legal": 1}


def test_dialer_events_reach_the_attempt_by_its_uniqueid(db: Database) -> None:
    clock = Clock(MORNING)
    dialer = FakeDialer()
    with db.sessions.begin() as s:
        ticket_id, _ = completed_job(s, "13800000081", now=MORNING - dt.timedelta(hours=3))
    ctx = _context(db, dialer, clock)
    schedule_due_followups(ctx)
    drain_due_tasks(ctx)
    call_id = dialer.placed[0].call_id
    ami = AmiDialer("127.0.0.1", 1, "u", "s", db.sessions)
    ami.handle({"Event": "OriginateResponse", "Response": "Success", "Uniqueid": f"hotline-ob-{call_id}",
                "Reason": "4"})
    ami.handle({"Event": "OriginateResponse", "Response": "Success", "Uniqueid": "1700000000.5", "Reason": "4"})
    ami.handle({"Event": "Hangup", "Uniqueid": f"hotline-ob-{call_id}x", "Cause": "16"})
    ami.handle({"Event": "Hangup", "Uniqueid": f"hotline-ob-{call_id}", "Cause": "16"})
    while not ami._work.empty():
        ami.apply(*ami._work.get())
    [attempt] = _attempts(db, ticket_id)
    assert attempt.state == OutboundState.ANSWERED and attempt.ended_at is not None
    assert attempt.reason == "hangup cause 16" and ami.applied == 2
