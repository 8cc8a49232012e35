"""SLA escalation once per breach, and follow-ups scheduled once inside calling hours."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from models.entities import Ticket
from models.enums import Channel, EventKind, Priority, TicketStatus
from models.followups import CallingHours, next_calling_time, schedule_followups
from models.sla import escalate_sla_breaches
from models.tickets import TicketRequest, open_ticket, transition_ticket
from tests.plugins.db import Database

NOW = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Pinghu
HOURS = CallingHours(dt.time(9), dt.time(20))


def test_calling_hours_move_night_followups_to_the_morning() -> None:
    evening = dt.datetime(2026, 12, 4, 13, 30, tzinfo=dt.UTC)  # 21:30 local
    assert next_calling_time(evening, HOURS) == dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)  # 09:00 next day
    early = dt.datetime(2026, 12, 4, 22, 0, tzinfo=dt.UTC)  # 06:00 local on the 5th
    assert next_calling_time(early, HOURS) == dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)
    assert next_calling_time(NOW, HOURS) == NOW


def test_sla_breach_escalates_once(db: Database) -> None:
    with db.sessions.begin() as s:
        ticket = open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER"), actor="t",
                             now=NOW)
        ticket_id = ticket.id
    with db.sessions.begin() as s:
        assert escalate_sla_breaches(s, now=NOW + dt.timedelta(minutes=19)) == []
    with db.sessions.begin() as s:
        assert [b.kind for b in escalate_sla_breaches(s, now=NOW + dt.timedelta(minutes=21))] == ["dispatch"]
    with db.sessions.begin() as s:
        assert escalate_sla_breaches(s, now=NOW + dt.timedelta(minutes=50)) == []
    with db.session() as s:
        ticket = s.get_one(Ticket, ticket_id)
        assert ticket.priority == Priority.URGENT  # was high (DRAIN-SEWER's default), one level up
        assert ticket.status == TicketStatus.ACCEPTED
        assert [e.kind for e in ticket.events].count(EventKind.ESCALATION) == 1


def test_completed_ticket_gets_one_followup_in_calling_hours(db: Database) -> None:
    with db.sessions.begin() as s:
        ticket = open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="MIND-TALK",
                                              contact_number="13800000001"), actor="t", now=NOW)
        late = dt.datetime(2026, 12, 4, 11, 30, tzinfo=dt.UTC)  # 19:30 local; +2 h is 21:30
        transition_ticket(s, ticket, TicketStatus.COMPLETED, actor="user:1", now=late)
    with db.sessions.begin() as s:
        [task] = schedule_followups(s, delay=dt.timedelta(hours=2), hours=HOURS, now=late)
        assert task.due_at == dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)
        assert task.payload == {"number": "+8613800000001"}
    with db.sessions.begin() as s:
        assert schedule_followups(s, delay=dt.timedelta(hours=2), hours=HOURS, now=late) == []
    with db.session() as s:
        assert s.scalar(select(Ticket.status).where(Ticket.id == ticket.id)) == TicketStatus.COMPLETED


# --- alerts, surveys, outbound attempts, daily statistics (issue 7) -----------------------------------

import pytest  # noqa: E402

from models.alerts import count_open_alerts, open_alerts, resolve_alert  # noqa: E402
from models.entities import Alert, Evaluation, OutboundCall, OutboundState, Worker  # noqa: E402
from models.errors import NotFound, ValidationError  # noqa: E402
from models.outbound import (  # noqa: E402
    OutboundPolicy,
    StepKind,
    call_id_of,
    decide,
    diallable_digits,
    originate_result,
    start_attempt,
)
from models.points_rules import PointsRules, apply_evaluation_points  # noqa: E402
from models.scheduling import ScheduledTask  # noqa: E402
from models.statistics import daily_statistics, snapshot_days  # noqa: E402
from models.surveys import parse_followup_id, record_survey, survey_target  # noqa: E402
from tests.scheduler.helpers import completed_job  # noqa: E402


def test_sla_breach_raises_one_supervisor_alert(db: Database) -> None:
    with db.sessions.begin() as s:
        ticket_id = open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER"), actor="t",
                                now=NOW).id
    for minutes in (21, 30, 30 * 24 * 60):  # the dispatch breach, again, then the completion breach too
        with db.sessions.begin() as s:
            escalate_sla_breaches(s, now=NOW + dt.timedelta(minutes=minutes))
    with db.session() as s:
        alerts = open_alerts(s)
        assert sorted(a.kind for a in alerts) == ["sla_completion", "sla_dispatch"]
        assert all(a.ticket_id == ticket_id and a.audience == "supervisor" for a in alerts)
        assert count_open_alerts(s, audience="supervisor") == 2
        assert count_open_alerts(s, scope=frozenset({-1})) == 0  # another station's supervisor sees none
        events = s.get_one(Ticket, ticket_id).events
        assert [e.kind for e in events].count(EventKind.ESCALATION) == 2
    with db.sessions.begin() as s:
        resolve_alert(s, alerts[0].id, actor="user:1")
        resolve_alert(s, alerts[0].id, actor="user:1")  # twice: no change
        with pytest.raises(NotFound):
            resolve_alert(s, 999_999, actor="user:1")
    with db.session() as s:
        assert count_open_alerts(s) == 1


def _followup(db: Database, number: str = "13800000011") -> tuple[int, int, int]:
    """A completed job with its follow-up task and one answered attempt: (ticket, worker, attempt)."""
    with db.sessions.begin() as s:
        ticket_id, worker_id = completed_job(s, number, now=NOW)
    with db.sessions.begin() as s:
        [task] = schedule_followups(s, delay=dt.timedelta(0), hours=HOURS, now=NOW)
        call = start_attempt(s, task, purpose="followup", number=f"+86{number}", policy=OutboundPolicy(), now=NOW)
        originate_result(s, call.id, answered=True, reason="4", now=NOW)
        return ticket_id, worker_id, call.id


def test_a_survey_is_stored_once_and_points_follow(db: Database) -> None:
    ticket_id, worker_id, call_id = _followup(db)
    with db.sessions.begin() as s:
        target = survey_target(s, call_id)
        assert not target.rated and target.language == "zh"
        outcome = record_survey(s, call_id, rating=4, solved=True, agent=False, now=NOW)
        assert outcome.first_time and not outcome.reopened and outcome.state == OutboundState.SURVEYED
    with db.sessions.begin() as s:  # the route ran again for the same follow-up
        again = record_survey(s, call_id, rating=1, solved=False, agent=False, now=NOW)
        assert not again.first_time and again.evaluation_id == outcome.evaluation_id
        assert survey_target(s, call_id).rated
    with db.sessions.begin() as s:
        before = s.get_one(Worker, worker_id).points
        assert apply_evaluation_points(s, PointsRules(), now=NOW) == 1
    with db.session() as s:
        assert s.get_one(Worker, worker_id).points == before + 5  # a 4 is worth 5 points
        ticket = s.get_one(Ticket, ticket_id)
        assert ticket.status == TicketStatus.FOLLOWED_UP
        [evaluation] = s.scalars(select(Evaluation).where(Evaluation.ticket_id == ticket_id))
        assert (evaluation.party, evaluation.score, evaluation.solved) == ("resident", 4, True)
        assert s.scalars(select(Alert)).all() == []


@pytest.mark.parametrize(("rating", "solved"), [(1, True), (2, None), (5, False)])
def test_a_low_rating_or_not_solved_reopens_with_one_alert(db: Database, rating: int, solved: bool | None) -> None:
    ticket_id, _worker, call_id = _followup(db)
    for _ in range(2):
        with db.sessions.begin() as s:
            record_survey(s, call_id, rating=rating, solved=solved, agent=False, now=NOW)
    with db.session() as s:
        ticket = s.get_one(Ticket, ticket_id)
        assert ticket.status == TicketStatus.REOPENED
        statuses = [e.to_status for e in ticket.events if e.to_status]
        assert statuses[-2:] == [TicketStatus.FOLLOWED_UP, TicketStatus.REOPENED]
        [alert] = open_alerts(s)
        assert alert.kind == "survey_low" and alert.ticket_id == ticket_id


def test_agent_or_no_rating_stores_no_evaluation(db: Database) -> None:
    ticket_id, _worker, call_id = _followup(db)
    with db.sessions.begin() as s:
        assert record_survey(s, call_id, rating=None, solved=None, agent=True, now=NOW).state == OutboundState.AGENT
    with db.session() as s:
        assert s.get_one(Ticket, ticket_id).status == TicketStatus.COMPLETED
        assert s.scalars(select(Evaluation).where(Evaluation.ticket_id == ticket_id)).all() == []


@pytest.mark.parametrize("value", [None, "", "12a", "1 2", "１２", "-1", "1" * 13, "1\nHANGUP", "$(id)", "0x10"])
def test_malformed_followup_ids_are_refused(value: str | None) -> None:
    with pytest.raises(ValidationError):
        parse_followup_id(value)


def test_unknown_or_foreign_attempts_are_not_surveyed(db: Database) -> None:
    _ticket, _worker, call_id = _followup(db)
    with db.sessions.begin() as s:
        call = s.get_one(OutboundCall, call_id)
        call.purpose = "callback"
    with db.sessions.begin() as s:
        for unknown in (call_id, call_id + 1000):
            with pytest.raises(NotFound):
                survey_target(s, unknown)
            with pytest.raises(NotFound):
                record_survey(s, unknown, rating=5, solved=True, agent=False)
        with pytest.raises(ValidationError):
            record_survey(s, call_id, rating=6, solved=True, agent=False)
    with db.session() as s:
        assert s.scalars(select(Evaluation)).all() == []


def test_diallable_numbers() -> None:
    assert diallable_digits("+8613800000001") == "13800000001"
    assert diallable_digits("13800000001") == "13800000001"
    assert diallable_digits("+8657385012345") == "057385012345"  # Jiaxing landline with its trunk prefix
    assert diallable_digits("+12025550123") is None  # foreign: never dialled
    for bad in (None, "", "anonymous", "123", "1380000000x", "+86 138 0000 0001; Dial(SIP/x)", "9" * 40):
        assert diallable_digits(bad) is None
    assert call_id_of("hotline-ob-42") == 42
    assert call_id_of("1700000000.12") is None and call_id_of("hotline-ob-4x") is None


def test_attempts_are_spaced_kept_in_calling_hours_and_bounded(db: Database) -> None:
    policy = OutboundPolicy(attempts=2, retry_after=dt.timedelta(minutes=30), ring_seconds=30, hours=HOURS)
    with db.sessions.begin() as s:
        completed_job(s, "13800000012", now=NOW)
    with db.sessions.begin() as s:
        [task] = schedule_followups(s, delay=dt.timedelta(0), hours=HOURS, now=NOW)
        assert decide(s, task, policy, now=NOW).kind is StepKind.DIAL
        first = start_attempt(s, task, purpose="followup", number="+8613800000012", policy=policy, now=NOW)
        assert decide(s, task, policy, now=NOW + dt.timedelta(seconds=5)).kind is StepKind.WAIT  # ringing
        originate_result(s, first.id, answered=False, reason="3", now=NOW + dt.timedelta(seconds=30))
        assert s.get_one(OutboundCall, first.id).state == OutboundState.NO_ANSWER
        step = decide(s, task, policy, now=NOW + dt.timedelta(minutes=1))
        assert step.kind is StepKind.WAIT and step.at == NOW + dt.timedelta(minutes=30, seconds=30)
        evening = dt.datetime(2026, 12, 4, 11, 50, tzinfo=dt.UTC)  # 19:50 local: +30 min is after 20:00
        second = start_attempt(s, task, purpose="followup", number="+8613800000012", policy=policy, now=evening)
        assert second.attempt == 2
        originate_result(s, second.id, answered=False, reason="5", now=evening)
        assert decide(s, task, policy, now=evening).kind is StepKind.GIVE_UP  # two of two used
        policy3 = OutboundPolicy(attempts=3, retry_after=dt.timedelta(minutes=30), hours=HOURS)
        step = decide(s, task, policy3, now=evening)
        assert step.at == dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)  # the next morning, 09:00 local
        assert s.get_one(OutboundCall, second.id).state == OutboundState.BUSY


def test_an_attempt_with_no_result_is_lost_and_counts(db: Database) -> None:
    policy = OutboundPolicy(attempts=3, retry_after=dt.timedelta(minutes=1), ring_seconds=30)
    with db.sessions.begin() as s:
        completed_job(s, "13800000013", now=NOW)
    with db.sessions.begin() as s:
        [task] = schedule_followups(s, delay=dt.timedelta(0), hours=HOURS, now=NOW)
        call = start_attempt(s, task, purpose="followup", number="+8613800000013", policy=policy, now=NOW)
        assert decide(s, task, policy, now=NOW + dt.timedelta(seconds=59)).kind is StepKind.WAIT
        step = decide(s, task, policy, now=NOW + dt.timedelta(seconds=61))
        assert step.kind is StepKind.WAIT and step.reason == "retry later"
        assert s.get_one(OutboundCall, call.id).state == OutboundState.LOST
        assert s.get_one(ScheduledTask, task.id).payload["number"] == "+8613800000013"


def test_daily_statistics_are_stored_once_per_finished_day(db: Database) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    day = dt.date(2026, 12, 3)
    with db.sessions.begin() as s:
        for n in range(3):
            open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER"), actor="t",
                        now=dt.datetime(2026, 12, 3, 2, n, tzinfo=dt.UTC))
    with db.sessions.begin() as s:
        stored = snapshot_days(s, zone=zone, days_back=3, now=NOW)
        assert stored == [dt.date(2026, 12, 1), dt.date(2026, 12, 2), day]
    with db.sessions.begin() as s:
        open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER"), actor="t",
                    now=dt.datetime(2026, 12, 3, 3, 0, tzinfo=dt.UTC))
        assert snapshot_days(s, zone=zone, days_back=3, now=NOW) == []  # never rewritten
    with db.session() as s:
        rows = daily_statistics(s, dt.date(2026, 12, 1), day)
        assert [r.day for r in rows] == [dt.date(2026, 12, 1), dt.date(2026, 12, 2), day]
        assert rows[-1].tickets_opened == 3 and rows[-1].by_category == {"DRAIN": 3}


def test_breaches_and_followups_can_be_taken_in_batches(db: Database) -> None:
    with db.sessions.begin() as s:
        for n in range(3):
            open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER"), actor="t", now=NOW)
            ticket = open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="MIND-TALK",
                                                  contact_number=f"1380000010{n}"), actor="t", now=NOW)
            transition_ticket(s, ticket, TicketStatus.COMPLETED, actor="t", now=NOW)
    later = NOW + dt.timedelta(minutes=21)
    sizes = []
    for _ in range(3):
        with db.sessions.begin() as s:
            sizes.append((len(escalate_sla_breaches(s, now=later, limit=2)),
                          len(schedule_followups(s, delay=dt.timedelta(0), hours=HOURS, now=later, limit=2))))
    assert sizes == [(2, 2), (1, 1), (0, 0)]
