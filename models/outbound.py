"""Outbound calls — follow-up surveys (回访) and callbacks — as attempts stored before they are placed.

A follow-up or callback is a :class:`~models.scheduling.ScheduledTask`; each call it places is an
:class:`~models.entities.OutboundCall` attempt, numbered 1, 2, 3… per task and unique by
(task, attempt).  The attempt row is committed *before* the Originate is sent, so a scheduler
restarted mid-call finds it and never places the same attempt twice (DESIGN §6, promise 4).

An attempt's life: ``placing`` (stored) → ``ringing`` (Asterisk accepted the Originate) →
``answered`` (OriginateResponse Success) or ``no_answer`` / ``busy`` / ``failed`` (its reason
code); a follow-up then ends ``surveyed`` / ``agent`` / ``incomplete`` (the survey route says which)
and a callback ``connected`` when an agent takes it.  An attempt with no result by its deadline is
``lost`` (events missed while no scheduler listened) and counts as unanswered.

What a task does next (:func:`decide`):

* an attempt succeeded (follow-up surveyed or sent to an agent; callback answered) → done;
* the last attempt is still in flight → check again shortly;
* every allowed attempt was used → give up (the ticket is left for an agent with an alert);
* else the next attempt waits ``retry_after`` after the last one ended, moved into calling hours.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.entities import OutboundCall, OutboundState
from models.followups import CallingHours, next_calling_time
from models.phone import parse_phone
from models.scheduling import ScheduledTask, TaskState

S = OutboundState
PURPOSES = ("followup", "callback")
UNIQUEID_PREFIX = "hotline-ob-"
IN_FLIGHT = frozenset({S.PLACING, S.RINGING, S.ANSWERED})
SUCCESS = {"followup": frozenset({S.SURVEYED, S.AGENT}), "callback": frozenset({S.ANSWERED, S.CONNECTED})}
UNANSWERED = frozenset({S.NO_ANSWER, S.BUSY, S.FAILED, S.LOST, S.INCOMPLETE})
RING_SLACK = dt.timedelta(seconds=30)  # an unanswered Originate reports within ring time + this
# OriginateResponse "Reason": the last control frame seen (Asterisk's AST_CONTROL_*).
_REASONS = {"1": S.NO_ANSWER, "3": S.NO_ANSWER, "5": S.BUSY, "8": S.FAILED, "0": S.FAILED}
_DIALLABLE = re.compile(r"^(1\d{10}|0\d{9,11})$")  # what [hotline-outbound] accepts


@dataclass(frozen=True)
class OutboundPolicy:
    """How a kind of outbound call is placed and retried (from the settings)."""

    attempts: int = 3
    retry_after: dt.timedelta = dt.timedelta(minutes=30)
    ring_seconds: int = 40
    max_call: dt.timedelta = dt.timedelta(minutes=5)  # answered: the longest survey / queue wait
    settle: dt.timedelta = dt.timedelta(seconds=10)  # after a hangup, time for the survey to be stored
    check_every: dt.timedelta = dt.timedelta(seconds=5)
    hours: CallingHours | None = None  # None: any time of day


class StepKind(StrEnum):
    """What a task does next."""

    DONE = "done"
    WAIT = "wait"
    DIAL = "dial"
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class Step:
    """The decision for a task: its kind, when to look again (WAIT), and why."""

    kind: StepKind
    at: dt.datetime | None = None
    reason: str = ""


def diallable_digits(number: str | None, region: str = "CN") -> str | None:
    """The digits [hotline-outbound] dials for a home-region number; None for foreign or malformed ones."""
    phone = parse_phone(number, region)
    if phone.e164 is None or not phone.valid or phone.foreign:
        return None
    national = phonenumbers.format_number(phonenumbers.parse(phone.e164),
                                          phonenumbers.PhoneNumberFormat.NATIONAL)
    digits = "".join(ch for ch in national if ch.isdigit())
    return digits if _DIALLABLE.match(digits) else None


def channel_uniqueid(call_id: int) -> str:
    """The Asterisk uniqueid an attempt's call gets (Originate ``ChannelId``)."""
    return f"{UNIQUEID_PREFIX}{int(call_id)}"


def call_id_of(uniqueid: str | None) -> int | None:
    """The attempt id of an outbound channel's uniqueid (None for any other channel)."""
    if not uniqueid or not uniqueid.startswith(UNIQUEID_PREFIX):
        return None
    rest = uniqueid[len(UNIQUEID_PREFIX):]
    return int(rest) if rest.isdigit() and len(rest) <= 12 else None


def attempts_of(session: Session, task_id: int) -> list[OutboundCall]:
    """A task's attempts, first to last."""
    return list(session.scalars(select(OutboundCall).where(OutboundCall.task_id == task_id)
                                .order_by(OutboundCall.attempt)))


def start_attempt(session: Session, task: ScheduledTask, *, purpose: str, number: str, policy: OutboundPolicy,
                  queue: str | None = None, language: str = "zh", now: dt.datetime | None = None) -> OutboundCall:
    """Store the task's next attempt (the caller commits it before the Originate is sent)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown outbound purpose {purpose!r}")
    now = now or utcnow()
    count = session.scalar(select(func.count()).select_from(OutboundCall)
                           .where(OutboundCall.task_id == task.id)) or 0
    call = OutboundCall(task_id=task.id, ticket_id=task.ticket_id, purpose=purpose, attempt=int(count) + 1,
                        number=number, state=S.PLACING, queue=queue, language=language, created_at=now,
                        deadline_at=now + dt.timedelta(seconds=policy.ring_seconds) + RING_SLACK, result={})
    session.add(call)
    session.flush()
    return call


# --- results from Asterisk (each idempotent: a replayed event changes nothing) ------------------------

def originate_accepted(session: Session, call_id: int, *, action_id: str | None,
                       now: dt.datetime | None = None) -> None:
    """Asterisk accepted the Originate: the phone rings."""
    call = session.get(OutboundCall, call_id)
    if call is not None and call.state == S.PLACING:
        call.state, call.originated_at, call.action_id = S.RINGING, now or utcnow(), action_id
        session.flush()


def originate_refused(session: Session, call_id: int, *, reason: str, now: dt.datetime | None = None) -> None:
    """The Originate could not be sent or was refused: the attempt failed."""
    call = session.get(OutboundCall, call_id)
    if call is not None and call.state in (S.PLACING, S.RINGING):
        call.state, call.reason, call.ended_at = S.FAILED, reason[:64], now or utcnow()
        session.flush()


def originate_result(session: Session, call_id: int, *, answered: bool, reason: str,
                     now: dt.datetime | None = None) -> None:
    """The OriginateResponse: answered, or unanswered with Asterisk's reason code."""
    now = now or utcnow()
    call = session.get(OutboundCall, call_id)
    if call is None or call.state not in (S.PLACING, S.RINGING):
        return
    call.originated_at = call.originated_at or now
    if answered:
        call.state, call.answered_at = S.ANSWERED, now
    else:
        call.state, call.ended_at = _REASONS.get(reason, S.FAILED), now
        call.reason = f"originate reason {reason}"[:64]
    session.flush()


def call_ended(session: Session, call_id: int, *, cause: str, now: dt.datetime | None = None) -> None:
    """The outbound channel hung up (Asterisk's hangup cause kept)."""
    call = session.get(OutboundCall, call_id)
    if call is not None and call.ended_at is None:
        call.ended_at = now or utcnow()
        call.reason = call.reason or f"hangup cause {cause}"[:64]
        session.flush()


def agent_connected(session: Session, call_id: int, *, now: dt.datetime | None = None) -> None:
    """An agent took the call (a callback is then fulfilled and no longer in flight)."""
    call = session.get(OutboundCall, call_id)
    if call is not None and call.connected_at is None:
        call.connected_at = now or utcnow()
        if call.state in (S.PLACING, S.RINGING, S.ANSWERED, S.AGENT):
            call.state = S.CONNECTED if call.purpose == "callback" else call.state
            call.answered_at = call.answered_at or call.connected_at
        session.flush()


# --- deciding ---------------------------------------------------------------------------------------

def settle_attempt(call: OutboundCall, policy: OutboundPolicy, now: dt.datetime) -> str:
    """``success``, ``in_flight`` or ``unanswered`` for one attempt (marking lost / incomplete ones)."""
    if call.state in SUCCESS[call.purpose]:
        return "success"
    if call.state in (S.PLACING, S.RINGING):
        if now < call.deadline_at:
            return "in_flight"
        call.state, call.reason = S.LOST, call.reason or "no result by its deadline"
        call.ended_at = call.ended_at or now
        return "unanswered"
    if call.state == S.ANSWERED:  # a follow-up answered, its survey not (yet) stored
        answered = call.answered_at or call.created_at
        if call.ended_at is not None and now >= call.ended_at + policy.settle:
            call.state = S.INCOMPLETE
            return "unanswered"
        if now >= answered + policy.max_call:
            call.state, call.reason = S.LOST, call.reason or "survey did not finish"
            return "unanswered"
        return "in_flight"
    return "unanswered"


def decide(session: Session, task: ScheduledTask, policy: OutboundPolicy, *,
           now: dt.datetime | None = None) -> Step:
    """What the task does next (see the module docstring); lost and incomplete attempts are marked."""
    now = now or utcnow()
    calls = attempts_of(session, task.id)
    verdicts = [settle_attempt(call, policy, now) for call in calls]
    session.flush()
    if "success" in verdicts:
        return Step(StepKind.DONE, reason="answered")
    if verdicts and verdicts[-1] == "in_flight":
        return Step(StepKind.WAIT, at=now + policy.check_every, reason="in flight")
    if len(calls) >= policy.attempts:
        return Step(StepKind.GIVE_UP, reason="unanswered")
    earliest = now
    if calls:
        last = calls[-1]
        earliest = max(now, (last.ended_at or last.created_at) + policy.retry_after)
    if policy.hours is not None:
        earliest = next_calling_time(earliest, policy.hours)
    if earliest > now:
        return Step(StepKind.WAIT, at=earliest, reason="retry later" if calls else "calling hours")
    return Step(StepKind.DIAL)


def wait_task(task: ScheduledTask, at: dt.datetime) -> None:
    """Put a claimed task back to pending until ``at`` (a check is not a failed try)."""
    task.state, task.due_at = TaskState.PENDING, at
    task.holder, task.lease_expires_at = None, None
    task.attempts = max(0, task.attempts - 1)


def in_flight_counts(session: Session, purpose: str, *, now: dt.datetime | None = None,
                     max_call: dt.timedelta = dt.timedelta(minutes=10)) -> dict[str | None, int]:
    """Attempts of ``purpose`` still ringing, or answered and not yet with an agent, per queue
    (one aggregate query: ringing ones until their deadline, answered ones for ``max_call``)."""
    now = now or utcnow()
    ringing = OutboundCall.state.in_([S.PLACING, S.RINGING]) & (OutboundCall.deadline_at > now)
    answered = (OutboundCall.state == S.ANSWERED) & (OutboundCall.answered_at > now - max_call)
    rows = session.execute(
        select(OutboundCall.queue, func.count())
        .where(OutboundCall.purpose == purpose, OutboundCall.state.in_(IN_FLIGHT),
               OutboundCall.connected_at.is_(None), OutboundCall.ended_at.is_(None), ringing | answered)
        .group_by(OutboundCall.queue)).all()
    return {queue: int(count) for queue, count in rows}
