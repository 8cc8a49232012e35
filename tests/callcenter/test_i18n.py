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


def message_ids(root: Path) -> dict[str, set[str]]:
    """Every ``_("…")`` message id in the templates and Python modules under ``root`` (subfolders
    too: supervisor/, scheduler/, …), with the files it appears in."""
    ids: dict[str, set[str]] = {}
    for path in [*root.rglob("*.html"), *root.rglob("*.py")]:
        for match in MESSAGE.finditer(path.read_text(encoding="utf-8")):
            ids.setdefault(match.group(1) or match.group(2), set()).add(str(path.relative_to(root)))
    return ids


def test_every_message_id_has_a_chinese_translation() -> None:
    ids = message_ids(CALLCENTER)
    missing = {i: sorted(where) for i, where in ids.items() if i not in ZH}
    assert ids and missing == {}
    assert "Queue position" in ids  # templates/supervisor/call.html


def test_the_scan_reads_python_modules_in_subfolders(tmp_path: Path) -> None:
    (tmp_path / "supervisor").mkdir()
    (tmp_path / "supervisor" / "views.py").write_text('flash(_("Report ready."))\n', encoding="utf-8")
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "jobs.py").write_text("label = _('Callback due')\n", encoding="utf-8")
    assert message_ids(tmp_path) == {"Report ready.": {"supervisor/views.py"},
                                     "Callback due": {"scheduler/jobs.py"}}


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
