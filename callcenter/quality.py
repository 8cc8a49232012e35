"""Three-party evaluation in the console: the platform's quality rating (agents, supervisors) on the
ticket page and the provider's evaluation of their own finished job (provider page).

Each party rates a finished job once: the platform once per rating user (``platform:<ticket>:<user>``),
the provider once per job (``provider:<ticket>``); the resident's comes from the follow-up call.
The scores become points and stars in ``models.points_rules``.  A score is a whole number 1–5;
anything else is refused with a message and nothing is stored.
"""

from __future__ import annotations

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.forms import text_field
from models.entities import Evaluation, Ticket
from models.enums import EvaluationParty
from models.errors import ValidationError
from models.evaluations import EVALUABLE, record_evaluation

SCORES = (5, 4, 3, 2, 1)


def score_field(name: str = "score") -> int:
    """A required score 1–5 from the form."""
    value = (request.form.get(name) or "").strip()
    if len(value) != 1 or value not in "12345":
        raise ValidationError(f"{name}: choose a score from 1 to 5")
    return int(value)


def platform_key(ticket_id: int, user_id: int) -> str:
    """One platform rating per rating user and ticket."""
    return f"platform:{ticket_id}:{user_id}"


def provider_key(ticket_id: int) -> str:
    """One provider evaluation per job."""
    return f"provider:{ticket_id}"


def evaluations_of(session: Session, ticket_id: int) -> list[Evaluation]:
    """A ticket's evaluations by every party, oldest first."""
    return list(session.scalars(select(Evaluation).where(Evaluation.ticket_id == ticket_id)
                                .order_by(Evaluation.created_at, Evaluation.id)))


def already_rated(session: Session, key: str) -> bool:
    """Whether an evaluation with this key exists."""
    return session.scalars(select(Evaluation.id).where(Evaluation.source_key == key)).first() is not None


def rate(session: Session, ticket: Ticket, party: EvaluationParty, *, actor: str, key: str) -> bool:
    """Store the form's score and comment as ``party``'s evaluation; False when it was rated before."""
    if ticket.status not in EVALUABLE:
        raise ValidationError("only a finished job can be rated")
    score = score_field()
    comment = text_field("comment", 1000, multiline=True)
    if already_rated(session, key):
        return False
    record_evaluation(session, ticket, party=party, score=score, actor=actor, source_key=key, comment=comment)
    return True
