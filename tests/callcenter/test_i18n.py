"""Both UI languages work; every message has its Chinese; times are shown in Asia/Shanghai."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from flask import Flask

from callcenter.i18n_zh import ZH
from models.entities import Ticket
from tests.callcenter.conftest import login, ticket_maker
from tests.plugins.db import Database

CALLCENTER = Path(__file__).resolve().parents[2] / "callcenter"
MESSAGE = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def test_every_message_id_has_a_chinese_translation() -> None:
    ids = set()
    for path in [*CALLCENTER.rglob("*.html"), *CALLCENTER.glob("*.py")]:
        for match in MESSAGE.finditer(path.read_text(encoding="utf-8")):
            ids.add(match.group(1) or match.group(2))
    missing = sorted(i for i in ids if i not in ZH)
    assert ids and missing == []


def test_chinese_by_default_english_on_request(sqlite_app: Flask) -> None:
    agent = login(sqlite_app, "agent01")
    assert "工作台" in agent.get("/agent").get_data(as_text=True)
    agent.post("/language", {"lang": "en", "next": "/agent"})
    page = agent.get("/agent").get_data(as_text=True)
    assert "Workspace" in page and "工作台" not in page
    assert agent.post("/language", {"lang": "fr"}).status_code == 400


def test_times_are_shown_in_shanghai(sqlite_app: Flask, sqlite_db: Database) -> None:
    ticket_id = ticket_maker(sqlite_db)(sub_service="APPL-TV")
    with sqlite_db.sessions.begin() as session:
        session.get_one(Ticket, ticket_id).updated_at = dt.datetime(2026, 1, 1, 23, 30, tzinfo=dt.UTC)
    agent = login(sqlite_app, "agent01")
    assert "01-02 07:30:00" in agent.get("/agent/fragments/waiting").get_data(as_text=True)
