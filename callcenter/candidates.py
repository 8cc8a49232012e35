"""Reading dispatch candidates from the database and offering a job to the next one."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.ranking import CandidateFacts, JobSite, Ranked, rank
from callcenter.scope import StationTree
from models.base import utcnow
from models.dispatch import dispatch_ticket, expire_offers, pending_offer
from models.entities import DispatchOffer, ProviderCompany, Ticket, Worker, WorkerSkill
from models.enums import OfferState, StationLevel, TicketStatus, WorkerStatus

JOB_STATUSES = (TicketStatus.PROVIDER_ACCEPTED, TicketStatus.IN_SERVICE)


def job_site(ticket: Ticket, tree: StationTree) -> JobSite:
    """The job's position (the ticket's, else its station's) and its town/community chain."""
    lat, lon = ticket.lat, ticket.lon
    station = tree.by_id.get(ticket.station_id) if ticket.station_id is not None else None
    if (lat is None or lon is None) and station is not None:
        lat, lon = station.lat, station.lon
    local = frozenset(s for s in tree.ancestors_and_self(ticket.station_id)
                      if tree.by_id[s].level != StationLevel.CITY)
    return JobSite(lat, lon, local)


def _loads(session: Session, worker_ids: list[int]) -> dict[int, int]:
    if not worker_ids:
        return {}
    loads: dict[int, int] = {}
    jobs = (select(Ticket.worker_id, func.count()).where(Ticket.worker_id.in_(worker_ids),
                                                           Ticket.status.in_(JOB_STATUSES))
            .group_by(Ticket.worker_id))
    offers = (select(DispatchOffer.worker_id, func.count())
              .where(DispatchOffer.worker_id.in_(worker_ids), DispatchOffer.state == OfferState.OFFERED)
              .group_by(DispatchOffer.worker_id))
    for statement in (jobs, offers):
        for worker_id, count in session.execute(statement):
            loads[worker_id] = loads.get(worker_id, 0) + int(count)
    return loads


def candidate_facts(session: Session, sub_service_id: int,
                    scope: frozenset[int] | None = None) -> list[CandidateFacts]:
    """On-duty workers of active companies with the skill, optionally within a station scope."""
    stmt = (select(Worker.id, Worker.name, ProviderCompany.name, ProviderCompany.station_id, Worker.status,
                   Worker.lat, Worker.lon, Worker.stars, Worker.points)
            .join(WorkerSkill, WorkerSkill.worker_id == Worker.id)
            .join(ProviderCompany, ProviderCompany.id == Worker.company_id)
            .where(WorkerSkill.sub_service_id == sub_service_id, ProviderCompany.active.is_(True),
                   Worker.status != WorkerStatus.OFF_DUTY))
    if scope is not None:
        stmt = stmt.where(ProviderCompany.station_id.in_(scope))
    rows = session.execute(stmt).all()
    loads = _loads(session, [row[0] for row in rows])
    return [CandidateFacts(worker_id=r[0], name=r[1], company=r[2], company_station_id=r[3],
                           status=WorkerStatus(r[4]), lat=r[5], lon=r[6], stars=r[7], points=r[8],
                           jobs_in_hand=loads.get(r[0], 0)) for r in rows]


def already_tried(session: Session, ticket_id: int) -> frozenset[int]:
    """Workers who declined or let an offer of this ticket expire (not offered again automatically)."""
    stmt = select(DispatchOffer.worker_id).where(
        DispatchOffer.ticket_id == ticket_id, DispatchOffer.state.in_((OfferState.DECLINED, OfferState.EXPIRED)))
    return frozenset(session.scalars(stmt))


def ranked_candidates(session: Session, ticket: Ticket, tree: StationTree,
                      scope: frozenset[int] | None = None, limit: int | None = 20) -> list[Ranked]:
    """The ranked candidate list for a ticket (empty without a sub-service)."""
    if ticket.sub_service_id is None:
        return []
    facts = candidate_facts(session, ticket.sub_service_id, scope)
    return rank(job_site(ticket, tree), facts, exclude=already_tried(session, ticket.id), limit=limit)


def offer_next(session: Session, ticket: Ticket, tree: StationTree, *, offer_seconds: int,
               actor: str = "scheduler", now: dt.datetime | None = None) -> DispatchOffer | None:
    """Offer the job to the best candidate not yet tried; None when nobody is left."""
    if ticket.status != TicketStatus.ACCEPTED or pending_offer(session, ticket.id) is not None:
        return None
    for candidate in ranked_candidates(session, ticket, tree, limit=5):
        if candidate.facts.status != WorkerStatus.IDLE:
            continue
        return dispatch_ticket(session, ticket, candidate.worker_id, actor=actor, offer_seconds=offer_seconds,
                               reasons={**candidate.as_offer_reasons(), "automatic": True}, now=now)
    return None


def advance_offers(session: Session, tree: StationTree, *, offer_seconds: int,
                   now: dt.datetime | None = None) -> list[int]:
    """Expire unanswered offers and offer each of those tickets to the next candidate.

    The periodic job of dispatch (``hotline web`` runs it every few seconds; the scheduler may
    run it instead).  Returns the ids of the tickets offered again.
    """
    now = now or utcnow()
    reoffered: list[int] = []
    for offer in expire_offers(session, now=now):
        ticket = session.get_one(Ticket, offer.ticket_id)
        if offer_next(session, ticket, tree, offer_seconds=offer_seconds, now=now) is not None:
            reoffered.append(ticket.id)
    return reoffered
