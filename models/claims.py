"""Claims: one holder per ticket at a time, as a lease that expires (DESIGN §6, promise 3).

A claim is a single conditional ``UPDATE`` (free, expired, or already ours), so exactly one of
several concurrent claimants wins on SQLite (one writer) and on PostgreSQL (the row lock makes
the loser re-check the condition).  "Claim the next ticket" uses ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL so agents never queue behind each other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from models.base import is_postgresql, utcnow
from models.entities import Ticket, TicketEvent
from models.enums import EventKind, Priority, TicketStatus
from models.errors import ClaimConflict, LeaseExpired, NotFound
from models.lifecycle import OPEN_STATUSES
from models.tickets import actor_user, append_event, get_ticket


@dataclass(frozen=True)
class Lease:
    """Proof of a live claim: present ``token`` with every action on the ticket."""

    ticket_id: int
    holder_id: int
    token: str
    expires_at: dt.datetime


def _claimable_by(user_id: int, now: dt.datetime):  # type: ignore[no-untyped-def]
    return or_(Ticket.claim_holder_id.is_(None), Ticket.claim_expires_at < now, Ticket.claim_holder_id == user_id)


def claim_ticket(session: Session, ticket_id: int, user_id: int, *, lease_seconds: int,
                 now: dt.datetime | None = None) -> Lease:
    """Claim the ticket for ``user_id``; refused with ClaimConflict while another live lease holds it.

    Two statements when it wins: the conditional ``UPDATE`` (which also marks the ticket changed)
    and the timeline entry, so a claim holds SQLite's one write lock as briefly as it can.  A
    copy of the ticket already loaded in ``session`` is brought up to date without reading it.
    """
    now = now or utcnow()
    token = str(uuid.uuid4())
    expires = now + dt.timedelta(seconds=lease_seconds)
    claimed = {"claim_holder_id": user_id, "claim_token": token, "claim_expires_at": expires, "updated_at": now}
    won = session.execute(
        update(Ticket).where(Ticket.id == ticket_id, _claimable_by(user_id, now)).values(**claimed)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        session.refresh(ticket)
        raise ClaimConflict(f"ticket {ticket.number} is being handled by another agent "
                            f"until {ticket.claim_expires_at:%H:%M:%S} UTC")
    session.execute(insert(TicketEvent).values(ticket_id=ticket_id, at=now, kind=EventKind.CLAIM,
                                               actor=actor_user(user_id), detail={"expires_at": expires.isoformat()}))
    loaded = session.identity_map.get(identity_key(Ticket, ticket_id))
    if loaded is not None:
        for name, value in claimed.items():
            set_committed_value(loaded, name, value)
    return Lease(ticket_id, user_id, token, expires)


def require_lease(ticket: Ticket, user_id: int, token: str | None, *, now: dt.datetime | None = None) -> None:
    """Refuse a late action: the user must hold a live lease with this token."""
    now = now or utcnow()
    if ticket.claim_holder_id != user_id or ticket.claim_token != token or token is None:
        raise LeaseExpired(f"ticket {ticket.number}: you do not hold its claim (claim it again)")
    if ticket.claim_expires_at is None or ticket.claim_expires_at <= now:
        raise LeaseExpired(f"ticket {ticket.number}: your claim expired at "
                           f"{ticket.claim_expires_at:%H:%M:%S} UTC; claim it again")


def renew_claim(session: Session, lease: Lease, *, lease_seconds: int, now: dt.datetime | None = None) -> Lease:
    """Extend a live lease; an expired or lost lease is refused (LeaseExpired)."""
    now = now or utcnow()
    expires = now + dt.timedelta(seconds=lease_seconds)
    renewed = session.execute(
        update(Ticket).where(Ticket.id == lease.ticket_id, Ticket.claim_holder_id == lease.holder_id,
                             Ticket.claim_token == lease.token, Ticket.claim_expires_at > now)
        .values(claim_expires_at=expires).execution_options(synchronize_session=False)
    ).rowcount
    if renewed != 1:
        raise LeaseExpired(f"ticket {lease.ticket_id}: the claim has expired or was taken; claim it again")
    return Lease(lease.ticket_id, lease.holder_id, lease.token, expires)


def release_claim(session: Session, lease: Lease, *, now: dt.datetime | None = None) -> None:
    """Give the ticket back; releasing a lease that already expired is a no-op."""
    now = now or utcnow()
    released = session.execute(
        update(Ticket).where(Ticket.id == lease.ticket_id, Ticket.claim_holder_id == lease.holder_id,
                             Ticket.claim_token == lease.token)
        .values(claim_holder_id=None, claim_token=None, claim_expires_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if released:
        ticket = get_ticket(session, lease.ticket_id)
        session.refresh(ticket)
        append_event(session, ticket, EventKind.RELEASE, actor_user(lease.holder_id), now=now)


def release_expired_claims(session: Session, *, now: dt.datetime | None = None) -> int:
    """Clear every lease past its expiry (the scheduler's housekeeping); returns how many."""
    now = now or utcnow()
    result = session.execute(
        update(Ticket).where(Ticket.claim_expires_at.is_not(None), Ticket.claim_expires_at <= now)
        .values(claim_holder_id=None, claim_token=None, claim_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


_PRIORITY_ORDER = [Priority.EMERGENCY, Priority.URGENT, Priority.HIGH, Priority.NORMAL]


def claim_next_ticket(session: Session, user_id: int, *, lease_seconds: int, station_ids: list[int] | None = None,
                      now: dt.datetime | None = None) -> Lease | None:
    """Claim the most urgent, oldest unclaimed open ticket (SKIP LOCKED on PostgreSQL); None if none."""
    now = now or utcnow()
    for _attempt in range(5):
        stmt = select(Ticket.id).where(
            Ticket.status.in_(OPEN_STATUSES - {TicketStatus.DISPATCHED, TicketStatus.PROVIDER_ACCEPTED,
                                               TicketStatus.IN_SERVICE}),
            or_(Ticket.claim_holder_id.is_(None), and_(Ticket.claim_expires_at < now)),
        )
        if station_ids is not None:
            stmt = stmt.where(Ticket.station_id.in_(station_ids))
        for priority in _PRIORITY_ORDER:
            candidate_stmt = stmt.where(Ticket.priority == priority).order_by(Ticket.created_at).limit(1)
            if is_postgresql(session):
                candidate_stmt = candidate_stmt.with_for_update(skip_locked=True)
            candidate = session.scalars(candidate_stmt).first()
            if candidate is not None:
                break
        else:
            return None
        try:
            return claim_ticket(session, candidate, user_id, lease_seconds=lease_seconds, now=now)
        except ClaimConflict:
            continue
    return None
