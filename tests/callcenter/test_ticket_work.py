"""Ticket work in the console: claims and leases, edits on the timeline, lifecycle buttons, escaping."""

from __future__ import annotations

import datetime as dt
import threading

from flask import Flask
from sqlalchemy import select, update

from models.calls import record_call_start
from models.entities import Call, SubService, Ticket, TicketEvent
from models.enums import EventKind
from models.tickets import TicketRequest, open_ticket_for_call
from tests.callcenter.conftest import login, make_app, station_id, ticket_maker
from tests.plugins.db import Database

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _lease_token(database: Database, ticket_id: int) -> str:
    with database.sessions() as session:
        return session.get_one(Ticket, ticket_id).claim_token or ""


def test_two_agents_claim_at_the_same_moment_one_wins(db: Database) -> None:
    app = make_app(db)
    ticket_id = ticket_maker(db)(sub_service="APPL-TV")
    agents = [login(app, "agent01"), login(app, "agent02")]
    barrier = threading.Barrier(2)
    results: dict[int, tuple[int, str]] = {}

    def claim(index: int) -> None:
        barrier.wait()
        response = agents[index].post(f"/tickets/{ticket_id}/claim")
        results[index] = (response.status_code, response.get_data(as_text=True))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(code for code, _ in results.values())
    assert codes == [302, 409], results
    loser = next(body for code, body in results.values() if code == 409)
    assert "another agent" in loser
    with db.sessions() as session:
        claims = session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                           TicketEvent.kind == EventKind.CLAIM)).all()
        assert len(claims) == 1


def test_action_on_an_expired_lease_is_refused(sqlite_db: Database) -> None:
    app = make_app(sqlite_db)
    ticket_id = ticket_maker(sqlite_db)(sub_service="APPL-TV")
    agent = login(app, "agent01")
    assert agent.post(f"/tickets/{ticket_id}/claim").status_code == 302
    token = _lease_token(sqlite_db, ticket_id)
    with sqlite_db.sessions.begin() as session:
        session.execute(update(Ticket).where(Ticket.id == ticket_id)
                        .values(claim_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    for path, data in ((f"/tickets/{ticket_id}/note", {"text": "late"}),
                       (f"/tickets/{ticket_id}/edit", {"description": "late"}),
                       (f"/tickets/{ticket_id}/transition", {"target": "cancelled"}),
                       (f"/tickets/{ticket_id}/lease", {})):
        response = agent.post(path, {"lease_token": token, **data})
        assert response.status_code == 409, (path, response.status_code)
        assert "expired" in response.get_data(as_text=True)
    other = login(app, "agent02")  # the expired claim is free for someone else
    assert other.post(f"/tickets/{ticket_id}/claim").status_code == 302


def test_edit_note_and_lifecycle_land_on_the_timeline(sqlite_db: Database) -> None:
    app = make_app(sqlite_db)
    ticket_id = ticket_maker(sqlite_db)(sub_service="APPL-TV")
    agent = login(app, "agent01")
    agent.post(f"/tickets/{ticket_id}/claim")
    token = _lease_token(sqlite_db, ticket_id)
    page = agent.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert 'id="to-completed"' in page and 'id="to-cancelled"' in page
    assert 'id="to-closed"' not in page and 'id="to-dispatched"' not in page
    community = station_id(sqlite_db, "ZD-ZDS")
    response = agent.post(f"/tickets/{ticket_id}/edit", {
        "lease_token": token, "sub_service_code": "LOCK-DOOR", "description": "门打不开", "address": "钟埭街道 1 号",
        "station_id": community, "lat": "30.733", "lon": "121.067", "priority": "high"})
    assert response.status_code == 302
    assert agent.post(f"/tickets/{ticket_id}/note", {"lease_token": token, "text": "已联系居民"}).status_code == 302
    assert agent.post(f"/tickets/{ticket_id}/transition", {"lease_token": token, "target": "closed"}).status_code == 409
    assert agent.post(f"/tickets/{ticket_id}/transition",
                      {"lease_token": token, "target": "completed"}).status_code == 302
    with sqlite_db.sessions() as session:
        ticket = session.get_one(Ticket, ticket_id)
        assert (ticket.status, ticket.station_id, ticket.priority) == ("completed", community, "high")
        assert ticket.lat == 30.733
        kinds = [e.kind for e in ticket.events]
    assert kinds == ["created", "claim", "edit", "note", "status"]
    timeline = agent.get(f"/tickets/{ticket_id}/timeline").get_data(as_text=True)
    assert "已联系居民" in timeline and "完工" in timeline


def test_bad_input_gets_a_clear_400(sqlite_db: Database) -> None:
    app = make_app(sqlite_db)
    ticket_id = ticket_maker(sqlite_db)(sub_service="APPL-TV")
    agent = login(app, "agent01")
    agent.post(f"/tickets/{ticket_id}/claim")
    token = _lease_token(sqlite_db, ticket_id)
    for data in ({"lat": "north", "lon": "1"}, {"lat": "95", "lon": "121"}, {"sub_service_code": "NOPE"},
                 {"description": "x" * 2001}, {"station_id": "99999"}):
        response = agent.post(f"/tickets/{ticket_id}/edit", {"lease_token": token, **data})
        assert response.status_code == 400, data
        assert "Traceback" not in response.get_data(as_text=True)


def test_lease_is_renewed_while_the_page_is_open(sqlite_db: Database) -> None:
    app = make_app(sqlite_db, CLAIM_LEASE_SECONDS=30)
    ticket_id = ticket_maker(sqlite_db)(sub_service="APPL-TV")
    agent = login(app, "agent01")
    agent.post(f"/tickets/{ticket_id}/claim")
    page = agent.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert 'hx-trigger="every 10s"' in page
    with sqlite_db.sessions() as session:
        before = session.get_one(Ticket, ticket_id).claim_expires_at
    response = agent.post(f"/tickets/{ticket_id}/lease", {"lease_token": _lease_token(sqlite_db, ticket_id)},
                          headers={"HX-Request": "true"})
    assert response.status_code == 200
    with sqlite_db.sessions() as session:
        assert session.get_one(Ticket, ticket_id).claim_expires_at >= before


ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"


def _shown_as_text(body: str, where: str) -> None:
    assert "<script>alert" not in body and "<img src=x" not in body, where


def test_hostile_caller_data_is_shown_as_text_everywhere(sqlite_db: Database) -> None:
    """Caller name and number, description, address, IVR path and notes with markup in them: every
    agent, provider and supervisor page shows them as text, JSON carries them as data."""
    from tests.callcenter.test_ami import FakeManager
    from tests.callcenter.test_dispatch import _provider_setup

    worker_id, sub_service = _provider_setup(sqlite_db)
    app = make_app(sqlite_db)
    with sqlite_db.sessions.begin() as session:
        ticket = open_ticket_for_call(session, uniqueid="1700000000.1", caller_number="13800000001",
                                      caller_name=HOSTILE,
                                      request=TicketRequest(channel="phone", sub_service_code=sub_service,  # type: ignore[arg-type]
                                                            description=HOSTILE, address=HOSTILE,
                                                            station_id=station_id(sqlite_db, "DH-JSHT")))
        ticket_id = ticket.id
        call = session.get_one(Call, ticket.origin_call_id)
        call.ivr_path = [{"menu": HOSTILE}]
        call.queue, call.queue_position, call.ended_at = "general", 1, dt.datetime.now(dt.UTC)
        call_id = call.id
        bare = record_call_start(session, uniqueid="1700000000.2", caller_name=HOSTILE, caller_number=HOSTILE)
        bare_id = bare.id
    agent = login(app, "agent01")
    agent.post(f"/tickets/{ticket_id}/claim")
    token = _lease_token(sqlite_db, ticket_id)
    agent.post(f"/tickets/{ticket_id}/note", {"lease_token": token, "text": HOSTILE})
    pages = ["/agent", "/agent/fragments/waiting", "/agent/fragments/mine", f"/tickets/{ticket_id}",
             f"/tickets/{ticket_id}/timeline", f"/tickets/{ticket_id}/candidates?lease_token={token}"]
    for path in pages:
        _shown_as_text(agent.get(path).get_data(as_text=True), path)
    ticket_page = agent.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert ESCAPED in ticket_page
    api = agent.get(f"/api/tickets/{ticket_id}")
    assert api.mimetype == "application/json" and api.get_json()["description"] == HOSTILE

    # The provider's phone page: the offer, then the job, with the caller's address and description.
    dispatched = agent.post(f"/tickets/{ticket_id}/dispatch", {"worker_id": worker_id, "lease_token": token})
    assert dispatched.status_code == 302
    provider = login(app, "worker00001")
    _shown_as_text(provider.get("/provider").get_data(as_text=True), "/provider")
    jobs = provider.get("/provider/fragments/jobs").get_data(as_text=True)
    _shown_as_text(jobs, "/provider/fragments/jobs")
    assert jobs.count(ESCAPED) >= 2  # the address and the description of the offer

    # Supervisors: the call list, both calls' detail pages, the wallboard and the big screen (whose
    # charts name sub-services: one named with markup here, as data only).
    with sqlite_db.sessions.begin() as session:
        session.execute(update(SubService).where(SubService.code == sub_service).values(name_zh=HOSTILE))
    supervisor = login(app, "supervisor")
    for path in ("/supervisor/calls", f"/supervisor/calls/{call_id}", f"/supervisor/calls/{bare_id}",
                 "/supervisor/wallboard", "/supervisor/bigscreen"):
        response = supervisor.get(path)
        assert response.status_code == 200, path
        _shown_as_text(response.get_data(as_text=True), path)
    detail = supervisor.get(f"/supervisor/calls/{call_id}").get_data(as_text=True)
    assert ESCAPED in detail and 'id="queue-position">1<' in detail
    for path in ("/supervisor/wallboard/data", "/supervisor/bigscreen/data"):
        data = supervisor.get(path)
        assert data.mimetype == "application/json" and data.headers["X-Content-Type-Options"] == "nosniff", path
    top = supervisor.get("/supervisor/bigscreen/data").get_json()["top_sub_services"]
    assert {"name": HOSTILE, "value": 1} in top  # handed to the charts as data (supervisor.js: textContent)

    # The waiting calls as Asterisk reports them: the caller ID name arrives over AMI.
    manager = FakeManager()
    live = make_app(sqlite_db, AMI_ENABLED=True, AMI_PORT=manager.port, AMI_SECRET="s")
    phone = live.extensions["hotline_telephony"]
    phone.start()
    try:
        deadline = dt.datetime.now() + dt.timedelta(seconds=5)
        while not phone.connected and dt.datetime.now() < deadline:
            threading.Event().wait(0.05)
        manager.event(Event="QueueCallerJoin", Queue="hotline-general", Uniqueid="1700000000.3",
                      CallerIDNum=HOSTILE, CallerIDName=HOSTILE, Position="1")
        while not phone.waiting_calls() and dt.datetime.now() < deadline:
            threading.Event().wait(0.05)
        body = login(live, "agent01").get("/agent/fragments/queues").get_data(as_text=True)
        _shown_as_text(body, "/agent/fragments/queues")
        assert ESCAPED in body
    finally:
        phone.stop()
        manager.close()


def test_claim_next_and_new_ticket(sqlite_app: Flask, sqlite_db: Database) -> None:
    agent = login(sqlite_app, "ld-agent")
    response = agent.post("/agent/claim-next")
    assert response.status_code == 302 and response.headers["Location"].endswith("/agent")
    ticket_maker(sqlite_db)("DH-JSHT", "APPL-TV")  # outside Lindai
    assert agent.post("/agent/claim-next").headers["Location"].endswith("/agent")
    response = agent.post("/tickets", {"sub_service_code": "APPL-TV", "contact_number": "13800000009",
                                       "description": "电视没图像"})
    assert response.status_code == 302
    new_id = int(response.headers["Location"].rsplit("/", 1)[1])
    lindai = station_id(sqlite_db, "LD")
    with sqlite_db.sessions() as session:
        ticket = session.get_one(Ticket, new_id)
        assert ticket.station_id == lindai and ticket.claim_holder_id is not None
        assert ticket.contact_number == "+8613800000009"
