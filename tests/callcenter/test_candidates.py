"""Candidates read in one statement, and claims and dispatches that hold SQLite's write lock briefly.

The candidate list is the same as the ranking rules say (skill, duty, active company, station,
load, earlier refusals); what changed is how it is read, so these tests pin the facts against
rows written by hand, on SQLite and PostgreSQL.  The write transactions of a claim and a dispatch
are counted statement by statement on SQLite, where every agent waiting to write pays for them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update

from callcenter.candidates import candidate_facts, ranked_candidates
from callcenter.scope import StationTree
from callcenter.security import ConsoleUser
from callcenter.workflow import check_lease, writable_ticket
from models.base import utcnow
from models.claims import claim_ticket, release_claim
from models.entities import (
    DispatchOffer,
    ProviderCompany,
    Station,
    SubService,
    Ticket,
    TicketEvent,
    Worker,
    WorkerSkill,
)
from models.enums import EventKind, OfferState, Role, TicketStatus, WorkerStatus
from models.errors import ClaimConflict, LeaseExpired
from models.readers import read_sessions_for
from tests.callcenter.conftest import login, make_app, ticket_maker, user_id
from tests.plugins.db import Database


def _skilled(db: Database, count: int = 4) -> tuple[int, list[int]]:
    """A sub-service and ``count`` of its skilled workers (idle, companies active)."""
    with db.sessions.begin() as session:
        sub_id, = session.execute(select(WorkerSkill.sub_service_id).group_by(WorkerSkill.sub_service_id)
                                  .order_by(WorkerSkill.sub_service_id)).first()  # type: ignore[misc]
        workers = list(session.scalars(select(WorkerSkill.worker_id).where(WorkerSkill.sub_service_id == sub_id)
                                       .order_by(WorkerSkill.worker_id)))[:count]
        session.execute(update(Worker).where(Worker.id.in_(workers)).values(status=WorkerStatus.IDLE))
        companies = select(Worker.company_id).where(Worker.id.in_(workers)).scalar_subquery()
        session.execute(update(ProviderCompany).where(ProviderCompany.id.in_(companies)).values(active=True))
        return sub_id, workers


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_candidate_facts_count_load_and_leave_out_off_duty_and_tried_workers(db: Database) -> None:
    sub_id, (loaded, tried, off_duty, other) = _skilled(db)
    with db.sessions.begin() as session:
        code = session.get_one(SubService, sub_id).code
    make = ticket_maker(db)
    job, offered, declined_for = make("DH-JSHT", code), make("DH-JSHT", code), make("DH-JSHT", code)
    now = utcnow()
    with db.sessions.begin() as session:
        session.execute(update(Ticket).where(Ticket.id == job).values(status=TicketStatus.IN_SERVICE, worker_id=loaded))
        session.add_all([
            DispatchOffer(ticket_id=offered, worker_id=loaded, offered_by="t", offered_at=now,
                          expires_at=now + dt.timedelta(minutes=2)),
            DispatchOffer(ticket_id=declined_for, worker_id=tried, offered_by="t", offered_at=now,
                          expires_at=now, state=OfferState.DECLINED),
        ])
        session.execute(update(Worker).where(Worker.id == off_duty).values(status=WorkerStatus.OFF_DUTY))
    with db.sessions() as session, _statements(db.engine) as seen:
        facts = {f.worker_id: f for f in candidate_facts(session, sub_id)}
        assert len(seen) == 1  # skill, company, duty and load in one round trip
        assert facts[loaded].jobs_in_hand == 2 and facts[other].jobs_in_hand == 0
        assert off_duty not in facts and tried in facts
        assert tried not in {f.worker_id for f in candidate_facts(session, sub_id, not_tried_for=declined_for)}
        assert [f.worker_id for f in candidate_facts(session, sub_id, worker_id=other)] == [other]
        assert candidate_facts(session, sub_id, worker_id=off_duty) == []
        company_station = session.scalar(select(ProviderCompany.station_id).join(Worker).where(Worker.id == other))
        elsewhere = frozenset(session.scalars(select(Station.id).where(Station.id != company_station)))
        assert other not in {f.worker_id for f in candidate_facts(session, sub_id, elsewhere)}


def test_one_workers_entry_ranks_as_in_the_full_list(db: Database) -> None:
    sub_id, workers = _skilled(db)
    with db.sessions.begin() as session:
        code = session.get_one(SubService, sub_id).code
    ticket_id = ticket_maker(db)("DH-JSHT", code)
    with db.sessions() as session:
        ticket, tree = session.get_one(Ticket, ticket_id), StationTree.load(session)
        everyone = {r.worker_id: r for r in ranked_candidates(session, ticket, tree, limit=None)}
        for worker in workers:
            alone = ranked_candidates(session, ticket, tree, worker_id=worker)
            assert len(alone) == 1 and alone[0].as_offer_reasons() == everyone[worker].as_offer_reasons()
        assert {r["code"] for r in everyone[workers[0]].reasons} == {"status", "distance", "rating", "load",
                                                                      "coverage"}


def test_a_claim_brings_the_loaded_ticket_up_to_date_and_appends_one_event(db: Database) -> None:
    agents = [user_id(db, "agent01"), user_id(db, "agent02")]
    ticket_id = ticket_maker(db)()
    now = utcnow()
    with db.sessions.begin() as session:
        ticket = session.get_one(Ticket, ticket_id)
        lease = claim_ticket(session, ticket_id, agents[0], lease_seconds=60, now=now)
        assert (ticket.claim_holder_id, ticket.claim_token, ticket.claim_expires_at, ticket.updated_at) == (
            agents[0], lease.token, now + dt.timedelta(seconds=60), now)
        assert ticket not in session.dirty  # the loaded copy agrees with the row: nothing to flush
    with pytest.raises(ClaimConflict), db.sessions.begin() as session:
        claim_ticket(session, ticket_id, agents[1], lease_seconds=60)
    with db.sessions.begin() as session:
        stored = session.get_one(Ticket, ticket_id)
        assert (stored.claim_holder_id, stored.claim_token, stored.updated_at) == (agents[0], lease.token, now)
        kinds = list(session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id)))
        assert kinds.count(EventKind.CLAIM) == 1


def _console_user(db: Database, username: str) -> ConsoleUser:
    return ConsoleUser(id=user_id(db, username), username=username, display_name=username, role=Role.AGENT,
                       station_id=1, worker_id=None, seat=None, language="zh", session_id="s", scope=None)


def test_a_lease_lost_after_the_ticket_was_read_is_refused_in_the_write(db: Database) -> None:
    agent = _console_user(db, "agent01")
    ticket_id = ticket_maker(db)()
    with db.sessions.begin() as session:
        lease = claim_ticket(session, ticket_id, agent.id, lease_seconds=60)
    with read_sessions_for(db.sessions)() as reader:  # as the console reads: without SQLite's write lock
        seen = reader.get_one(Ticket, ticket_id)
        check_lease(seen, agent, lease.token)
        if db.backend == "postgresql":
            assert writable_ticket(reader, reader, seen, agent) is seen  # one session, row-locked
            return
        with db.sessions.begin() as other:
            release_claim(other, lease)
        with db.sessions.begin() as writer:
            fresh = writable_ticket(reader, writer, seen, agent)
            assert fresh is not seen and fresh.claim_token is None
            with pytest.raises(LeaseExpired):
                check_lease(fresh, agent, lease.token)


def test_claim_and_dispatch_hold_sqlites_write_lock_for_few_statements(sqlite_db: Database) -> None:
    app = make_app(sqlite_db)
    sub_id, workers = _skilled(sqlite_db)
    with sqlite_db.sessions() as session:
        code = session.get_one(SubService, sub_id).code
    ticket_id = ticket_maker(sqlite_db)("DH-JSHT", code)
    agent = login(app, "agent01")
    writes: list[list[str]] = []
    engine = sqlite_db.engine

    def begin(_conn: Any) -> None:
        writes.append([])

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if writes and statement != "BEGIN IMMEDIATE":
            writes[-1].append(statement.split()[0])

    def close(_conn: Any) -> None:
        writes.append([])  # statements after the commit are not part of the write

    for name, listener in (("begin", begin), ("before_cursor_execute", count), ("commit", close)):
        event.listen(engine, name, listener)
    assert agent.post(f"/tickets/{ticket_id}/claim").status_code == 302
    claim = next(w for w in writes if w)
    assert claim == ["UPDATE", "INSERT"]
    with sqlite_db.sessions() as session:
        token = session.get_one(Ticket, ticket_id).claim_token
    writes.clear()
    response = agent.post(f"/tickets/{ticket_id}/dispatch", {"worker_id": workers[0], "lease_token": token})
    assert response.status_code == 302
    dispatch = next(w for w in writes if w)
    # the ticket again, the worker with their skill, a pending offer; the offer, the status, the timeline
    assert dispatch == ["SELECT", "SELECT", "SELECT", "INSERT", "UPDATE", "INSERT"]
    with sqlite_db.sessions() as session:
        offer = session.scalars(select(DispatchOffer).where(DispatchOffer.ticket_id == ticket_id)).one()
        assert offer.worker_id == workers[0] and offer.reasons["status"] == "idle"
        assert session.get_one(Ticket, ticket_id).status == TicketStatus.DISPATCHED
