"""Dispatch: ranking with reasons, offers, decline/timeout → next candidate, the provider's flow, the map."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from callcenter.candidates import advance_offers
from callcenter.ranking import CandidateFacts, JobSite, haversine_km, rank
from callcenter.scope import StationTree
from models.entities import DispatchOffer, SubService, Ticket, User, Worker, WorkerSkill
from models.enums import OfferState, WorkerStatus
from tests.callcenter.conftest import login, make_app, ticket_maker
from tests.plugins.db import Database


def _facts(worker_id: int, status: str = "idle", lat: float = 30.70, lon: float = 121.02, stars: int = 3,
           points: int = 0, load: int = 0, station: int = 1) -> CandidateFacts:
    return CandidateFacts(worker_id, f"w{worker_id}", "c", station, WorkerStatus(status), lat, lon, stars, points, load)


def test_haversine() -> None:
    assert abs(haversine_km(30.0, 121.0, 31.0, 121.0) - 111.2) < 0.2


def test_ranking_puts_idle_first_then_near_good_unloaded_local_workers() -> None:
    site = JobSite(30.70, 121.02, frozenset({7}))
    ranked = rank(site, [
        _facts(1, status="busy", lat=30.70, lon=121.02, stars=5),
        _facts(2, lat=30.80, lon=121.20),  # ~20 km away
        _facts(3, lat=30.71, lon=121.02),  # ~1 km away
        _facts(4, lat=30.71, lon=121.02, load=2),
        _facts(5, lat=30.71, lon=121.02, station=7),  # covers the job's station
        _facts(6, status="off_duty"),
    ])
    assert [r.worker_id for r in ranked] == [5, 3, 4, 2, 1]
    codes = {reason["code"] for reason in ranked[0].reasons}
    assert codes == {"status", "distance", "rating", "load", "coverage"}
    assert ranked[0].covers and round(ranked[0].distance_km or 0, 1) == 1.1
    assert [r.worker_id for r in rank(site, [_facts(3), _facts(5)], exclude=frozenset({5}))] == [3]


def _provider_setup(database: Database) -> tuple[int, str]:
    """worker00001 on duty with a sub-service they can do; returns (worker id, sub-service code)."""
    with database.sessions.begin() as session:
        worker_id = session.scalars(select(User.worker_id).where(User.username == "worker00001")).one()
        code = session.scalars(select(SubService.code).join(WorkerSkill, WorkerSkill.sub_service_id == SubService.id)
                               .where(WorkerSkill.worker_id == worker_id).order_by(SubService.id)).first()
        session.execute(update(Worker).where(Worker.id == worker_id).values(status=WorkerStatus.IDLE))
        assert code is not None
        return worker_id, code


def _colour(browser, worker_id: int) -> str:  # type: ignore[no-untyped-def]
    workers = browser.get("/api/map/workers").get_json()["workers"]
    return next(w["colour"] for w in workers if w["id"] == worker_id)


def test_dispatch_accept_serve_complete_and_the_map_follows(db: Database) -> None:
    app = make_app(db)
    worker_id, code = _provider_setup(db)
    ticket_id = ticket_maker(db)("DH-JSHT", code, description="厨房水管漏水")
    agent = login(app, "agent01")
    agent.post(f"/tickets/{ticket_id}/claim")
    with db.sessions() as session:
        token = session.get_one(Ticket, ticket_id).claim_token
    candidates = agent.get(f"/tickets/{ticket_id}/candidates?lease_token={token}").get_data(as_text=True)
    assert f'id="candidate-{worker_id}"' in candidates and "公里" in candidates
    assert agent.post(f"/tickets/{ticket_id}/dispatch", {"worker_id": worker_id}).status_code == 409  # no lease
    response = agent.post(f"/tickets/{ticket_id}/dispatch", {"worker_id": worker_id, "lease_token": token})
    assert response.status_code == 302
    assert _colour(agent, worker_id) == "#2ca02c"  # offered, not yet accepted: still green

    provider = login(app, "worker00001")
    jobs = provider.get("/provider/fragments/jobs").get_data(as_text=True)
    assert "厨房水管漏水" in jobs
    with db.sessions() as session:
        offer_id = session.scalars(select(DispatchOffer.id).where(DispatchOffer.ticket_id == ticket_id)).one()
    assert provider.post(f"/provider/offers/{offer_id}/accept").status_code == 302
    assert _colour(agent, worker_id) == "#e6b800"  # yellow
    assert provider.post(f"/provider/jobs/{ticket_id}/en-route").status_code == 302
    assert provider.post(f"/provider/jobs/{ticket_id}/on-site").status_code == 302
    assert _colour(agent, worker_id) == "#d62728"  # red
    assert provider.post(f"/provider/jobs/{ticket_id}/done", {"report": ""}).status_code == 400
    assert provider.post(f"/provider/jobs/{ticket_id}/done", {"report": "换了阀门"}).status_code == 302
    assert _colour(agent, worker_id) == "#2ca02c"  # green
    with db.sessions() as session:
        assert session.get_one(Ticket, ticket_id).status == "completed"
    assert provider.post("/provider/position", {"lat": "30.71", "lon": "121.03"}).status_code == 302
    assert provider.post("/provider/status", {"status": "off_duty"}).status_code == 302
    assert _colour(agent, worker_id) == "#1f77b4"  # blue


def test_decline_and_timeout_offer_the_next_candidate(db: Database) -> None:
    app = make_app(db)
    worker_id, code = _provider_setup(db)
    ticket_id = ticket_maker(db)("DH-JSHT", code)
    with db.sessions.begin() as session:
        skilled = session.scalars(select(WorkerSkill.worker_id).where(
            WorkerSkill.sub_service_id == session.scalars(select(SubService.id).where(SubService.code == code)).one()))
        session.execute(update(Worker).where(Worker.id.in_(list(skilled))).values(status=WorkerStatus.IDLE))
    agent = login(app, "agent01")
    agent.post(f"/tickets/{ticket_id}/claim")
    with db.sessions() as session:
        token = session.get_one(Ticket, ticket_id).claim_token
    agent.post(f"/tickets/{ticket_id}/dispatch", {"worker_id": worker_id, "lease_token": token})
    provider = login(app, "worker00001")
    with db.sessions() as session:
        offer_id = session.scalars(select(DispatchOffer.id).where(DispatchOffer.ticket_id == ticket_id)).one()
    assert provider.post(f"/provider/offers/{offer_id}/decline", {"reason": "太远"}).status_code == 302
    with db.sessions() as session:
        offers = session.scalars(select(DispatchOffer).where(DispatchOffer.ticket_id == ticket_id)
                                 .order_by(DispatchOffer.id)).all()
        assert [o.state for o in offers] == [OfferState.DECLINED, OfferState.OFFERED]
        second = offers[1].worker_id
        assert second != worker_id and offers[1].reasons["automatic"] is True
        tree = StationTree.load(session)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=app.config["OFFER_TIMEOUT_SECONDS"] + 1)
    with db.sessions.begin() as session:
        assert advance_offers(session, tree, offer_seconds=120, now=later) == [ticket_id]
    with db.sessions() as session:
        offers = session.scalars(select(DispatchOffer).where(DispatchOffer.ticket_id == ticket_id)
                                 .order_by(DispatchOffer.id)).all()
        assert [o.state for o in offers] == [OfferState.DECLINED, OfferState.EXPIRED, OfferState.OFFERED]
        assert offers[2].worker_id not in (worker_id, second)
        assert session.get_one(Ticket, ticket_id).status == "dispatched"


def test_provider_cannot_touch_other_workers_offers(sqlite_db: Database) -> None:
    app = make_app(sqlite_db)
    provider = login(app, "worker00002")
    worker_id, code = _provider_setup(sqlite_db)
    ticket_id = ticket_maker(sqlite_db)("DH-JSHT", code)
    agent = login(app, "agent01")
    agent.post(f"/tickets/{ticket_id}/claim")
    with sqlite_db.sessions() as session:
        token = session.get_one(Ticket, ticket_id).claim_token
    agent.post(f"/tickets/{ticket_id}/dispatch", {"worker_id": worker_id, "lease_token": token})
    with sqlite_db.sessions() as session:
        offer_id = session.scalars(select(DispatchOffer.id).where(DispatchOffer.ticket_id == ticket_id)).one()
    assert provider.post(f"/provider/offers/{offer_id}/accept").status_code == 404
    assert provider.post(f"/provider/jobs/{ticket_id}/done", {"report": "x"}).status_code == 404
