"""Evaluations → points → stars → dispatch weight, and redemption."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models.catalogue import sub_service_by_code
from models.dispatch import accept_offer, complete_service, dispatch_ticket, start_service
from models.entities import Ticket, Worker, WorkerSkill
from models.enums import Channel, EvaluationParty, WorkerStatus
from models.errors import InsufficientPoints, ValidationError
from models.evaluations import points_balance, record_evaluation
from models.points_rules import (
    PointsRules,
    apply_evaluation_points,
    dispatch_weight,
    recompute_stars,
    redeem_points,
    stars_from_scores,
)
from models.tickets import TicketRequest, open_ticket
from tests.plugins.db import Database

RULES = PointsRules()


def _finished_job(db: Database, worker_id: int, n: int) -> int:
    now = dt.datetime.now(dt.UTC)
    with db.sessions.begin() as s:
        ticket = open_ticket(s, TicketRequest(channel=Channel.WEB, sub_service_code="DRAIN-SEWER"), actor="t")
        offer = dispatch_ticket(s, ticket, worker_id, actor="t", offer_seconds=60, now=now)
        accept_offer(s, offer.id, worker_id, now=now)
        start_service(s, ticket.id, worker_id, now=now)
        complete_service(s, ticket.id, worker_id, report=f"job {n}", now=now)
        return ticket.id


def _drain_worker(db: Database) -> int:
    with db.sessions.begin() as s:
        sub = sub_service_by_code(s, "DRAIN-SEWER")
        worker = s.scalars(select(Worker).join(WorkerSkill).where(WorkerSkill.sub_service_id == sub.id)).first()
        assert worker is not None
        worker.status, worker.stars = WorkerStatus.IDLE, 3
        return worker.id


def test_scores_become_points_once_and_stars_follow(db: Database) -> None:
    worker_id = _drain_worker(db)
    tickets = [_finished_job(db, worker_id, n) for n in range(4)]
    with db.sessions.begin() as s:
        for n, ticket_id in enumerate(tickets):
            record_evaluation(s, s.get_one(Ticket, ticket_id), party=EvaluationParty.RESIDENT, score=5,
                              solved=True, actor="survey", source_key=f"survey:{n}")
        record_evaluation(s, s.get_one(Ticket, tickets[0]), party=EvaluationParty.PLATFORM, score=4,
                          actor="user:2", source_key="qa:0")
    with db.sessions.begin() as s:
        assert apply_evaluation_points(s, RULES) == 5
    with db.sessions.begin() as s:
        assert apply_evaluation_points(s, RULES) == 0  # idempotent
        assert points_balance(s, worker_id) == 4 * 10 + 4
        assert recompute_stars(s, RULES) == 1
        assert s.get_one(Worker, worker_id).stars == 5


def test_low_scores_never_take_the_balance_negative(db: Database) -> None:
    worker_id = _drain_worker(db)
    ticket_id = _finished_job(db, worker_id, 0)
    with db.sessions.begin() as s:
        record_evaluation(s, s.get_one(Ticket, ticket_id), party=EvaluationParty.RESIDENT, score=1, solved=False,
                          actor="survey", source_key="survey:bad")
        apply_evaluation_points(s, RULES)
        assert points_balance(s, worker_id) == 0


def test_redemption_within_balance_only(db: Database) -> None:
    worker_id = _drain_worker(db)
    ticket_id = _finished_job(db, worker_id, 0)
    with db.sessions.begin() as s:
        record_evaluation(s, s.get_one(Ticket, ticket_id), party=EvaluationParty.RESIDENT, score=5, solved=True,
                          actor="survey", source_key="survey:good")
        apply_evaluation_points(s, RULES)
        redeem_points(s, s.get_one(Worker, worker_id), 6, item="工具包", ref="r1")
        assert points_balance(s, worker_id) == 4
    with pytest.raises(InsufficientPoints), db.sessions.begin() as s:
        redeem_points(s, s.get_one(Worker, worker_id), 5, item="工具包", ref="r2")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValidationError), db.sessions.begin() as s:
            redeem_points(s, s.get_one(Worker, worker_id), bad, item="x", ref="r3")  # type: ignore[arg-type]
    with db.session() as s:
        assert points_balance(s, worker_id) == 4


def test_star_thresholds_and_weight() -> None:
    assert stars_from_scores([(5, 2), (5, 2)], RULES) is None
    assert stars_from_scores([(4, 2), (4, 2), (5, 1)], RULES) == 4  # mean 4.2
    assert stars_from_scores([(5, 2), (4, 2), (5, 1)], RULES) == 5  # mean 4.6
    assert stars_from_scores([(1, 2), (2, 2), (1, 1)], RULES) == 1
    assert dispatch_weight(3, 0) == 1.0 and dispatch_weight(5, 10_000) == pytest.approx(1.45)
    assert dispatch_weight(1, -50) == pytest.approx(0.8)
