"""Headless Chromium (Debian's package) driven by Playwright: dispatch and the live map.

An agent logs in, claims a ticket and dispatches it; the provider, in a second browser context,
accepts, starts and completes the job; the agent's map shows that worker yellow → red → green
without a reload.  Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from models.entities import SubService, User, Worker, WorkerSkill
from models.enums import WorkerStatus
from tests.callcenter.conftest import ARTIFACTS, login_page, make_app, ticket_maker
from tests.plugins.db import Database

YELLOW, RED, GREEN = "#e6b800", "#d62728", "#2ca02c"

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(sqlite_db: Database) -> Iterator[str]:
    """The console on a threaded waitress server on a free loopback port."""
    from waitress import create_server

    app = make_app(sqlite_db, POLL_SECONDS=1)
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


def _marker_fill(page, worker_id: int, colour: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "([id, colour]) => { const p = document.querySelector('path.worker-' + id);"
        " return p && p.getAttribute('fill') === colour; }", arg=[worker_id, colour], timeout=4000)


def _setup(database: Database) -> tuple[int, int]:
    with database.sessions.begin() as session:
        worker_id = session.scalars(select(User.worker_id).where(User.username == "worker00001")).one()
        code = session.scalars(select(SubService.code).join(WorkerSkill, WorkerSkill.sub_service_id == SubService.id)
                               .where(WorkerSkill.worker_id == worker_id).order_by(SubService.id)).first()
        session.execute(update(Worker).where(Worker.id == worker_id).values(status=WorkerStatus.IDLE))
    ticket_id = ticket_maker(database)("DH-JSHT", code, description="卫生间水管漏水，请尽快上门",
                                       address="当湖街道金色华庭 3 幢 201", contact_number="13800000001")
    return worker_id, ticket_id


def test_dispatch_and_the_map_follows_the_provider(live_server: str, browser, sqlite_db: Database) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    worker_id, ticket_id = _setup(sqlite_db)
    agent_context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    agent = login_page(agent_context, live_server, "agent01")
    agent.wait_for_selector(f"#waiting-ticket-{ticket_id}", timeout=4000)  # the live list shows it
    agent.screenshot(path=str(ARTIFACTS / "01-agent-workspace.png"))
    agent.click(f"#waiting-ticket-{ticket_id} a")
    agent.click("#claim")
    agent.wait_for_selector(f"#candidate-{worker_id}", timeout=4000)
    agent.screenshot(path=str(ARTIFACTS / "02-ticket-candidates.png"), full_page=True)
    agent.click(f"#candidate-{worker_id} button.dispatch-button")
    agent.wait_for_selector("#flash .message")

    board = agent_context.new_page()
    board.goto(f"{live_server}/map")
    _marker_fill(board, worker_id, GREEN)  # offered but not accepted yet

    provider_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                           is_mobile=True, has_touch=True)
    provider = login_page(provider_context, live_server, "worker00001")
    provider.wait_for_selector("button.accept", timeout=4000)
    provider.screenshot(path=str(ARTIFACTS / "03-provider-offer.png"), full_page=True)
    provider.click("button.accept")
    _marker_fill(board, worker_id, YELLOW)
    board.screenshot(path=str(ARTIFACTS / "04-map-yellow.png"))
    provider.wait_for_selector("button.on-site", timeout=4000)
    provider.click("button.en-route")
    provider.wait_for_selector("button.on-site", timeout=4000)
    provider.click("button.on-site")
    _marker_fill(board, worker_id, RED)
    board.screenshot(path=str(ARTIFACTS / "05-map-red.png"))
    provider.wait_for_selector("textarea[name=report]", timeout=4000)
    provider.fill("textarea[name=report]", "更换水管接头，已试水无渗漏")
    provider.click("button.done")
    _marker_fill(board, worker_id, GREEN)
    board.screenshot(path=str(ARTIFACTS / "06-map-green.png"))
    provider.screenshot(path=str(ARTIFACTS / "07-provider-done.png"), full_page=True)

    agent.goto(f"{live_server}/tickets/{ticket_id}")
    assert "完工" in agent.inner_text("#ticket-status")
    agent.screenshot(path=str(ARTIFACTS / "08-ticket-completed.png"), full_page=True)
    agent_context.close()
    provider_context.close()
