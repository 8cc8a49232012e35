"""The scheduler's offer job: an unanswered dispatch offer expires and the job goes to the next candidate."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from callcenter.scheduler.jobs import JobContext, expire_dispatch_offers
from models.dispatch import dispatch_ticket
from models.entities import DispatchOffer, SubService, Ticket, Worker, WorkerSkill
from models.enums import Channel, OfferState, TicketStatus, WorkerStatus
from models.tickets import TicketRequest, open_ticket
from tests.plugins.db import Database

NOW = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)


def test_an_expired_offer_is_offered_to_the_next_candidate(db: Database) -> None:
    with db.sessions.begin() as s:
        sub = s.scalars(select(SubService).where(SubService.code == "DRAIN-SEWER")).one()
        workers = s.scalars(select(Worker).join(WorkerSkill, WorkerSkill.worker_id == Worker.id)
                            .where(WorkerSkill.sub_service_id == sub.id).order_by(Worker.id)).all()
        assert len(workers) >= 2
        for worker in workers:
            worker.status, worker.lat, worker.lon = WorkerStatus.IDLE, 30.70, 121.02
        ticket = open_ticket(s, TicketRequest(channel=Channel.PHONE, sub_service_code="DRAIN-SEWER", lat=30.70,
                                              lon=121.02), actor="t", now=NOW)
        first = workers[0].id
        dispatch_ticket(s, ticket, first, actor="user:1", offer_seconds=60, now=NOW)
        ticket_id = ticket.id
    clock = [NOW + dt.timedelta(seconds=30)]
    ctx = JobContext(sessions=db.sessions, holder="t", clock=lambda: clock[0], offer_seconds=90)
    assert expire_dispatch_offers(ctx) == 0  # still within its answer time
    clock[0] = NOW + dt.timedelta(seconds=61)
    assert expire_dispatch_offers(ctx) == 1
    assert expire_dispatch_offers(ctx) == 0  # run again: nothing more to do
    with db.session() as s:
        offers = s.scalars(select(DispatchOffer).where(DispatchOffer.ticket_id == ticket_id)
                           .order_by(DispatchOffer.id)).all()
        assert [o.state for o in offers] == [OfferState.EXPIRED, OfferState.OFFERED]
        assert offers[1].worker_id != first
        assert offers[1].expires_at == clock[0] + dt.timedelta(seconds=90)
        assert s.get_one(Ticket, ticket_id).status == TicketStatus.DISPATCHED
