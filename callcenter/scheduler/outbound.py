"""Follow-up survey calls (回访) and callbacks: the scheduler's outbound calling.

**Follow-ups** are ``followup`` tasks (one per completion, due after a delay inside calling hours,
see ``models.followups``) run by :class:`FollowupCalls`, the task handler the scheduler entry point
installs.  Each run decides (``models.outbound.decide``): done when an attempt was surveyed (or the
resident asked for an agent); check again while a call is in flight; after ``attempts`` unanswered
calls (no answer, busy, failed, lost, hung up before rating) mark the follow-up unreachable for an
agent; else place the next attempt — no sooner than ``retry_after`` after the last one, and only
inside calling hours.  The attempt row is committed before the Originate is sent (the send runs
after the transaction), so a scheduler restarted mid-call never places one attempt twice.  A
number that is foreign or malformed is never dialled: unreachable at once.  At most
``max_concurrent`` follow-up calls are in flight.

**Callbacks** (``callback`` tasks, one per ticket marked ``callback_requested``) are placed by the
``callbacks.place`` job, :func:`place_callbacks`, in serving order (queue priority, then the time
the caller joined the queue), per queue only while ``free agents − callbacks in flight > 0``
(free agents from AMI ``QueueStatus``; a callback is in flight from the Originate until an agent
takes it or it ends).  Unanswered callbacks are retried after ``retry_after``; after ``attempts``
the ticket is left for an agent with an alert.  With ``abandoned_offer`` on, calls abandoned in the
queue within ``abandoned_window`` get a callback the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from callcenter.scheduler.dialer import Dialer, DialError, OriginateRequest
from models.callbacks import (
    NOT_CALLED_BACK,
    callback_answered,
    callback_unanswered,
    due_callbacks,
    language_of,
    offer_abandoned_callbacks,
    schedule_callbacks,
)
from models.entities import OutboundState, Ticket
from models.enums import TicketStatus
from models.outbound import (
    OutboundPolicy,
    StepKind,
    attempts_of,
    decide,
    diallable_digits,
    in_flight_counts,
    originate_accepted,
    originate_refused,
    start_attempt,
)
from models.scheduling import ScheduledTask, TaskState, finish_task
from models.surveys import mark_followup_unreachable

log = logging.getLogger("hotline.scheduler.outbound")
AMI_AWAY_RETRY = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class TaskStep:
    """A task handler's answer: look again at ``wait_until`` (None: finished), and work to do once
    the transaction is committed (placing a call)."""

    wait_until: dt.datetime | None = None
    after_commit: Callable[[], None] | None = None


@dataclass(frozen=True)
class OutboundSettings:
    """How follow-ups and callbacks are called (from the hotline settings)."""

    followup: OutboundPolicy = field(default_factory=OutboundPolicy)
    callback: OutboundPolicy = field(default_factory=lambda: OutboundPolicy(
        retry_after=dt.timedelta(minutes=10), max_call=dt.timedelta(minutes=10)))
    followup_max_concurrent: int = 10
    region: str = "CN"
    caller_id: str = "96345"
    abandoned_offer: bool = False
    abandoned_window: dt.timedelta = dt.timedelta(hours=2)


def place_call(sessions: sessionmaker[Session], dialer: Dialer, request: OriginateRequest) -> None:
    """Send the Originate of a stored attempt and note whether Asterisk took it."""
    try:
        action_id = dialer.originate(request)
    except DialError as exc:
        log.warning("outbound call %s not placed: %s", request.call_id, exc)
        with sessions.begin() as session:
            originate_refused(session, request.call_id, reason=str(exc))
        return
    with sessions.begin() as session:
        originate_accepted(session, request.call_id, action_id=action_id)


def _give_up(task: ScheduledTask, now: dt.datetime) -> None:
    task.state, task.finished_at, task.lease_expires_at = TaskState.FAILED, now, None


class FollowupCalls:
    """The ``followup`` task handler (see the module docstring)."""

    def __init__(self, sessions: sessionmaker[Session], dialer: Dialer, settings: OutboundSettings) -> None:
        self.sessions, self.dialer, self.settings = sessions, dialer, settings

    def __call__(self, session: Session, task: ScheduledTask, now: dt.datetime) -> TaskStep | None:
        """Decide and, when it is time, store the next attempt and place it after the commit."""
        policy = self.settings.followup
        step = decide(session, task, policy, now=now)
        if step.kind is StepKind.DONE:
            return None
        if step.kind is StepKind.WAIT:
            return TaskStep(wait_until=step.at)
        if step.kind is StepKind.GIVE_UP:
            count = len(attempts_of(session, task.id))
            mark_followup_unreachable(session, task, reason=f"no answer after {count} calls", now=now)
            _give_up(task, now)
            return None
        ticket = session.get(Ticket, task.ticket_id) if task.ticket_id else None
        if ticket is None or ticket.status != TicketStatus.COMPLETED:
            return None  # reopened, closed or followed up by hand meanwhile: nothing to ask
        digits = diallable_digits((task.payload or {}).get("number"), self.settings.region)
        if digits is None:
            mark_followup_unreachable(session, task, reason="the number cannot be dialled", now=now)
            _give_up(task, now)
            return None
        if not self.dialer.connected:
            return TaskStep(wait_until=now + AMI_AWAY_RETRY)
        if sum(in_flight_counts(session, "followup", now=now, max_call=policy.max_call).values()) \
                >= self.settings.followup_max_concurrent:
            return TaskStep(wait_until=now + policy.check_every)
        language = language_of(session, ticket)
        call = start_attempt(session, task, purpose="followup", number=str(task.payload["number"]),
                             policy=policy, language=language, now=now)
        request = OriginateRequest(call.id, digits, "hotline-followup", {
            "HOTLINE_FOLLOWUP": str(call.id), "HOTLINE_LANGUAGE": language, "HOTLINE_TICKET": ticket.number,
        }, policy.ring_seconds, self.settings.caller_id)
        log.info("follow-up %s: attempt %d for ticket %s", task.id, call.attempt, ticket.number)
        return TaskStep(wait_until=now + policy.check_every,
                        after_commit=lambda: place_call(self.sessions, self.dialer, request))


@dataclass
class CallbackRound:
    """What one run of :func:`place_callbacks` did."""

    scheduled: int = 0
    offered: int = 0
    placed: list[int] = field(default_factory=list)  # task ids, in the order called
    answered: int = 0
    given_up: int = 0
    free: dict[str, int] = field(default_factory=dict)


def place_callbacks(sessions: sessionmaker[Session], dialer: Dialer | None, settings: OutboundSettings,
                    now: dt.datetime) -> CallbackRound:
    """Schedule new callbacks and place the due ones the free agents can take (see module docstring)."""
    done = CallbackRound()
    policy = settings.callback
    with sessions.begin() as session:
        if settings.abandoned_offer:
            done.offered = offer_abandoned_callbacks(session, since=now - settings.abandoned_window,
                                                     region=settings.region, now=now)
        done.scheduled = len(schedule_callbacks(session, max_attempts=policy.attempts, now=now))
    if dialer is None or not dialer.connected:
        return done
    free = dialer.free_agents()
    if free is None:
        return done
    done.free = dict(free)
    requests: list[OriginateRequest] = []
    with sessions.begin() as session:
        flying = in_flight_counts(session, "callback", now=now, max_call=policy.max_call)
        room = {name: count - flying.get(name, 0) for name, count in free.items()}
        for candidate in due_callbacks(session, now=now):
            task = session.get_one(ScheduledTask, candidate.task_id)
            request = _advance_callback(session, task, candidate.queue, candidate.language, room, done,
                                        settings, now)
            if request is not None:
                requests.append(request)
    for request in requests:
        place_call(sessions, dialer, request)
    return done


def _advance_callback(session: Session, task: ScheduledTask, queue: str, language: str, room: dict[str, int],
                      done: CallbackRound, settings: OutboundSettings, now: dt.datetime) -> OriginateRequest | None:
    policy = settings.callback
    step = decide(session, task, policy, now=now)
    if step.kind is StepKind.DONE:
        answered = next(c for c in attempts_of(session, task.id)
                        if c.state in (OutboundState.ANSWERED, OutboundState.CONNECTED))
        callback_answered(session, task, call_id=answered.id, now=now)
        done.answered += 1
        return None
    if step.kind is StepKind.WAIT:
        task.due_at = step.at or now + policy.check_every
        return None
    if step.kind is StepKind.GIVE_UP:
        callback_unanswered(session, task, reason=f"no answer after {task_attempts(session, task)} calls", now=now)
        done.given_up += 1
        return None
    ticket = session.get(Ticket, task.ticket_id) if task.ticket_id else None
    if ticket is None or ticket.status in NOT_CALLED_BACK:
        finish_task(session, task, now=now)
        return None
    if room.get(queue, 0) <= 0:
        return None  # no free agent in this queue now: it keeps its place in line
    digits = diallable_digits((task.payload or {}).get("number"), settings.region)
    if digits is None:
        callback_unanswered(session, task, reason="the number cannot be dialled", now=now)
        done.given_up += 1
        return None
    room[queue] -= 1
    call = start_attempt(session, task, purpose="callback", number=str(task.payload["number"]), policy=policy,
                         queue=queue, language=language or language_of(session, ticket), now=now)
    task.due_at = now + policy.check_every
    done.placed.append(task.id)
    log.info("callback %s: attempt %d for ticket %s in %s", task.id, call.attempt, ticket.number, queue)
    return OriginateRequest(call.id, digits, "hotline-callback", {
        "HOTLINE_QUEUE": queue, "HOTLINE_LANGUAGE": call.language, "HOTLINE_TICKET": ticket.number,
    }, policy.ring_seconds, settings.caller_id)


def task_attempts(session: Session, task: ScheduledTask) -> int:
    """How many calls a task has placed."""
    return len(attempts_of(session, task.id))

