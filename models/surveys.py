"""The follow-up survey's results (回访结果) and the follow-ups that reach nobody.

The survey route names the attempt it is answering (``HOTLINE_FOLLOWUP``, digits only); what the
resident keyed is stored once per follow-up, however often the route runs:

* a rating (1–5) becomes the resident's evaluation (party ``resident``, source key
  ``survey:<task id>``), and the ticket goes 完工 completed → 回访 followed up;
* a rating of ``low_rating_max`` or less, or "not solved", reopens the ticket (followed up →
  reopened) and raises a ``survey_low`` supervisor alert;
* 0 (speak to an agent) without a rating leaves the ticket as it is; the dialplan queues the
  resident in the general queue.

A follow-up whose attempts all went unanswered (or whose number cannot be dialled) raises a
``followup_unreachable`` alert so an agent follows up by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.alerts import raise_alert
from models.base import utcnow
from models.entities import Evaluation, OutboundCall, OutboundState, Ticket
from models.enums import EvaluationParty, TicketStatus
from models.errors import NotFound, ValidationError
from models.evaluations import EVALUABLE, record_evaluation
from models.scheduling import ScheduledTask
from models.tickets import transition_ticket

S = OutboundState
ANSWERABLE = frozenset({S.PLACING, S.RINGING, S.ANSWERED, S.INCOMPLETE, S.LOST})
MAX_ID_DIGITS = 12
LOW_RATING_MAX = 2  # a rating of 1 or 2 reopens the ticket (issue 7)


@dataclass(frozen=True)
class SurveyTarget:
    """The follow-up a survey call answers: its ticket and language, and whether it is rated already."""

    call_id: int
    ticket_number: str
    language: str
    rated: bool


@dataclass(frozen=True)
class SurveyOutcome:
    """What storing a survey did."""

    state: OutboundState
    evaluation_id: int | None
    reopened: bool
    first_time: bool


def parse_followup_id(value: str | None) -> int:
    """The attempt id from the channel variable: 1–12 ASCII digits, else a ValidationError."""
    text = value or ""
    if not (1 <= len(text) <= MAX_ID_DIGITS and text.isascii() and text.isdigit()):
        raise ValidationError("the follow-up id must be 1 to 12 digits")
    return int(text)


def _survey_key(call: OutboundCall) -> str:
    return f"survey:{call.task_id}"


def _followup_call(session: Session, call_id: int) -> OutboundCall:
    call = session.get(OutboundCall, call_id)
    if call is None or call.purpose != "followup" or call.ticket_id is None:
        raise NotFound(f"follow-up call {call_id} does not exist")
    return call


def survey_target(session: Session, call_id: int) -> SurveyTarget:
    """The follow-up an answered survey call belongs to (NotFound for anything else)."""
    call = _followup_call(session, call_id)
    if call.state not in ANSWERABLE and call.state not in (S.SURVEYED, S.AGENT):
        raise NotFound(f"follow-up call {call_id} is not in progress")
    ticket = session.get_one(Ticket, call.ticket_id)
    rated = session.scalars(select(Evaluation.id).where(Evaluation.source_key == _survey_key(call))).first()
    return SurveyTarget(call.id, ticket.number, call.language, rated is not None)


def record_survey(session: Session, call_id: int, *, rating: int | None, solved: bool | None, agent: bool,
                  low_rating_max: int = LOW_RATING_MAX, now: dt.datetime | None = None) -> SurveyOutcome:
    """Store what the resident keyed (see the module docstring); the same follow-up twice stores it once."""
    now = now or utcnow()
    if rating is not None and (isinstance(rating, bool) or not 1 <= rating <= 5):
        raise ValidationError(f"rating must be 1 to 5, got {rating!r}")
    call = _followup_call(session, call_id)
    ticket = session.get_one(Ticket, call.ticket_id)
    key = _survey_key(call)
    existing = session.scalars(select(Evaluation).where(Evaluation.source_key == key)).first()
    call.answered_at = call.answered_at or now
    if existing is not None:  # the route ran again for a follow-up already rated
        call.state = S.SURVEYED if call.state != S.SURVEYED else call.state
        session.flush()
        return SurveyOutcome(call.state, existing.id, False, False)
    call.result = {"rating": rating, "solved": solved, "agent": agent}
    if rating is None:
        call.state = S.AGENT if agent else S.INCOMPLETE
        session.flush()
        return SurveyOutcome(call.state, None, False, True)
    if ticket.status not in EVALUABLE:  # an agent reopened and re-opened work meanwhile: keep the answer only
        call.state = S.SURVEYED
        session.flush()
        return SurveyOutcome(call.state, None, False, True)
    if ticket.status == TicketStatus.COMPLETED:
        transition_ticket(session, ticket, TicketStatus.FOLLOWED_UP, actor="scheduler", now=now,
                          detail={"followup_call": call.id})
    evaluation = record_evaluation(session, ticket, party=EvaluationParty.RESIDENT, score=rating,
                                   actor="resident:survey", source_key=key, solved=solved, now=now)
    call.state = S.SURVEYED
    reopened = False
    if (rating <= low_rating_max or solved is False) and ticket.status == TicketStatus.FOLLOWED_UP:
        transition_ticket(session, ticket, TicketStatus.REOPENED, actor="scheduler", now=now,
                          note="reopened by the follow-up survey",
                          detail={"rating": rating, "solved": solved})
        raise_alert(session, ticket, "survey_low", key=f"survey-low:{call.task_id}", now=now,
                    text=f"follow-up survey: rating {rating}, solved {_yes_no(solved)}; ticket reopened",
                    detail={"rating": rating, "solved": solved})
        reopened = True
    session.flush()
    return SurveyOutcome(call.state, evaluation.id, reopened, True)


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def mark_followup_unreachable(session: Session, task: ScheduledTask, *, reason: str,
                              now: dt.datetime | None = None) -> None:
    """Every attempt went unanswered (or the number cannot be dialled): an agent follows up by hand."""
    now = now or utcnow()
    if task.ticket_id is None:
        return
    ticket = session.get_one(Ticket, task.ticket_id)
    raise_alert(session, ticket, "followup_unreachable", key=f"followup-unreachable:{task.id}", now=now,
                text=f"follow-up call: resident unreachable ({reason}); please follow up by hand",
                detail={"followup": "unreachable", "reason": reason, "task": task.id})
