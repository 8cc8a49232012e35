"""The service and community selects: rendered once per snapshot, language and scope, right for every page.

The options are escaped and joined once and only the ticket's choice is marked per page, so these
tests pin what a page shows: the ticket's current choice selected, only the user's stations, both
languages, names escaped, and a changed catalogue shown once its snapshot is read again.
"""

from __future__ import annotations

import re

from sqlalchemy import select, update

from callcenter.choices import EXTENSION, ChoicesCache
from models.entities import Station, SubService
from tests.callcenter.conftest import login, make_app, station_id, ticket_maker
from tests.plugins.db import Database

SELECTED = re.compile(r'<option value="([^"]*)"[^>]* selected>')


def _select(page: str, name: str) -> str:
    start = page.index(f'<select name="{name}"')
    return page[start:page.index("</select>", start)]


def test_the_tickets_choices_are_selected_and_only_the_users_stations_offered(db: Database) -> None:
    app = make_app(db)
    ticket_id = ticket_maker(db)("DH-JSHT", "LOCK-DOOR")
    agent = login(app, "agent01")
    page = agent.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert SELECTED.findall(_select(page, "sub_service_code")) == ["LOCK-DOOR"]
    assert SELECTED.findall(_select(page, "station_id")) == [str(station_id(db, "DH-JSHT"))]
    workspace = agent.get("/agent").get_data(as_text=True)
    assert SELECTED.findall(_select(workspace, "sub_service_code")) == []  # a new ticket: nothing chosen
    with db.sessions() as session:
        lindai = station_id(db, "LD")
        everywhere = {str(i) for i in session.scalars(select(Station.id).where(Station.parent_id.is_not(None)))}
        inside_lindai = {str(i) for i in session.scalars(select(Station.id).where(
            (Station.id == lindai) | (Station.parent_id == lindai)))}
    offered = set(re.findall(r'<option value="(\d+)"', _select(workspace, "station_id")))
    assert offered == everywhere  # the city sees every town and community
    ld_page = login(app, "ld-agent").get("/agent").get_data(as_text=True)
    assert set(re.findall(r'<option value="(\d+)"', _select(ld_page, "station_id"))) == inside_lindai


def test_names_are_escaped_follow_the_language_and_a_renamed_service_shows_with_the_next_snapshot(
        db: Database) -> None:
    app = make_app(db)
    app.extensions[EXTENSION] = ChoicesCache(ttl=0.0)  # every page reads the catalogue again
    ticket_id = ticket_maker(db)("DH-JSHT", "LOCK-DOOR")
    agent = login(app, "agent01")
    page = agent.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert ">开门锁</option>" in _select(page, "sub_service_code")
    with db.sessions.begin() as session:
        session.execute(update(SubService).where(SubService.code == "LOCK-DOOR")
                        .values(name_zh='开门锁<script>alert(1)</script>', name_en="Door & lock"))
    page = agent.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    services = _select(page, "sub_service_code")
    assert "开门锁&lt;script&gt;alert(1)&lt;/script&gt;" in services and "<script>" not in services
    assert SELECTED.findall(services) == ["LOCK-DOOR"]
    agent.post("/language", {"lang": "en", "next": "/agent"})
    english = _select(agent.get(f"/tickets/{ticket_id}").get_data(as_text=True), "sub_service_code")
    assert ">Door &amp; lock</option>" in english and "开门锁" not in english
    assert SELECTED.findall(english) == ["LOCK-DOOR"]


def test_a_snapshot_is_kept_for_its_time(db: Database) -> None:
    app = make_app(db)
    ticket_id = ticket_maker(db)("DH-JSHT", "LOCK-DOOR")
    agent = login(app, "agent01")
    agent.get(f"/tickets/{ticket_id}")
    with db.sessions.begin() as session:
        session.execute(update(SubService).where(SubService.code == "LOCK-DOOR").values(name_zh="新名字"))
    services = _select(agent.get(f"/tickets/{ticket_id}").get_data(as_text=True), "sub_service_code")
    assert ">开门锁</option>" in services  # within the snapshot's 30 s the old name stands (documented)
