"""Dispatch (派单): offering a ticket to a worker, and the worker's answers.

The worker's status follows the job: idle (green) → dispatched (yellow) when an offer is
accepted... → busy (red) in service → idle again when done.  Off-duty (blue) workers and workers
without the sub-service's skill are never offered a job.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import exists, false, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.entities import DispatchOffer, Ticket, Worker, WorkerSkill
from models.enums import OfferState, TicketStatus, WorkerStatus
from models.errors import DispatchRefused, NotFound, ValidationError
from models.lifecycle import can_transition
from models.text import require_clean_text
from models.tickets import transition_ticket


def get_worker(session: Session, worker_id: int) -> Worker:
    """The worker with this id, or NotFound."""
    worker = session.get(Worker, worker_id)
    if worker is None:
        raise NotFound(f"worker {worker_id} does not exist")
    return worker


def worker_has_skill(session: Session, worker_id: int, sub_service_id: int) -> bool:
    """Whether the worker is registered for the sub-service."""
    stmt = select(WorkerSkill).where(WorkerSkill.worker_id == worker_id,
                                     WorkerSkill.sub_service_id == sub_service_id)
    return session.scalars(stmt).first() is not None


def pending_offer(session: Session, ticket_id: int) -> DispatchOffer | None:
    """The ticket's offer still waiting for an answer, if any."""
    stmt = select(DispatchOffer).where(DispatchOffer.ticket_id == ticket_id,
                                       DispatchOffer.state == OfferState.OFFERED)
    return session.scalars(stmt).first()


def dispatch_ticket(session: Session, ticket: Ticket, worker_id: int, *, actor: str, offer_seconds: int,
                    reasons: dict[str, Any] | None = None, now: dt.datetime | None = None) -> DispatchOffer:
    """Offer the ticket to a worker (ticket → dispatched).  Refused for off-duty or unskilled workers.

    The worker and their skill are read in one statement: dispatching holds SQLite's one write
    lock, so every round trip in it is paid by every agent waiting to write.
    """
    now = now or utcnow()
    skill = (exists().where(WorkerSkill.worker_id == Worker.id, WorkerSkill.sub_service_id == ticket.sub_service_id)
             if ticket.sub_service_id is not None else false())
    found = session.execute(select(Worker, skill).where(Worker.id == worker_id)).first()
    if found is None:
        raise NotFound(f"worker {worker_id} does not exist")
    worker, skilled = found
    if not can_transition(ticket.status, TicketStatus.DISPATCHED):
        raise DispatchRefused(f"ticket {ticket.number} is {ticket.status} and cannot be dispatched now")
    if ticket.sub_service_id is None:
        raise DispatchRefused(f"ticket {ticket.number} has no sub-service yet; choose one before dispatching")
    if worker.status == WorkerStatus.OFF_DUTY:
        raise DispatchRefused(f"worker {worker.name} is off duty")
    if not skilled:
        raise DispatchRefused(f"worker {worker.name} is not registered for this service")
    if pending_offer(session, ticket.id) is not None:
        raise DispatchRefused(f"ticket {ticket.number} already has an offer waiting for an answer")
    offer = DispatchOffer(ticket_id=ticket.id, worker_id=worker.id, offered_by=actor, offered_at=now,
                          expires_at=now + dt.timedelta(seconds=offer_seconds), reasons=reasons or {})
    session.add(offer)
    session.flush()
    ticket.updated_at = now  # flushed with the status change: one UPDATE of the ticket
    transition_ticket(session, ticket, TicketStatus.DISPATCHED, actor=actor, now=now,
                      detail={"worker_id": worker.id, "offer_id": offer.id})
    return offer


def _open_offer_for(session: Session, offer_id: int, worker_id: int, now: dt.datetime) -> DispatchOffer:
    offer = session.get(DispatchOffer, offer_id)
    if offer is None or offer.worker_id != worker_id:
        raise NotFound(f"offer {offer_id} does not exist")
    if offer.state != OfferState.OFFERED:
        raise DispatchRefused(f"offer {offer_id} is already {offer.state}")
    if offer.expires_at <= now:
        raise DispatchRefused(f"offer {offer_id} expired at {offer.expires_at:%H:%M:%S} UTC")
    return offer


def accept_offer(session: Session, offer_id: int, worker_id: int, *, now: dt.datetime | None = None) -> Ticket:
    """The worker takes the job (接单): ticket → provider_accepted, worker → dispatched (yellow)."""
    now = now or utcnow()
    offer = _open_offer_for(session, offer_id, worker_id, now)
    ticket = session.get_one(Ticket, offer.ticket_id)
    offer.state, offer.responded_at = OfferState.ACCEPTED, now
    ticket.worker_id = worker_id
    transition_ticket(session, ticket, TicketStatus.PROVIDER_ACCEPTED, actor=f"worker:{worker_id}", now=now,
                      detail={"offer_id": offer.id})
    get_worker(session, worker_id).status = WorkerStatus.DISPATCHED
    session.flush()
    return ticket


def decline_offer(session: Session, offer_id: int, worker_id: int, *, reason: str | None = None,
                  now: dt.datetime | None = None) -> Ticket:
    """The worker declines: the ticket returns to accepted for the next candidate."""
    now = now or utcnow()
    offer = _open_offer_for(session, offer_id, worker_id, now)
    ticket = session.get_one(Ticket, offer.ticket_id)
    offer.state, offer.responded_at = OfferState.DECLINED, now
    transition_ticket(session, ticket, TicketStatus.ACCEPTED, actor=f"worker:{worker_id}", now=now,
                      note=require_clean_text(reason, "reason", 200), detail={"offer_id": offer.id,
                                                                             "declined": True})
    return ticket


def expire_offers(session: Session, *, now: dt.datetime | None = None) -> list[DispatchOffer]:
    """Mark unanswered offers past their time as expired and return their tickets to accepted."""
    now = now or utcnow()
    stmt = select(DispatchOffer).where(DispatchOffer.state == OfferState.OFFERED, DispatchOffer.expires_at <= now)
    expired = list(session.scalars(stmt))
    for offer in expired:
        offer.state, offer.responded_at = OfferState.EXPIRED, now
        ticket = session.get_one(Ticket, offer.ticket_id)
        if ticket.status == TicketStatus.DISPATCHED:
            transition_ticket(session, ticket, TicketStatus.ACCEPTED, actor="scheduler", now=now,
                              detail={"offer_id": offer.id, "expired": True})
    return expired


def _job_of(session: Session, ticket_id: int, worker_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or ticket.worker_id != worker_id:
        raise NotFound(f"ticket {ticket_id} is not one of your jobs")
    return ticket


def start_service(session: Session, ticket_id: int, worker_id: int, *, now: dt.datetime | None = None) -> Ticket:
    """The worker is on site (服务中): ticket → in_service, worker → busy (red)."""
    now = now or utcnow()
    ticket = _job_of(session, ticket_id, worker_id)
    transition_ticket(session, ticket, TicketStatus.IN_SERVICE, actor=f"worker:{worker_id}", now=now)
    get_worker(session, worker_id).status = WorkerStatus.BUSY
    session.flush()
    return ticket


def complete_service(session: Session, ticket_id: int, worker_id: int, *, report: str,
                     now: dt.datetime | None = None) -> Ticket:
    """The worker reports the job done (完工) with a short report; the worker is idle (green) again."""
    now = now or utcnow()
    ticket = _job_of(session, ticket_id, worker_id)
    clean = require_clean_text(report, "completion report", 1000, multiline=True, required=True)
    transition_ticket(session, ticket, TicketStatus.COMPLETED, actor=f"worker:{worker_id}", now=now, note=clean)
    get_worker(session, worker_id).status = WorkerStatus.IDLE
    session.flush()
    return ticket


def set_worker_status(session: Session, worker: Worker, status: WorkerStatus, *,
                      now: dt.datetime | None = None) -> None:
    """A worker goes on or off duty (only between jobs: busy/dispatched follow the job)."""
    status = WorkerStatus(status)
    if status not in (WorkerStatus.IDLE, WorkerStatus.OFF_DUTY):
        raise DispatchRefused("only idle or off duty can be chosen; busy and dispatched follow the job")
    if worker.status in (WorkerStatus.BUSY, WorkerStatus.DISPATCHED):
        raise DispatchRefused(f"worker {worker.name} has a job in hand ({worker.status})")
    worker.status = status
    session.flush()


def set_worker_position(session: Session, worker: Worker, lat: float, lon: float, *,
                        now: dt.datetime | None = None) -> None:
    """Record the worker's reported position."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValidationError(f"position: ({lat}, {lon}) is not a position on Earth")
    worker.lat, worker.lon, worker.position_at = float(lat), float(lon), now or utcnow()
    session.flush()


