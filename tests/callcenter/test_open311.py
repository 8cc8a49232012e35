"""Open311 GeoReport v2: the online channel opens tickets in the same store the console works on.

Real requests through the Flask app on SQLite and PostgreSQL, every bad input refused with an
Open311 error and nothing stored, and schemathesis fuzzing the endpoint against its OpenAPI
description (no 5xx, answers that match the description).
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import func, select

from models.entities import Station, Ticket, TicketEvent
from models.enums import Channel
from models.online import create_api_client, revoke_api_client
from tests.callcenter.conftest import login, make_app, station_id
from tests.plugins.db import Database

LINDAI = (30.6962, 120.9285)  # in 林埭镇 (Lindai), near its seeded communities


def _new_client(database: Database, name: str, station: str = "PH") -> str:
    with database.sessions.begin() as session:
        _user, key = create_api_client(session, name=name, display_name=name,
                                       station_id=station_id(database, station))
    return key


@pytest.fixture
def key(db: Database) -> str:
    return _new_client(db, "wechat-app")


def _count(database: Database) -> tuple[int, int]:
    with database.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Ticket)) or 0,
                session.scalar(select(func.count()).select_from(TicketEvent)) or 0)


def _post(app: Flask, key: str | None, data: dict[str, object], **headers: str):  # type: ignore[no-untyped-def]
    if key is not None:
        headers["X-Api-Key"] = key
    return app.test_client().post("/open311/v2/requests.json", data=data, headers=headers)


def test_services_list_the_catalogue_in_chinese_and_english(app: Flask) -> None:
    client = app.test_client()
    zh = client.get("/open311/v2/services.json").get_json()
    en = client.get("/open311/v2/services.json?locale=en").get_json()
    assert len(zh) == len(en) >= 120
    sewer = next(s for s in zh if s["service_code"] == "DRAIN-SEWER")
    assert sewer["type"] == "realtime" and not sewer["metadata"] and "疏通" in sewer["group"] + sewer["service_name"]
    assert next(s for s in en if s["service_code"] == "DRAIN-SEWER")["service_name"].isascii()
    assert client.get("/open311/v2/services/DRAIN-SEWER.json").get_json() == {"service_code": "DRAIN-SEWER",
                                                                              "attributes": []}
    missing = client.get("/open311/v2/services/NO-SUCH.json")
    assert missing.status_code == 404 and missing.get_json()[0]["code"] == 404


def test_a_request_becomes_a_ticket_the_console_sees(app: Flask, db: Database, key: str) -> None:
    response = _post(app, key, {"service_code": "DRAIN-SEWER", "lat": LINDAI[0], "long": LINDAI[1],
                                "address_string": "林埭镇新街道3幢", "description": "厨房下水道堵了",
                                "phone": "13800000001"})
    assert response.status_code == 201, response.get_data(as_text=True)
    number = response.get_json()[0]["service_request_id"]
    with db.sessions() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        station = session.get_one(Station, ticket.station_id)
        parent = session.get(Station, station.parent_id) if station.parent_id else None
        assert ticket.channel is Channel.API and ticket.contact_number == "+8613800000001"
        assert "LD" in {station.code, parent.code if parent else None}  # Lindai town or one of its communities
        ticket_id = ticket.id
    # The Lindai agent (town scope) has it; a listing for the client shows it as open.
    assert login(app, "ld-agent").get(f"/tickets/{ticket_id}").status_code == 200
    listed = app.test_client().get("/open311/v2/requests.json", headers={"X-Api-Key": key}).get_json()
    assert [r["service_request_id"] for r in listed] == [number]
    assert listed[0]["status"] == "open" and listed[0]["requested_datetime"].endswith("+08:00")
    assert "phone" not in listed[0] and listed[0]["status_notes"] == "受理"


def test_the_same_idempotency_key_never_makes_two_tickets(app: Flask, db: Database, key: str) -> None:
    data = {"service_code": "LOCK-DOOR", "address_string": "当湖街道某小区"}
    first = _post(app, key, data, **{"Idempotency-Key": "order-42"})
    before = _count(db)
    again = _post(app, key, data, **{"Idempotency-Key": "order-42"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()[0]["service_request_id"] == first.get_json()[0]["service_request_id"]
    assert _count(db) == before


BAD_REQUESTS: dict[str, tuple[dict[str, object], dict[str, str], int]] = {
    "no service code": ({"address_string": "x"}, {}, 400),
    "unknown service code": ({"service_code": "NO-SUCH", "address_string": "x"}, {}, 400),
    "no location": ({"service_code": "LOCK-DOOR"}, {}, 400),
    "lat without long": ({"service_code": "LOCK-DOOR", "lat": "30.7"}, {}, 400),
    "lat not a number": ({"service_code": "LOCK-DOOR", "lat": "30.7; DROP TABLE tickets", "long": "121"}, {}, 400),
    "lat infinite": ({"service_code": "LOCK-DOOR", "lat": "inf", "long": "121"}, {}, 400),
    "lat off the Earth": ({"service_code": "LOCK-DOOR", "lat": "95", "long": "121"}, {}, 400),
    "control character": ({"service_code": "LOCK-DOOR", "address_string": "x",
                           "description": "门\x1b[2J打不开"}, {}, 400),
    "over-long description": ({"service_code": "LOCK-DOOR", "address_string": "x", "description": "门" * 2001},
                              {}, 400),
    "over-long address": ({"service_code": "LOCK-DOOR", "address_string": "幢" * 300}, {}, 400),
    "bad idempotency key": ({"service_code": "LOCK-DOOR", "address_string": "x"},
                            {"Idempotency-Key": "../../etc/passwd"}, 400),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_are_refused_and_store_nothing(app: Flask, db: Database, key: str, case: str) -> None:
    data, headers, status = BAD_REQUESTS[case]
    before = _count(db)
    response = _post(app, key, data, **headers)
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body[0]["code"] == status and body[0]["description"]
    assert _count(db) == before


@pytest.mark.parametrize("credential", [None, "", "wechat-app", "wechat-app.wrong", "nobody.secret",
                                        "agent01.demo96345", "x" * 500])
def test_requests_without_a_valid_key_are_forbidden(app: Flask, db: Database, key: str,
                                                    credential: str | None) -> None:
    before = _count(db)
    response = _post(app, credential, {"service_code": "LOCK-DOOR", "address_string": "x"})
    assert response.status_code == 403 and response.get_json()[0]["code"] == 403
    assert app.test_client().get("/open311/v2/requests.json", headers={"X-Api-Key": credential or ""}
                                 ).status_code == 403
    assert _count(db) == before


def test_a_revoked_key_stops_working(app: Flask, db: Database, key: str) -> None:
    assert _post(app, key, {"service_code": "LOCK-DOOR", "address_string": "x"}).status_code == 201
    with db.sessions.begin() as session:
        revoke_api_client(session, "wechat-app")
    assert _post(app, key, {"service_code": "LOCK-DOOR", "address_string": "x"}).status_code == 403


def test_a_client_sees_only_its_own_requests(app: Flask, db: Database, key: str) -> None:
    other = _new_client(db, "partner-platform")
    mine = _post(app, key, {"service_code": "LOCK-DOOR", "address_string": "a"}).get_json()[0]["service_request_id"]
    theirs = _post(app, other, {"service_code": "LOCK-DOOR", "address_string": "b"}
                   ).get_json()[0]["service_request_id"]
    client = app.test_client()
    assert client.get(f"/open311/v2/requests/{theirs}.json", headers={"X-Api-Key": key}).status_code == 404
    assert client.get(f"/open311/v2/requests/{mine}.json", headers={"X-Api-Key": key}).status_code == 200
    both = client.get(f"/open311/v2/requests.json?service_request_id={mine},{theirs}", headers={"X-Api-Key": key})
    assert [r["service_request_id"] for r in both.get_json()] == [mine]
    closed = client.get("/open311/v2/requests.json?status=closed", headers={"X-Api-Key": key}).get_json()
    assert closed == []


@pytest.mark.parametrize("query", ["status=pending", "start_date=yesterday", "service_code=NO-SUCH",
                                   "service_request_id=1,x", "start_date=2026-02-01&end_date=2026-01-01",
                                   "locale=fr"])
def test_bad_queries_are_clear_errors(app: Flask, key: str, query: str) -> None:
    response = app.test_client().get(f"/open311/v2/requests.json?{query}", headers={"X-Api-Key": key})
    assert response.status_code == 400 and response.get_json()[0]["description"]


def test_only_json_is_served(app: Flask) -> None:
    response = app.test_client().get("/open311/v2/services.xml")
    assert response.status_code == 400 and "json" in response.get_json()[0]["description"]


def test_an_api_client_cannot_log_in_to_the_console(app: Flask, db: Database, key: str) -> None:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"csrf_token": token, "username": "wechat-app",
                                           "password": key.partition(".")[2]})
    assert response.status_code != 302
    assert client.get("/agent").status_code == 302  # still sent to the login page


# --- schemathesis: the endpoint against its own OpenAPI description ------------------------------

@pytest.fixture(scope="module")
def fuzz_app(sqlite_template, tmp_path_factory) -> tuple[Flask, str]:  # type: ignore[no-untyped-def]
    from tests.plugins.db import _database, _fresh_sqlite

    folder = tmp_path_factory.mktemp("open311")
    database = next(_database("sqlite", _fresh_sqlite(sqlite_template, folder)))
    return make_app(database), _new_client(database, "fuzzer")


@pytest.mark.parametrize("operation", ["services", "serviceDefinition", "createRequest", "listRequests",
                                       "getRequest"])
def test_open311_conforms_to_its_openapi_description(fuzz_app: tuple[Flask, str], operation: str) -> None:
    app, key = fuzz_app
    schema = schemathesis.openapi.from_wsgi("/open311/v2/openapi.json", app)
    found = [result.ok() for result in schema.get_all_operations()
             if result.ok().definition.raw.get("operationId") == operation]
    assert len(found) == 1

    @given(case=found[0].as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case) -> None:  # type: ignore[no-untyped-def]
        # Schema-valid is not always acceptable: a code must be in the catalogue, a request needs a
        # position or an address, text must be free of control characters — those are 400s by
        # design.  Every other check applies: no 5xx, documented statuses, answers as described.
        case.call_and_validate(headers={"X-Api-Key": key}, excluded_checks=[positive_data_acceptance])

    fuzz()
