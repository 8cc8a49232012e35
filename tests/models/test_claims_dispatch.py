"""Claims as leases (one winner under concurrency), dispatch rules, evaluations and points."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from models.catalogue import sub_service_by_code
from models.claims import (
    claim_next_ticket,
    claim_ticket,
    release_claim,
    release_expired_claims,
    renew_claim,
    require_lease,
)
from models.dispatch import accept_offer, complete_service, decline_offer, dispatch_ticket, expire_offers, start_service
from models.entities import Ticket, User, Worker, WorkerSkill
from models.enums import Channel, EvaluationParty, Role, TicketStatus, WorkerStatus
from models.errors import ClaimConflict, DispatchRefused, InsufficientPoints, LeaseExpired, ValidationError
from models.evaluations import add_points, points_balance, record_evaluation
from models.tickets import TicketRequest, open_ticket
from tests.plugins.db import Database

NOW = dt.datetime(2026, 12, 4, 2, 30, tzinfo=dt.UTC)
LEASE = 60


def _agents(db: Database) -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(User.id).where(User.role == Role.AGENT).order_by(User.id)))


def _ticket(db: Database, code: str = "DRAIN-SEWER") -> int:
    with db.sessions.begin() as s:
        return open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code=code), actor="t", now=NOW).id


def test_claim_conflict_then_expiry_then_takeover(db: Database) -> None:
    first, second = _agents(db)[:2]
    ticket_id = _ticket(db)
    with db.sessions.begin() as s:
        lease = claim_ticket(s, ticket_id, first, lease_seconds=LEASE, now=NOW)
    with pytest.raises(ClaimConflict, match="another agent"), db.sessions.begin() as s:
        claim_ticket(s, ticket_id, second, lease_seconds=LEASE, now=NOW + dt.timedelta(seconds=30))
    later = NOW + dt.timedelta(seconds=LEASE + 1)
    with pytest.raises(LeaseExpired), db.sessions.begin() as s:
        renew_claim(s, lease, lease_seconds=LEASE, now=later)
    with db.sessions.begin() as s:
        taken = claim_ticket(s, ticket_id, second, lease_seconds=LEASE, now=later)
    with db.session() as s:
        ticket = s.get_one(Ticket, ticket_id)
        with pytest.raises(LeaseExpired, match="do not hold"):
            require_lease(ticket, first, lease.token, now=later)
        require_lease(ticket, second, taken.token, now=later)
        with pytest.raises(LeaseExpired, match="expired"):
            require_lease(ticket, second, taken.token, now=later + dt.timedelta(seconds=LEASE + 1))


def test_renew_and_release(db: Database) -> None:
    agent = _agents(db)[0]
    ticket_id = _ticket(db)
    with db.sessions.begin() as s:
        lease = claim_ticket(s, ticket_id, agent, lease_seconds=LEASE, now=NOW)
    with db.sessions.begin() as s:
        renewed = renew_claim(s, lease, lease_seconds=LEASE, now=NOW + dt.timedelta(seconds=50))
    assert renewed.expires_at == NOW + dt.timedelta(seconds=50 + LEASE)
    with db.sessions.begin() as s:
        release_claim(s, renewed, now=NOW + dt.timedelta(seconds=55))
    with db.session() as s:
        assert s.get_one(Ticket, ticket_id).claim_holder_id is None


def test_expired_leases_are_released_by_housekeeping(db: Database) -> None:
    agent = _agents(db)[0]
    ticket_id = _ticket(db)
    with db.sessions.begin() as s:
        claim_ticket(s, ticket_id, agent, lease_seconds=LEASE, now=NOW)
    with db.sessions.begin() as s:
        assert release_expired_claims(s, now=NOW + dt.timedelta(seconds=LEASE - 1)) == 0
    with db.sessions.begin() as s:
        assert release_expired_claims(s, now=NOW + dt.timedelta(seconds=LEASE + 1)) == 1


def test_simultaneous_claims_have_exactly_one_winner(db: Database) -> None:
    agents = _agents(db)
    ticket_ids = [_ticket(db) for _ in range(5)]
    barrier = threading.Barrier(len(agents))
    wins: list[tuple[int, int]] = []
    lock = threading.Lock()

    def contend(agent: int) -> None:
        barrier.wait()
        for ticket_id in ticket_ids:
            try:
                with db.sessions.begin() as s:
                    claim_ticket(s, ticket_id, agent, lease_seconds=LEASE)
                with lock:
                    wins.append((ticket_id, agent))
            except ClaimConflict:
                pass

    threads = [threading.Thread(target=contend, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(t for t, _ in wins) == sorted(ticket_ids)  # one winner per ticket, no double claim


def test_simultaneous_claim_next_hands_each_ticket_to_one_agent(db: Database) -> None:
    agents = _agents(db)
    ticket_ids = {_ticket(db) for _ in range(3 * len(agents))}
    barrier = threading.Barrier(len(agents))
    won: list[tuple[int, int]] = []
    lock = threading.Lock()

    def take_work(agent: int) -> None:
        barrier.wait()
        for _ in range(6):
            with db.sessions.begin() as s:
                lease = claim_next_ticket(s, agent, lease_seconds=LEASE)
            if lease is not None:
                with lock:
                    won.append((lease.ticket_id, agent))

    threads = [threading.Thread(target=take_work, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = [ticket for ticket, _ in won]
    assert len(taken) == len(set(taken)), "a ticket was handed to two agents"
    assert set(taken) <= ticket_ids and len(taken) > len(agents)
    with db.session() as s:
        holders = dict(s.execute(select(Ticket.id, Ticket.claim_holder_id).where(Ticket.id.in_(taken))).tuples().all())
    assert holders == dict(won)  # the final holder of each ticket is the agent that won it


def test_claim_next_prefers_emergencies(db: Database) -> None:
    agent = _agents(db)[0]
    _ticket(db, "APPL-TV")
    urgent = _ticket(db, "EMERG-GAS")
    with db.sessions.begin() as s:
        lease = claim_next_ticket(s, agent, lease_seconds=LEASE)
    assert lease is not None and lease.ticket_id == urgent


def _worker_for(db: Database, code: str, status: WorkerStatus) -> int:
    with db.sessions.begin() as s:
        sub = sub_service_by_code(s, code)
        worker = s.scalars(select(Worker).join(WorkerSkill).where(WorkerSkill.sub_service_id == sub.id)
                           .order_by(Worker.id)).first()
        assert worker is not None
        worker.status = status
        return worker.id


def test_dispatch_accept_serve_complete_moves_worker_colours(db: Database) -> None:
    ticket_id = _ticket(db)
    worker_id = _worker_for(db, "DRAIN-SEWER", WorkerStatus.IDLE)
    with db.sessions.begin() as s:
        offer = dispatch_ticket(s, s.get_one(Ticket, ticket_id), worker_id, actor="user:3", offer_seconds=120,
                                now=NOW)
    with db.sessions.begin() as s:
        accept_offer(s, offer.id, worker_id, now=NOW + dt.timedelta(seconds=10))
        assert s.get_one(Worker, worker_id).status == WorkerStatus.DISPATCHED
    with db.sessions.begin() as s:
        start_service(s, ticket_id, worker_id, now=NOW + dt.timedelta(minutes=20))
        assert s.get_one(Worker, worker_id).status == WorkerStatus.BUSY
    with db.sessions.begin() as s:
        complete_service(s, ticket_id, worker_id, report="疏通完毕", now=NOW + dt.timedelta(minutes=50))
        assert s.get_one(Worker, worker_id).status == WorkerStatus.IDLE
        assert s.get_one(Ticket, ticket_id).status == TicketStatus.COMPLETED


def _worker_without(db: Database, code: str) -> int:
    with db.sessions.begin() as s:
        skilled = select(WorkerSkill.worker_id).where(WorkerSkill.sub_service_id == sub_service_by_code(s, code).id)
        worker = s.scalars(select(Worker).where(Worker.id.not_in(skilled)).order_by(Worker.id)).first()
        assert worker is not None
        worker.status = WorkerStatus.IDLE
        return worker.id


def test_dispatch_refusals_change_nothing(db: Database) -> None:
    ticket_id = _ticket(db)
    off_duty = _worker_for(db, "DRAIN-SEWER", WorkerStatus.OFF_DUTY)
    unskilled = _worker_without(db, "DRAIN-SEWER")
    with pytest.raises(DispatchRefused, match="off duty"), db.sessions.begin() as s:
        dispatch_ticket(s, s.get_one(Ticket, ticket_id), off_duty, actor="user:3", offer_seconds=60)
    with pytest.raises(DispatchRefused, match="not registered"), db.sessions.begin() as s:
        dispatch_ticket(s, s.get_one(Ticket, ticket_id), unskilled, actor="user:3", offer_seconds=60)
    with db.session() as s:
        assert s.get_one(Ticket, ticket_id).status == TicketStatus.ACCEPTED
        assert s.get_one(Ticket, ticket_id).events[-1].kind == "created"


def test_declined_and_expired_offers_return_ticket_for_next_candidate(db: Database) -> None:
    ticket_id = _ticket(db)
    worker_id = _worker_for(db, "DRAIN-SEWER", WorkerStatus.IDLE)
    with db.sessions.begin() as s:
        offer = dispatch_ticket(s, s.get_one(Ticket, ticket_id), worker_id, actor="user:3", offer_seconds=60,
                                now=NOW)
    with pytest.raises(DispatchRefused, match="cannot be dispatched now"), db.sessions.begin() as s:
        dispatch_ticket(s, s.get_one(Ticket, ticket_id), worker_id, actor="user:3", offer_seconds=60, now=NOW)
    with db.sessions.begin() as s:
        decline_offer(s, offer.id, worker_id, reason="太远", now=NOW + dt.timedelta(seconds=5))
        assert s.get_one(Ticket, ticket_id).status == TicketStatus.ACCEPTED
    with db.sessions.begin() as s:
        offer2 = dispatch_ticket(s, s.get_one(Ticket, ticket_id), worker_id, actor="user:3", offer_seconds=60,
                                 now=NOW + dt.timedelta(seconds=10))
    with db.sessions.begin() as s:
        assert [o.id for o in expire_offers(s, now=NOW + dt.timedelta(seconds=71))] == [offer2.id]
        assert s.get_one(Ticket, ticket_id).status == TicketStatus.ACCEPTED
    with pytest.raises(DispatchRefused, match="already expired"), db.sessions.begin() as s:
        accept_offer(s, offer2.id, worker_id, now=NOW + dt.timedelta(seconds=72))


def test_evaluation_idempotent_and_validated_points_never_negative(db: Database) -> None:
    ticket_id = _ticket(db)
    worker_id = _worker_for(db, "DRAIN-SEWER", WorkerStatus.IDLE)
    with pytest.raises(ValidationError, match="only finished jobs"), db.sessions.begin() as s:
        record_evaluation(s, s.get_one(Ticket, ticket_id), party=EvaluationParty.RESIDENT, score=5,
                          actor="survey", source_key="survey:early")
    with db.sessions.begin() as s:
        offer = dispatch_ticket(s, s.get_one(Ticket, ticket_id), worker_id, actor="u", offer_seconds=60, now=NOW)
        accept_offer(s, offer.id, worker_id, now=NOW)
        start_service(s, ticket_id, worker_id, now=NOW)
        complete_service(s, ticket_id, worker_id, report="ok", now=NOW)
    for bad in (0, 6, True, "5"):
        with pytest.raises(ValidationError, match="1 to 5"), db.sessions.begin() as s:
            record_evaluation(s, s.get_one(Ticket, ticket_id), party=EvaluationParty.RESIDENT, score=bad,
                              actor="survey", source_key=f"survey:bad:{bad}")
    with db.sessions.begin() as s:
        first = record_evaluation(s, s.get_one(Ticket, ticket_id), party=EvaluationParty.RESIDENT, score=4,
                                  actor="survey", source_key="survey:call-1")
        again = record_evaluation(s, s.get_one(Ticket, ticket_id), party=EvaluationParty.RESIDENT, score=4,
                                  actor="survey", source_key="survey:call-1")
        assert first.id == again.id and first.worker_id == worker_id
    with db.sessions.begin() as s:
        worker = s.get_one(Worker, worker_id)
        add_points(s, worker, 10, reason="resident 4", ref="ev:1")
        add_points(s, worker, 10, reason="resident 4", ref="ev:1")  # idempotent
        assert points_balance(s, worker_id) == 10
    with pytest.raises(InsufficientPoints), db.sessions.begin() as s:
        add_points(s, s.get_one(Worker, worker_id), -11, reason="redeem", ref="redeem:1")
    with db.session() as s:
        assert points_balance(s, worker_id) == 10
