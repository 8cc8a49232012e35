"""The workspace's one live poll: 204 when nothing changed, only the changed parts otherwise."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask

from models.console import add_screen_pop
from tests.callcenter.conftest import Browser, login, make_app, user_id
from tests.plugins.db import Database

VERSION = re.compile(r'id="v-(\w+)" name="v_\w+" value="([^"]*)"')


@pytest.fixture
def app(db: Database) -> Flask:
    """The console without the short reuse of shared list versions (a change shows at the next poll)."""
    return make_app(db, LIVE_SHARED_SECONDS=0)


def _poll(browser: Browser, versions: dict[str, str]):  # type: ignore[no-untyped-def]
    response = browser.get("/agent/live", query_string={f"v_{k}": v for k, v in versions.items()})
    if response.status_code == 200:
        versions.update(VERSION.findall(response.get_data(as_text=True)))
    return response


def _workspace_versions(browser: Browser) -> dict[str, str]:
    return dict(VERSION.findall(browser.get("/agent").get_data(as_text=True)))


def test_first_poll_sends_every_part_then_nothing_until_a_change(app: Flask, make_ticket: Callable[..., int]) -> None:
    agent = login(app, "agent01")
    versions = _workspace_versions(agent)
    assert set(versions) == {"state", "queues", "waiting", "mine", "active"}

    first = _poll(agent, versions)
    body = first.get_data(as_text=True)
    assert first.status_code == 200
    for dom_id in ("queues", "waiting", "mine", "active"):
        assert f'id="{dom_id}" hx-swap-oob="true"' in body
    assert 'id="agent-state"' not in body  # the page already shows the state it was rendered with
    assert _poll(agent, versions).status_code == 204

    ticket_id = make_ticket("DH-JSHT", "APPL-TV", description="新工单")
    changed = _poll(agent, versions)
    body = changed.get_data(as_text=True)
    assert changed.status_code == 200 and f"waiting-ticket-{ticket_id}" in body
    assert 'id="mine"' not in body and 'id="queues"' not in body
    assert _poll(agent, versions).status_code == 204

    agent.post(f"/tickets/{ticket_id}/claim")
    body = _poll(agent, versions).get_data(as_text=True)
    assert f"mine-ticket-{ticket_id}" in body and f"waiting-ticket-{ticket_id}" not in body


def test_another_station_does_not_see_the_ticket_or_its_changes(app: Flask, make_ticket: Callable[..., int]) -> None:
    town_agent = login(app, "ld-agent")
    versions = _workspace_versions(town_agent)
    _poll(town_agent, versions)
    make_ticket("DH-JSHT", "APPL-TV", description="当湖的工单")
    assert _poll(town_agent, versions).status_code == 204


def test_a_state_change_is_not_sent_again_by_the_poll(app: Flask) -> None:
    agent = login(app, "agent01")
    versions = _workspace_versions(agent)
    _poll(agent, versions)
    response = agent.post("/agent/state", data={"state": "paused", "reason": "meal"})
    versions.update(VERSION.findall(response.get_data(as_text=True)))
    assert _poll(agent, versions).status_code == 204


def test_a_reopened_workspace_shows_the_stored_state_with_the_version_the_poll_computes(app: Flask) -> None:
    agent = login(app, "agent01")
    agent.post("/agent/state", data={"state": "paused", "reason": "meal"})
    versions = _workspace_versions(agent)  # the state is read once and its version derived from it
    body = _poll(agent, versions).get_data(as_text=True)
    assert 'id="agent-state"' not in body  # same version: the poll does not send the state again
    agent.post("/agent/state", data={"state": "available"})  # e.g. from another tab
    assert 'id="agent-state"' in _poll(agent, versions).get_data(as_text=True)


def test_a_waiting_screen_pop_is_announced_and_taken_by_post(app: Flask, db: Database,
                                                             make_ticket: Callable[..., int]) -> None:
    agent = login(app, "agent01")
    versions = _workspace_versions(agent)
    _poll(agent, versions)
    ticket_id = make_ticket("DH-JSHT", "APPL-TV")
    with db.sessions.begin() as session:
        add_screen_pop(session, user_id(db, "agent01"), ticket_id, uniqueid="1700000000.1")
    announced = _poll(agent, versions)
    assert announced.headers.get("HX-Trigger") == "hotline-pop"
    taken = agent.post("/agent/pop")
    assert taken.headers["HX-Redirect"].startswith(f"/tickets/{ticket_id}")
    assert _poll(agent, versions).status_code == 204


def test_the_lists_read_the_services_names_but_not_their_keyword_lists(db: Database,
                                                                       make_ticket: Callable[..., int]) -> None:
    from sqlalchemy import inspect

    from callcenter.security import ConsoleUser
    from callcenter.workflow import waiting_tickets
    from models.enums import Role

    make_ticket("DH-JSHT", "APPL-TV")
    user = ConsoleUser(id=user_id(db, "agent01"), username="agent01", display_name="a", role=Role.AGENT,
                       station_id=1, worker_id=None, seat=None, language="zh", session_id="s", scope=None)
    with db.sessions() as session:
        ticket = next(t for t in waiting_tickets(session, user) if t.sub_service is not None)
        loaded = inspect(ticket.sub_service).dict
        assert {"code", "name_zh", "name_en"} <= set(loaded) and "keywords_zh" not in loaded  # JSON left unparsed
        assert ticket.sub_service.keywords_zh  # still there when something asks for it
