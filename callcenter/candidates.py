"""Reading dispatch candidates from the database and offering a job to the next one."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, Subquery, func, select
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


def _jobs_in_hand() -> tuple[Subquery, Subquery]:
    """Per worker: accepted or in-service jobs, and unanswered offers (small sets: only live work)."""
    jobs = (select(Ticket.worker_id.label("worker_id"), func.count().label("n"))
            .where(Ticket.status.in_(JOB_STATUSES), Ticket.worker_id.is_not(None))
            .group_by(Ticket.worker_id).subquery("jobs"))
    offers = (select(DispatchOffer.worker_id.label("worker_id"), func.count().label("n"))
              .where(DispatchOffer.state == OfferState.OFFERED)
              .group_by(DispatchOffer.worker_id).subquery("offers"))
    return jobs, offers


def candidate_facts(session: Session, sub_service_id: int, scope: frozenset[int] | None = None, *,
                    not_tried_for: int | None = None, worker_id: int | None = None) -> list[CandidateFacts]:
    """On-duty workers of active companies with the skill, optionally within a station scope.

    One statement (a database round trip is a large part of a ranking's cost, on PostgreSQL
    most of it): the skill, the company, each worker's load, and, with ``not_tried_for``, without
    the workers who declined that ticket or let its offer expire; ``worker_id`` reads just one.
    """
    jobs, offers = _jobs_in_hand()
    stmt = (select(Worker.id, Worker.name, ProviderCompany.name, ProviderCompany.station_id, Worker.status,
                   Worker.lat, Worker.lon, Worker.stars, Worker.points,
                   func.coalesce(jobs.c.n, 0) + func.coalesce(offers.c.n, 0))
            .select_from(WorkerSkill)
            .join(Worker, Worker.id == WorkerSkill.worker_id)
            .join(ProviderCompany, ProviderCompany.id == Worker.company_id)
            .outerjoin(jobs, jobs.c.worker_id == Worker.id)
            .outerjoin(offers, offers.c.worker_id == Worker.id)
            .where(WorkerSkill.sub_service_id == sub_service_id, ProviderCompany.active.is_(True),
                   Worker.status != WorkerStatus.OFF_DUTY))
    if scope is not None:
        stmt = stmt.where(ProviderCompany.station_id.in_(scope))
    if worker_id is not None:
        stmt = stmt.where(Worker.id == worker_id)
    if not_tried_for is not None:
        stmt = stmt.where(~Worker.id.in_(tried_stmt(not_tried_for)))
    return [CandidateFacts(worker_id=r[0], name=r[1], company=r[2], company_station_id=r[3],
                           status=WorkerStatus(r[4]), lat=r[5], lon=r[6], stars=r[7], points=r[8],
                           jobs_in_hand=int(r[9])) for r in session.execute(stmt)]


def tried_stmt(ticket_id: int) -> Select[tuple[int]]:
    """The workers who declined an offer of this ticket or let it expire."""
    return select(DispatchOffer.worker_id).where(
        DispatchOffer.ticket_id == ticket_id, DispatchOffer.state.in_((OfferState.DECLINED, OfferState.EXPIRED)))


def already_tried(session: Session, ticket_id: int) -> frozenset[int]:
    """Workers who declined or let an offer of this ticket expire (not offered again automatically)."""
    return frozenset(session.scalars(tried_stmt(ticket_id)))


def ranked_candidates(session: Session, ticket: Ticket, tree: StationTree,
                      scope: frozenset[int] | None = None, limit: int | None = 20, *,
                      worker_id: int | None = None) -> list[Ranked]:
    """The ranked candidate list for a ticket (empty without a sub-service).

    With ``worker_id``, just that worker's entry (empty when they are not a candidate): what a
    dispatch to them needs, without ranking everyone else inside the write transaction.
    """
    if ticket.sub_service_id is None:
        return []
    facts = candidate_facts(session, ticket.sub_service_id, scope, not_tried_for=ticket.id, worker_id=worker_id)
    return rank(job_site(ticket, tree), facts, limit=limit)


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
