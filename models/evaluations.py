"""Three-party evaluations (resident, provider, platform) and the points ledger primitives.

Rules that turn evaluations into points and stars belong to the scheduler's rules module; this
module only stores evaluations and ledger entries, idempotently, and keeps balances non-negative.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.base import is_postgresql, utcnow
from models.entities import Evaluation, PointsEntry, Ticket, Worker
from models.enums import EvaluationParty, EventKind, TicketStatus
from models.errors import InsufficientPoints, ValidationError
from models.text import require_clean_text
from models.tickets import append_event

EVALUABLE = frozenset({TicketStatus.COMPLETED, TicketStatus.FOLLOWED_UP, TicketStatus.CLOSED,
                       TicketStatus.REOPENED})


def record_evaluation(session: Session, ticket: Ticket, *, party: EvaluationParty, score: int,
                      actor: str, source_key: str, solved: bool | None = None, comment: str | None = None,
                      now: dt.datetime | None = None) -> Evaluation:
    """Store one party's evaluation of a finished job; the same ``source_key`` twice stores it once."""
    now = now or utcnow()
    existing = session.scalars(select(Evaluation).where(Evaluation.source_key == source_key)).first()
    if existing is not None:
        return existing
    party = EvaluationParty(party)
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ValidationError(f"score must be a whole number from 1 to 5, got {score!r}")
    if ticket.status not in EVALUABLE:
        raise ValidationError(f"ticket {ticket.number} is {ticket.status}; only finished jobs are evaluated")
    evaluation = Evaluation(
        ticket_id=ticket.id, worker_id=ticket.worker_id, party=party, score=score, solved=solved,
        comment=require_clean_text(comment, "comment", 1000, multiline=True), actor=actor,
        source_key=require_clean_text(source_key, "source key", 96, required=True), created_at=now,
    )
    session.add(evaluation)
    session.flush()
    append_event(session, ticket, EventKind.EVALUATION, actor, now=now,
                 detail={"party": str(party), "score": score, "solved": solved})
    return evaluation


def points_balance(session: Session, worker_id: int) -> int:
    """The worker's points balance: the sum of the ledger."""
    total = session.scalar(select(func.coalesce(func.sum(PointsEntry.delta), 0))
                           .where(PointsEntry.worker_id == worker_id))
    return int(total or 0)


def add_points(session: Session, worker: Worker, delta: int, *, reason: str, ref: str,
               now: dt.datetime | None = None) -> PointsEntry:
    """Add a ledger entry (award or, negative, redemption); idempotent by ``ref``; never below zero."""
    existing = session.scalars(select(PointsEntry).where(PointsEntry.ref == ref)).first()
    if existing is not None:
        return existing
    if is_postgresql(session):  # serialise concurrent redemptions of one worker's balance
        session.execute(select(Worker.id).where(Worker.id == worker.id).with_for_update())
    balance = points_balance(session, worker.id)
    if balance + delta < 0:
        raise InsufficientPoints(f"worker {worker.name} has {balance} points; cannot take {-delta}")
    entry = PointsEntry(worker_id=worker.id, company_id=worker.company_id, delta=delta,
                        reason=require_clean_text(reason, "reason", 64, required=True), ref=ref,
                        created_at=now or utcnow())
    session.add(entry)
    worker.points = balance + delta
    session.flush()
    return entry
