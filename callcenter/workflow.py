"""Agent-side ticket work on top of the domain operations: scoped lookups, lease checks, lists."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, case, or_, select
from sqlalchemy.orm import Session, joinedload

from callcenter.security import ConsoleUser
from models.base import utcnow
from models.claims import Lease, claim_ticket, require_lease
from models.entities import Call, DispatchOffer, Resident, ServiceCategory, SubService, Ticket, Worker
from models.enums import OfferState, Priority, TicketStatus, WorkerStatus
from models.errors import NotFound, TransitionRefused
from models.lifecycle import allowed_targets
from models.tickets import get_ticket, transition_ticket

WAITING_STATUSES = (TicketStatus.ACCEPTED, TicketStatus.REOPENED, TicketStatus.ESCALATED)
ACTIVE_STATUSES = (TicketStatus.DISPATCHED, TicketStatus.PROVIDER_ACCEPTED, TicketStatus.IN_SERVICE)
# Reached through dispatch and the provider page, never by a plain button.
FLOW_DRIVEN = frozenset({TicketStatus.DISPATCHED, TicketStatus.PROVIDER_ACCEPTED, TicketStatus.IN_SERVICE})
# The lists show the service's and category's names: their keyword lists (JSON, parsed per row) are
# left unread, which was a third of a list's rendering cost.
LIST_OPTIONS = (
    joinedload(Ticket.sub_service).load_only(SubService.code, SubService.name_zh, SubService.name_en),
    joinedload(Ticket.category).load_only(ServiceCategory.code, ServiceCategory.name_zh, ServiceCategory.name_en),
)
PRIORITY_RANK = case({p.value: p.rank for p in Priority}, value=Ticket.priority, else_=0)


def scoped(stmt: Select[tuple[Ticket]], user: ConsoleUser) -> Select[tuple[Ticket]]:
    """Limit a ticket query to the user's stations (city level: everything)."""
    if user.scope is None:
        return stmt
    return stmt.where(Ticket.station_id.in_(user.scope))


def visible_ticket(session: Session, ticket_id: int, user: ConsoleUser, *, for_update: bool = False) -> Ticket:
    """The ticket if the user's station may see it; otherwise NotFound (its existence is not revealed)."""
    ticket = get_ticket(session, ticket_id, for_update=for_update)
    if user.scope is not None and ticket.station_id not in user.scope:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def writable_ticket(reader: Session, writer: Session, seen: Ticket, user: ConsoleUser) -> Ticket:
    """The ticket in the writing session, read before the write (:func:`callcenter.db.read_db`).

    Where reads and writes share the request's session (PostgreSQL) it is ``seen`` itself, already
    row-locked; on SQLite it is read again inside the write transaction, so checks made on it
    hold when the write commits.
    """
    if reader is writer:
        return seen
    return visible_ticket(writer, seen.id, user, for_update=True)


def waiting_query(user: ConsoleUser, now: dt.datetime, limit: int = 50) -> Select[tuple[Ticket]]:
    """New and returned tickets nobody holds a live claim on, most urgent and oldest first."""
    stmt = (select(Ticket).where(Ticket.status.in_(WAITING_STATUSES),
                                 or_(Ticket.claim_holder_id.is_(None), Ticket.claim_expires_at <= now))
            .order_by(PRIORITY_RANK.desc(), Ticket.created_at, Ticket.id).limit(limit))
    return scoped(stmt, user)


def waiting_tickets(session: Session, user: ConsoleUser, *, now: dt.datetime | None = None,
                    limit: int = 50) -> list[Ticket]:
    """New and returned tickets nobody holds a live claim on, most urgent and oldest first."""
    return list(session.scalars(waiting_query(user, now or utcnow(), limit).options(*LIST_OPTIONS)))


def my_query(user: ConsoleUser, now: dt.datetime) -> Select[tuple[Ticket]]:
    """The tickets the user holds a live claim on, the soonest to expire first."""
    return (select(Ticket).where(Ticket.claim_holder_id == user.id, Ticket.claim_expires_at > now)
            .order_by(Ticket.claim_expires_at, Ticket.id))


def my_tickets(session: Session, user: ConsoleUser, *, now: dt.datetime | None = None) -> list[Ticket]:
    """The tickets the user holds a live claim on."""
    return list(session.scalars(my_query(user, now or utcnow()).options(*LIST_OPTIONS)))


def active_query(user: ConsoleUser, limit: int = 30) -> Select[tuple[Ticket]]:
    """Tickets out with providers (offered, accepted, in service), newest change first."""
    stmt = (select(Ticket).where(Ticket.status.in_(ACTIVE_STATUSES))
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit))
    return scoped(stmt, user)


def active_tickets(session: Session, user: ConsoleUser, limit: int = 30) -> list[Ticket]:
    """Tickets out with providers (offered, accepted, in service), newest change first."""
    return list(session.scalars(active_query(user, limit).options(*LIST_OPTIONS)))


def live_lease(ticket: Ticket, user: ConsoleUser, now: dt.datetime | None = None) -> Lease | None:
    """The user's live lease on the ticket, if they hold one."""
    now = now or utcnow()
    if (ticket.claim_holder_id == user.id and ticket.claim_token and ticket.claim_expires_at
            and ticket.claim_expires_at > now):
        return Lease(ticket.id, user.id, ticket.claim_token, ticket.claim_expires_at)
    return None


def claim_for(session: Session, ticket: Ticket, user: ConsoleUser, lease_seconds: int) -> Lease:
    """Claim the ticket; a user who already holds it keeps their lease (another tab stays valid)."""
    return live_lease(ticket, user) or claim_ticket(session, ticket.id, user.id, lease_seconds=lease_seconds)


def check_lease(ticket: Ticket, user: ConsoleUser, token: str | None) -> None:
    """Refuse a change without the user's live lease (LeaseExpired)."""
    require_lease(ticket, user.id, token)


def manual_targets(ticket: Ticket) -> list[TicketStatus]:
    """The lifecycle buttons an agent sees for the ticket's status."""
    order = list(TicketStatus)
    return sorted(allowed_targets(TicketStatus(ticket.status)) - FLOW_DRIVEN, key=order.index)


def agent_transition(session: Session, ticket: Ticket, target: TicketStatus, user: ConsoleUser,
                     note: str | None = None) -> None:
    """Move the ticket by hand; a pending offer is withdrawn and a job taken back frees its worker."""
    target = TicketStatus(target)
    if target in FLOW_DRIVEN:
        raise TransitionRefused(f"the {target} step is taken through dispatch or by the provider")
    now = utcnow()
    previous = TicketStatus(ticket.status)
    transition_ticket(session, ticket, target, actor=user.actor, note=note, now=now)
    for offer in session.scalars(select(DispatchOffer).where(DispatchOffer.ticket_id == ticket.id,
                                                             DispatchOffer.state == OfferState.OFFERED)):
        offer.state, offer.responded_at = OfferState.WITHDRAWN, now
    if previous in (TicketStatus.PROVIDER_ACCEPTED, TicketStatus.IN_SERVICE) and ticket.worker_id is not None \
            and target in (TicketStatus.ACCEPTED, TicketStatus.CANCELLED):
        worker = session.get(Worker, ticket.worker_id)
        if worker is not None and worker.status in (WorkerStatus.DISPATCHED, WorkerStatus.BUSY):
            worker.status = WorkerStatus.IDLE
        ticket.worker_id = None
    session.flush()


def origin_call(session: Session, ticket: Ticket) -> Call | None:
    """The call that opened the ticket, if it came by phone."""
    return session.get(Call, ticket.origin_call_id) if ticket.origin_call_id else None


def caller_history(session: Session, ticket: Ticket, limit: int = 10) -> list[Ticket]:
    """The caller's earlier tickets (same resident or same number), newest first."""
    conditions = []
    if ticket.resident_id is not None:
        conditions.append(Ticket.resident_id == ticket.resident_id)
    if ticket.contact_number:
        conditions.append(Ticket.contact_number == ticket.contact_number)
    if not conditions:
        return []
    stmt = (select(Ticket).where(or_(*conditions), Ticket.id != ticket.id)
            .order_by(Ticket.created_at.desc()).limit(limit).options(*LIST_OPTIONS))
    return list(session.scalars(stmt))


def resident_of(session: Session, ticket: Ticket) -> Resident | None:
    """The registered resident of the ticket, if known."""
    return session.get(Resident, ticket.resident_id) if ticket.resident_id else None


def offers_of(session: Session, ticket: Ticket) -> list[DispatchOffer]:
    """The ticket's dispatch offers, newest first."""
    stmt = select(DispatchOffer).where(DispatchOffer.ticket_id == ticket.id).order_by(DispatchOffer.id.desc())
    return list(session.scalars(stmt))

