"""Headless Chromium against the real PBX: a simulated call pops on the agent's screen.

The session's sandbox Asterisk runs the dialplan; its FastAGI ``ivr`` route opens the call's ticket
through the IVR's own ticket store and sets ``HOTLINE_TICKET`` / ``HOTLINE_QUEUE`` as the IVR does
(see :func:`ivr_opens_a_ticket`); the console runs on a threaded waitress server with its AMI
telephony connected to the sandbox.  An agent logs in,
becomes available (QueueAdd over AMI, checked in ``app_queue``), pauses with a reason (QueuePause,
checked), becomes available again; a call placed by the call simulator appears in the waiting
list while the agent's simulated phone rings, then the ticket pops on the agent's screen when the
phone answers, claimed by that agent; after the call the agent is in wrap-up, in the database and
in ``app_queue``.  Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agi_scripts.store import ModelsTicketSink
from callcenter import create_app
from callcenter.telephony import EXTENSION as TELEPHONY
from hotline.config import Settings, secret_from_file
from hotline.simulator.calls import Simulator
from hotline.simulator.probe_agi import ProbeAgiServer, ProbeSession
from ivr.ports import CallInfo, IvrPath, Outcome, ServiceRequest
from models.console import agent_state
from models.entities import Ticket, User
from tests.callcenter.conftest import ARTIFACTS, login_page
from tests.plugins.db import Database

pytestmark = [pytest.mark.browser, pytest.mark.pbx]

SEAT = "agent01"
CALLER = "13800000077"
CATEGORY, SERVICE = "APPL", "APPL-TV"  # what "1, 1" picks in the IVR menus: TV repair
QUEUES = ("general", "emergency", "elderly", "legal", "psychological", "marriage")


def _eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def ivr_opens_a_ticket(sessions: sessionmaker[Session]) -> Callable[[ProbeSession], None]:
    """A FastAGI ``ivr`` behaviour that ends as the IVR does after "1, 1" on the keypad.

    It records the call and opens its ticket through the IVR's own ticket store
    (:class:`agi_scripts.store.ModelsTicketSink`), stores the IVR path, and sets ``HOTLINE_TICKET``,
    ``HOTLINE_PRIORITY``, ``HOTLINE_QUEUE`` and ``HOTLINE_OUTCOME`` on the channel for the dialplan.
    (The project's IVR route itself cannot run here yet: the sandbox has no prompt files.)
    """
    sink = ModelsTicketSink(sessions)

    def behaviour(session: ProbeSession) -> None:
        env = session.call.env
        call = CallInfo(uniqueid=env["agi_uniqueid"], caller_number=env.get("agi_callerid", ""),
                        caller_name=env.get("agi_calleridname", ""), dialed_number=env.get("agi_extension", ""),
                        channel_name=env.get("agi_channel", ""))
        sink.lookup_caller(call)
        ticket = sink.open_ticket(call, ServiceRequest(category_code=CATEGORY, service_code=SERVICE))
        sink.finish_ivr(call, IvrPath(steps=["welcome", "main_menu", "sub_menu", "open_ticket"], digits="11"),
                        Outcome.QUEUED)
        session.set_variable("HOTLINE_TICKET", ticket.number)
        session.set_variable("HOTLINE_PRIORITY", str(ticket.priority))
        session.set_variable("HOTLINE_QUEUE", ticket.queue)
        session.set_variable("HOTLINE_OUTCOME", Outcome.QUEUED.value)

    return behaviour


def _console_app(settings: Settings, database: Database) -> Flask:
    """The console over ``database``, its AMI telephony pointed at the sandbox."""
    return create_app({
        "SESSION_FACTORY": database.sessions, "SECRET_KEY": "test-secret", "TESTING": True,
        "POLL_SECONDS": 1, "AMI_ENABLED": True, "AMI_HOST": settings.ami_host, "AMI_PORT": settings.ami_port,
        "AMI_USER": settings.ami_user,
        "AMI_SECRET": settings.ami_secret or secret_from_file(settings.data_dir, "ami-secret"),
    })


@pytest.fixture
def pbx_console(pbx_settings: Settings, simulator: Simulator, probe: ProbeAgiServer,
                sqlite_db: Database) -> Iterator[Flask]:
    """The console on a free loopback port over a seeded database, connected to the sandbox's AMI;
    the sandbox's FastAGI ``ivr`` route opens the call's ticket in that database."""
    from waitress import create_server

    probe.behaviours["ivr"] = ivr_opens_a_ticket(sqlite_db.sessions)
    app = _console_app(pbx_settings, sqlite_db)
    telephony = app.extensions[TELEPHONY]
    telephony.start()
    _eventually(lambda: telephony.connected, what="the console's AMI login")
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    app.config["TEST_BASE_URL"] = f"http://127.0.0.1:{server.effective_port}"
    try:
        yield app
    finally:
        for name in QUEUES:
            simulator.logout_agent(SEAT, f"hotline-{name}")
        simulator.agent_never_answers(SEAT)
        telephony.stop()
        server.close()
        thread.join(timeout=5)


def _member_line(simulator: Simulator, queue: str = "hotline-general") -> str:
    """The ``queue show`` line of the seat's membership in app_queue ('' when not a member)."""
    output = simulator.ami.command(f"queue show {queue}")
    return next((line for line in output.splitlines() if f"PJSIP/{SEAT}" in line), "")


def _set_state(page: Any, state: str, reason: str | None = None) -> None:
    if reason is not None:
        page.select_option("#agent-state select[name=reason]", reason)
    with page.expect_response(lambda r: r.url.endswith("/agent/state")):
        page.click(f"#agent-state button[value={state}]")


def _check_app_queue_states(page: Any, simulator: Simulator) -> None:
    _set_state(page, "available")
    line = _eventually(lambda: _member_line(simulator), what="QueueAdd in app_queue")
    assert "paused" not in line.lower(), line
    _set_state(page, "paused", "meal")
    line = _eventually(lambda: (found := _member_line(simulator)) and "paused" in found.lower() and found,
                       what="QueuePause in app_queue")
    assert "meal" in line, line
    assert "暂停" in page.inner_text("#agent-state") and "meal" in page.inner_text("#agent-state")
    page.screenshot(path=str(ARTIFACTS / "10-agent-paused.png"))
    _set_state(page, "available")
    _eventually(lambda: (found := _member_line(simulator)) and "paused" not in found.lower(),
                what="QueuePause(false) in app_queue")


def test_a_simulated_call_pops_on_the_agents_screen(pbx_console: Flask, browser: Any, simulator: Simulator) -> None:
    base = pbx_console.config["TEST_BASE_URL"]
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = login_page(context, base, SEAT)
    page.goto(f"{base}/agent")
    _check_app_queue_states(page, simulator)

    simulator.agent_answers(SEAT, ring=5.0, hold=6.0)  # rings long enough to be seen waiting
    call = simulator.start_call(caller=CALLER, name="王阿姨", digits="w1,1", hold=25)
    page.wait_for_function("() => document.querySelector('#queues').innerText.includes('138****0077')",
                           timeout=20000)
    page.screenshot(path=str(ARTIFACTS / "11-call-waiting.png"))

    page.wait_for_url(re.compile(r"/tickets/\d+\?pop=1$"), timeout=20000)
    page.wait_for_selector("#screen-pop")
    page.screenshot(path=str(ARTIFACTS / "12-screen-pop.png"), full_page=True)
    ticket_id = int(re.search(r"/tickets/(\d+)", page.url).group(1))  # type: ignore[union-attr]

    sessions = pbx_console.extensions["hotline_sessions"]
    with sessions() as session:
        ticket = session.get_one(Ticket, ticket_id)
        agent = session.scalars(select(User).where(User.username == SEAT)).one()
        assert ticket.claim_holder_id == agent.id, "the popped ticket is claimed by the agent"
        number = ticket.number
    assert number in page.inner_text("main")
    assert CALLER in page.inner_text("main")  # agents see the full number to call back
    assert "语音导航路径" in page.inner_text("main")  # the IVR path the caller took

    result = call.result()
    assert result.agent == SEAT
    assert result.variables.get("HOTLINE_TICKET") == number

    def wrapped_up() -> bool:
        with sessions() as session:
            return agent_state(session, agent.id).state == "wrapup"

    _eventually(wrapped_up, what="wrap-up after the call")
    line = _eventually(lambda: (found := _member_line(simulator)) and "paused" in found.lower() and found,
                       what="wrap-up pause in app_queue")
    assert "wrapup" in line, line
    page.goto(f"{base}/agent")
    assert "话后处理" in page.inner_text("#agent-state")
    page.screenshot(path=str(ARTIFACTS / "13-agent-wrapup.png"))
    context.close()
