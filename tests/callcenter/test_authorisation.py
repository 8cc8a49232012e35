"""The authorisation matrix: every role × every route × own / other station's objects.

Each route of the app is listed in ROUTES with who may use it; a route missing from the table
fails the test, so a new route cannot ship without a decision.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from models.base import utcnow
from models.dispatch import dispatch_ticket
from models.entities import User
from models.tickets import get_ticket
from tests.callcenter.conftest import Browser, login, make_app, ticket_maker
from tests.plugins.db import Database

CONSOLE = {"agent01", "ld-agent", "supervisor", "ld-supervisor", "admin"}
PROVIDER = {"worker00001"}
SUPERVISORS = {"supervisor", "ld-supervisor", "admin"}
EVERYONE = CONSOLE | PROVIDER
ACCOUNTS = sorted(EVERYONE)
# Accounts whose station does not cover the "PH-side" ticket (a Danghu community).
TOWN_LEVEL = {"ld-agent", "ld-supervisor"}

# endpoint -> (who may use it, kind of object in the URL: None / "ticket" / "offer" / "job" / "call")
ROUTES: dict[str, tuple[set[str], str | None]] = {
    "auth.login": (set(), None), "auth.login_submit": (set(), None), "auth.language": (set(), None),
    "auth.healthz": (set(), None), "auth.logout": (EVERYONE, None), "auth.index": (EVERYONE, None),
    "agent.workspace": (CONSOLE, None), "agent.waiting_fragment": (CONSOLE, None),
    "agent.mine_fragment": (CONSOLE, None), "agent.active_fragment": (CONSOLE, None),
    "agent.queues_fragment": (CONSOLE, None), "agent.live": (CONSOLE, None), "agent.screen_pop": (CONSOLE, None),
    "agent.change_state": (CONSOLE, None), "agent.claim_next": (CONSOLE, None), "agent.new_ticket": (CONSOLE, None),
    "agent.ticket": (CONSOLE, "ticket"), "agent.timeline": (CONSOLE, "ticket"), "agent.claim": (CONSOLE, "ticket"),
    "agent.renew": (CONSOLE, "ticket"), "agent.release": (CONSOLE, "ticket"), "agent.edit": (CONSOLE, "ticket"),
    "agent.note": (CONSOLE, "ticket"), "agent.transition": (CONSOLE, "ticket"),
    "agent.alerts_fragment": (CONSOLE, None), "agent.resolve": (CONSOLE, "ticket"),
    "agent.quality": (CONSOLE, "ticket"),
    "dispatch.candidates": (CONSOLE, "ticket"), "dispatch.dispatch": (CONSOLE, "ticket"),
    "dispatch.provider_map": (CONSOLE, None), "dispatch.sweep": (CONSOLE, None),
    "provider.home": (PROVIDER, None), "provider.jobs_fragment": (PROVIDER, None),
    "provider.accept": (PROVIDER, "offer"), "provider.decline": (PROVIDER, "offer"),
    "provider.en_route": (PROVIDER, "job"), "provider.on_site": (PROVIDER, "job"), "provider.done": (PROVIDER, "job"),
    "provider.status": (PROVIDER, None), "provider.position": (PROVIDER, None),
    "provider.evaluate": (PROVIDER, "job"),
    "api.me": (EVERYONE, None), "api.map_stations": (EVERYONE, None), "api.map_workers": (CONSOLE, None),
    "api.ticket": (CONSOLE, "ticket"), "api.queues": (CONSOLE, None),
    "supervisor.call_log": (SUPERVISORS, None), "supervisor.call_page": (SUPERVISORS, "call"),
    "supervisor.recording": (SUPERVISORS, "call"), "supervisor.export_csv": (SUPERVISORS, None),
    "supervisor.export_xlsx": (SUPERVISORS, None), "supervisor.wallboard_page": (SUPERVISORS, None),
    "supervisor.wallboard_data": (SUPERVISORS, None), "supervisor.bigscreen_page": (SUPERVISORS, None),
    "supervisor.bigscreen_data": (SUPERVISORS, None), "supervisor.reports_page": (SUPERVISORS, None),
    "supervisor.report_chunk": (SUPERVISORS, None), "supervisor.report_download": (SUPERVISORS, None),
    # Open311: no console login; requests need an API client's key (tests/callcenter/test_open311.py).
    "open311.openapi": (set(), None), "open311.services": (set(), None),
    "open311.service_definition": (set(), None), "open311.create_request": (set(), None),
    "open311.list_requests": (set(), None), "open311.get_request": (set(), None),
}
OPEN311 = {endpoint for endpoint in ROUTES if endpoint.startswith("open311.")}
PUBLIC = {"auth.login", "auth.login_submit", "auth.language", "auth.healthz"} | OPEN311


class World:
    """Two tickets (Danghu and Lindai), a recorded call for each, and two offers (for worker00001
    and for another worker)."""

    def __init__(self, database: Database, recordings: Path) -> None:
        make = ticket_maker(database)
        self.dh_ticket = make("DH-JSHT", "APPL-TV", description="danghu")
        self.ld_ticket = make("LD-XJD", "APPL-TV", description="lindai")
        self.dh_call = self._call(database, recordings, "dh", self.dh_ticket)
        self.ld_call = self._call(database, recordings, "ld", self.ld_ticket)
        with database.sessions.begin() as session:
            own_worker = session.scalars(select(User.worker_id).where(User.username == "worker00001")).one()
            other_worker = session.scalars(select(User.worker_id).where(User.username == "worker00002")).one()
            self.own_offer = self._offer(session, self.dh_ticket, own_worker)
            self.other_offer = self._offer(session, self.ld_ticket, other_worker)
        self.own_job = make("DH-JSHT", "APPL-TV", description="job")
        with database.sessions.begin() as session:
            from models.dispatch import accept_offer

            accept_offer(session, self._offer(session, self.own_job, own_worker), own_worker)

    @staticmethod
    def _call(database: Database, recordings: Path, label: str, ticket_id: int) -> int:
        from models.calls import record_call_start

        name = f"1772000001.{label}.wav"
        (recordings / name).write_bytes(b"RIFF" + b"\0" * 64)
        with database.sessions.begin() as session:
            call = record_call_start(session, uniqueid=f"1772000001.{label}", caller_number="13800000001",
                                     caller_name=None, dialed="96345", now=utcnow())
            call.ticket_id, call.recording = ticket_id, name
            session.flush()
            return call.id

    @staticmethod
    def _offer(session, ticket_id: int, worker_id: int) -> int:  # type: ignore[no-untyped-def]
        from models.dispatch import get_worker
        from models.entities import WorkerSkill
        from models.enums import WorkerStatus

        ticket = get_ticket(session, ticket_id)
        worker = get_worker(session, worker_id)
        worker.status = WorkerStatus.IDLE
        if session.get(WorkerSkill, (worker_id, ticket.sub_service_id)) is None:
            session.add(WorkerSkill(worker_id=worker_id, sub_service_id=ticket.sub_service_id))
            session.flush()
        offer = dispatch_ticket(session, ticket, worker_id, actor="test", offer_seconds=3600,
                                now=utcnow() - dt.timedelta(seconds=1))
        return offer.id


@pytest.fixture(scope="module")
def matrix_db(sqlite_template, tmp_path_factory):  # type: ignore[no-untyped-def]
    from tests.plugins.db import _database, _fresh_sqlite

    folder = tmp_path_factory.mktemp("matrix")
    yield from _database("sqlite", _fresh_sqlite(sqlite_template, folder))


@pytest.fixture(scope="module")
def matrix_recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("matrix-recordings")


@pytest.fixture(scope="module")
def world(matrix_db: Database, matrix_recordings: Path) -> World:
    return World(matrix_db, matrix_recordings)


@pytest.fixture(scope="module")
def matrix_app(matrix_db: Database, matrix_recordings: Path) -> Flask:
    return make_app(matrix_db, LOGIN_LIMIT_PER_ADDRESS=1000, RECORDINGS_DIR=str(matrix_recordings))


@pytest.fixture(scope="module")
def browsers(matrix_app: Flask, world: World) -> dict[str, Browser]:
    return {name: login(matrix_app, name) for name in ACCOUNTS}


def test_every_route_is_in_the_matrix(matrix_app: Flask) -> None:
    endpoints = {rule.endpoint for rule in matrix_app.url_map.iter_rules() if rule.endpoint != "static"}
    assert endpoints == set(ROUTES)


def _urls(app: Flask, endpoint: str, kind: str | None, world: World, own: bool) -> list[tuple[str, str]]:
    from flask import url_for

    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values: dict[str, int] = {}
    if kind == "ticket":
        values["ticket_id"] = world.dh_ticket if own else world.ld_ticket
    elif kind == "job":
        values["ticket_id"] = world.own_job if own else world.ld_ticket
    elif kind == "offer":
        values["offer_id"] = world.own_offer if own else world.other_offer
    elif kind == "call":
        values["call_id"] = world.dh_call if own else world.ld_call
    with app.test_request_context():
        url = url_for(endpoint, **values)
    return [(method, url) for method in sorted((rule.methods or set()) & {"GET", "POST"})]


def _request(browser: Browser, method: str, url: str):  # type: ignore[no-untyped-def]
    if method == "GET":
        return browser.get(url)
    return browser.post(url, headers={"X-CSRFToken": browser.csrf})


@pytest.mark.parametrize("endpoint", sorted(set(ROUTES) - PUBLIC - {"auth.logout"}))
def test_matrix(endpoint: str, matrix_app: Flask, browsers: dict[str, Browser], world: World) -> None:
    allowed, kind = ROUTES[endpoint]
    anonymous = Browser(matrix_app.test_client())
    anonymous.refresh_csrf()
    for own in (True, False):
        for method, url in _urls(matrix_app, endpoint, kind, world, own):
            response = _request(anonymous, method, url)
            assert response.status_code in (302, 401), (endpoint, "anonymous", method, response.status_code)
            if response.status_code == 302:
                assert "/login" in response.headers["Location"]
            for name in ACCOUNTS:
                status = _request(browsers[name], method, url).status_code
                where = (endpoint, name, method, url, status)
                if name not in allowed:
                    assert status == 403, where
                elif kind in ("ticket", "call") and own and name in TOWN_LEVEL:
                    # Danghu's ticket is outside Lindai's stations; the city sees both.
                    assert status == 404, where
                elif kind in ("offer", "job") and not own:
                    assert status == 404, where
                else:
                    assert status not in (401, 403, 404, 500), where


def test_api_ticket_masks_the_number_and_hides_other_stations(browsers: dict[str, Browser], world: World) -> None:
    city = browsers["agent01"].get(f"/api/tickets/{world.ld_ticket}")
    assert city.status_code == 200 and city.get_json()["description"] == "lindai"
    assert browsers["ld-agent"].get(f"/api/tickets/{world.dh_ticket}").status_code == 404


def test_map_workers_are_scoped(browsers: dict[str, Browser], matrix_db: Database) -> None:
    from models.entities import ProviderCompany, Station, Worker

    everyone = browsers["admin"].get("/api/map/workers").get_json()["workers"]
    lindai = browsers["ld-agent"].get("/api/map/workers").get_json()["workers"]
    with matrix_db.sessions() as session:
        ld = session.scalars(select(Station.id).where(Station.code == "LD")).one()
        ld_workers = set(session.scalars(select(Worker.id).join(ProviderCompany)
                                         .where(ProviderCompany.station_id == ld, Worker.lat.is_not(None))))
    assert {w["id"] for w in lindai} == ld_workers
    assert len(everyone) > len(lindai) > 0
