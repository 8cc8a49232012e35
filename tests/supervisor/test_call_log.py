"""The call log: filters, keyset paging, station scope, refusals of hostile values, the detail page."""

from __future__ import annotations

import pytest

from models.audit import audit_entries
from tests.plugins.db import Database
from tests.supervisor.conftest import CallSet, call_ids_on, sub_service_of

SUPERVISOR_PAGES = ["/supervisor/calls", "/supervisor/calls/export.csv", "/supervisor/calls/export.xlsx",
                    "/supervisor/wallboard", "/supervisor/wallboard/data", "/supervisor/bigscreen",
                    "/supervisor/bigscreen/data", "/supervisor/reports", "/supervisor/reports/chunk",
                    "/supervisor/reports/download.csv",
                    "/supervisor/calls/1", "/supervisor/calls/1/recording"]


def test_city_supervisor_sees_every_call_newest_first(as_user, call_set: CallSet) -> None:
    page = as_user("supervisor").get("/supervisor/calls")
    assert page.status_code == 200
    ids = call_ids_on(page.get_data(as_text=True))
    assert ids == [call_set.ids[k] for k in ("iv1", "ab1", "ld2", "ld1", "dh2", "dh1")]
    assert "138****0001" in page.get_data(as_text=True)  # masked in the list


def test_filters(as_user, call_set: CallSet, db: Database) -> None:
    browser = as_user("supervisor")
    _, appliances = sub_service_of(db, "APPL")

    def ids(query: str) -> set[int]:
        response = browser.get(f"/supervisor/calls?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return set(call_ids_on(response.get_data(as_text=True)))

    c = call_set.ids
    assert ids("number=138%200000%200001") == {c["dh1"], c["iv1"]}
    assert ids("number=%2B8613900000003") == {c["ld1"], c["ld2"]}
    assert ids("from=2026-03-02&to=2026-03-02") == {c[k] for k in ("dh1", "dh2", "ld1", "ld2", "ab1")}
    assert ids("from=2026-03-03") == {c["iv1"]}
    assert ids("queue=elderly") == {c["ld1"]}
    assert ids(f"category={appliances}") == {c["dh1"], c["ld1"]}
    assert ids("outcome=abandoned_queue") == {c["ab1"]}
    assert ids("min_wait=30") == {c["dh2"], c["ab1"]}
    assert ids("max_wait=5") == {c["dh1"], c["ld2"]}


def test_agent_filter_and_wait_sort(as_user, call_set: CallSet, db: Database) -> None:
    from tests.callcenter.conftest import user_id

    browser = as_user("supervisor")
    page = browser.get(f"/supervisor/calls?agent={user_id(db, 'ld-agent')}").get_data(as_text=True)
    assert set(call_ids_on(page)) == {call_set.ids["ld1"], call_set.ids["ld2"]}
    page = browser.get("/supervisor/calls?sort=-wait").get_data(as_text=True)
    assert call_ids_on(page)[:2] == [call_set.ids["ab1"], call_set.ids["dh2"]]
    page = browser.get("/supervisor/calls?sort=wait").get_data(as_text=True)
    assert call_ids_on(page)[0] == call_set.ids["iv1"]  # no wait sorts first ascending


@pytest.mark.parametrize("sort", ["-started", "wait", "-wait"])
def test_keyset_paging_visits_every_row_once(as_user, call_set: CallSet, sort: str) -> None:
    browser = as_user("supervisor")
    seen: list[int] = []
    url = f"/supervisor/calls?limit=2&sort={sort}"
    for _ in range(10):
        page = browser.get(url).get_data(as_text=True)
        seen += call_ids_on(page)
        if 'id="next-page"' not in page:
            break
        url = page.split('id="next-page" href="')[1].split('"')[0].replace("&amp;", "&")
    assert sorted(seen) == sorted(call_set.ids.values())


def test_station_supervisor_sees_only_their_stations(as_user, call_set: CallSet) -> None:
    browser = as_user("ld-supervisor")
    page = browser.get("/supervisor/calls").get_data(as_text=True)
    assert set(call_ids_on(page)) == {call_set.ids["ld1"], call_set.ids["ld2"]}
    assert browser.get(f"/supervisor/calls/{call_set.ids['dh1']}").status_code == 404
    assert browser.get(f"/supervisor/calls/{call_set.ids['ab1']}").status_code == 404  # no ticket: city only
    assert browser.get(f"/supervisor/calls/{call_set.ids['ld1']}").status_code == 200
    csv_text = browser.get("/supervisor/calls/export.csv").get_data(as_text=True)
    assert "13800000001" not in csv_text and "+8613900000003" in csv_text


@pytest.mark.parametrize("username", ["agent01", "ld-agent", "worker00001"])
def test_other_roles_are_refused(sup_app, call_set: CallSet, username: str) -> None:
    from tests.callcenter.conftest import login

    browser = login(sup_app, username)
    refused = {path: browser.get(path).status_code for path in SUPERVISOR_PAGES}
    assert set(refused.values()) == {403}, refused


def test_anonymous_is_sent_to_login(sup_app) -> None:
    response = sup_app.test_client().get("/supervisor/calls")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("query", [
    "sort=started;DROP TABLE calls", "sort=caller_number", "sort=(select 1)", "sort=-id desc, 1",
    "agent=1 OR 1=1", "category=1;--", "outcome=ticket' OR '1'='1", "number=' OR 1=1 --",
    "queue=general' OR 'a'='a", "min_wait=-1", "max_wait=1e9", "from=2026-01-01' OR 1=1",
    "to=2026-13-45", "limit=100000", "cursor=eyJ4IjoxfQ", "cursor=WyItc3RhcnRlZCIsIjEnIE9SIDE9MSIsMV0",
    "from=2026-03-05&to=2026-03-01",
])
def test_hostile_or_malformed_values_are_refused(as_user, call_set: CallSet, query: str) -> None:
    response = as_user("supervisor").get(f"/supervisor/calls?{query}")
    assert response.status_code == 400, (query, response.status_code)
    assert "Traceback" not in response.get_data(as_text=True)


def test_detail_page_shows_the_timeline_and_is_audited(as_user, call_set: CallSet, db: Database) -> None:
    call_id = call_set.ids["dh1"]
    page = as_user("supervisor").get(f"/supervisor/calls/{call_id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "+8613800000001" in text  # the full number for the supervisor
    assert "menu=main, key=1" in text and "menu=category, key=2" in text
    assert 'id="recording"' in text and f"/supervisor/calls/{call_id}/recording" in text
    assert "kind-ticket-created" in text
    with db.sessions() as session:
        assert [e.action for e in audit_entries(session, target_id=call_id)] == ["call_detail"]


def test_hostile_caller_name_is_escaped_on_the_page(as_user, db: Database) -> None:
    from tests.supervisor.conftest import add_call

    call_id = add_call(db, "xss", minutes=1, number="13800000005", station="DH-JSHT",
                       caller_name="<script>alert(1)</script>")
    text = as_user("supervisor").get(f"/supervisor/calls/{call_id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
