"""The IVR's menus through the sandbox with real SIP calls: the status query, invalid and missing
digits, hang-ups at each stage, a sub-service whose prompt was never rendered, and the same call
running the IVR twice.

The calls are independent, so they run at the same time, once for the module (``menu_calls``); each
test then checks its own calls.  This keeps the folder within a few minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from agi_scripts.server import serve_in_thread
from hotline.commands.agi import build_server
from hotline.config import Settings
from hotline.runtime import sessions_for
from hotline.sandbox.runner import Sandbox
from hotline.simulator.calls import CallResult, PendingCall, Simulator
from hotline.simulator.probe_agi import ProbeAgiServer
from hotline.simulator.script import Step, dtmf, hangup, wait
from models.calls import call_by_uniqueid
from models.entities import Call, ServiceCategory, SubService
from models.enums import CallOutcome, Channel
from models.tickets import TicketRequest, open_ticket
from tests.e2e_ivr.conftest import played_on
from tests.e2e_ivr.helpers import call_record, read_store, ticket, tickets_of_call


def steps(*items: str | float) -> list[Step]:
    """``"4"`` presses, a number waits, ``"h"`` hangs up."""
    return [wait(i) if isinstance(i, float | int) else hangup() if i == "h" else dtmf(i) for i in items]


PRESS_7 = [x for _ in range(8) for x in ("7", 2.5)]
SCRIPTS: dict[str, tuple[str, list[Step], float]] = {  # name: (caller, steps, hold)
    # the status query: a number keyed in; a returning caller who hears the welcome, then presses 9
    "status-keyed": ("13800000410", steps(1.5, "9", 2.0), 60),  # + the ticket number and #
    "status-returning": ("13800000411", steps(10.0, "9"), 60),
    # "#" turns to page 2 (6 categories); 7 is no choice there: three times, then an operator
    "invalid": ("13800000420", steps(1.5, "#", 2.5, *PRESS_7), 20),
    # page 2, then silence (a whole page and the time-out), then two invalid keys: an operator
    "missing": ("13800000421", steps(1.5, "#", 60.0, *PRESS_7), 20),
    "hangup-welcome": ("13800000422", steps(2.0, "h"), 1),
    "hangup-category": ("13800000423", steps(1.5, "#", 3.0, "h"), 1),
    "hangup-service": ("13800000424", steps(1.5, "4", 3.0, "h"), 1),
    "hangup-number": ("13800000425", steps(1.5, "9", 2.0, "26", 1.0, "h"), 1),
    # DRAIN, page 2 of its sub-menu: the new service is read as "this service", key 1 chooses it
    "unrendered": ("13800000426", steps(1.5, "4", 1.5, "#", 11.0, "1"), 32),
    # DRAIN-SEWER; the test sends the channel back to the dialplan's start, then the same keys again
    "retried": ("13800000430", steps(1.5, "4", 1.5, "1", 11.0, "4", 1.5, "1"), 32),
}


@dataclass
class MenuCalls:
    """What the module's calls left: results by name, and what the test observed on the way."""

    results: dict[str, CallResult]
    status_ticket: str
    unrendered_code: str
    missing_prompts: list[str]
    retried_first: Call | None = None
    redirect_reply: dict[str, str] = field(default_factory=dict)


def opened_ticket(settings: Settings, contact: str) -> str:
    """A ticket opened (as the console or an earlier call would) for ``contact``; its number."""
    engine, sessions = sessions_for(settings)
    try:
        with sessions.begin() as session:
            return open_ticket(session, TicketRequest(channel=Channel.PHONE, sub_service_code="UTIL-LEAK",
                                                      contact_number=contact), actor="test").number
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def unrendered_service(ivr_store: Settings) -> Iterator[str]:
    """A tenth DRAIN sub-service added to the catalogue after the prompts were built (no sound file)."""
    code = f"DRAIN-T{os.getpid() % 100000}"
    engine, sessions = sessions_for(ivr_store)
    with sessions.begin() as session:
        drain = session.scalars(select(ServiceCategory).where(ServiceCategory.code == "DRAIN")).one()
        session.add(SubService(code=code, category_id=drain.id, name_zh="测试疏通", name_en="Test drain", position=10,
                               keywords_zh=[], keywords_en=[], sla_dispatch_minutes=30, sla_complete_minutes=240))
    try:
        yield code
    finally:
        with sessions.begin() as session:
            session.scalars(select(SubService).where(SubService.code == code)).one().retired = True
        engine.dispose()


@pytest.fixture(scope="module")
def menu_calls(simulator: Simulator, ivr_store: Settings, fastagi_probe: ProbeAgiServer,
               unrendered_service: str) -> Iterator[MenuCalls]:
    """Every call of this module at once, through the project's FastAGI server."""
    number = opened_ticket(ivr_store, "+8613800000411")
    fastagi_probe.stop()
    server = build_server(ivr_store)
    thread = serve_in_thread(server)
    try:
        pending: dict[str, PendingCall] = {}
        for name, (caller, script, hold) in SCRIPTS.items():
            keyed = [dtmf(number + "#")] if name == "status-keyed" else []
            pending[name] = simulator.start_call(caller=caller, steps=[*script, *keyed], hold=hold)
        retried_first, reply = redirect_once_ticketed(simulator, pending["retried"], ivr_store)
        results = {name: call.result() for name, call in pending.items()}
        yield MenuCalls(results, number, unrendered_service, server.prompts.missing(), retried_first, reply)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        fastagi_probe.start()


def redirect_once_ticketed(simulator: Simulator, call: PendingCall, settings: Settings) -> tuple[Call, dict[str, str]]:
    """When the IVR has opened the call's ticket (it is reading the number out), send the channel
    back to the start of the dialplan: Asterisk runs the ``ivr`` route again on the same channel
    (same uniqueid and linkedid), as a retried call would."""
    channel, uniqueid = call.hotline_side()
    first = call_record(settings, uniqueid, lambda c: c.ticket_id is not None, timeout=15)
    reply = simulator.ami.action("Redirect", Channel=channel, Context="from-carrier", Exten="96345", Priority="1")
    return first, dict(reply)


def sounds(pbx: Sandbox, channel: str) -> list[str]:
    """The Mandarin sounds played on a channel, hotline/ prefix dropped."""
    return [name.removeprefix("hotline/") for name, language in played_on(pbx, channel) if language == "zh"]


# -- the status query -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "asked"), [("status-keyed", True), ("status-returning", False)])
def test_the_status_is_spoken_for_a_keyed_number_and_a_returning_caller(  # type: ignore[no-untyped-def]
        menu_calls: MenuCalls, ivr_store, pbx: Sandbox, name: str, asked: bool) -> None:
    result = menu_calls.results[name]
    assert result.variables["HOTLINE_OUTCOME"] == "status" and result.ended_by == "hotline", result
    said = sounds(pbx, result.hotline_channel)
    assert ("status_enter_number" in said) is asked and ("returning_open_ticket" in said) is not asked
    start = said.index("status_prefix") + 1
    assert said[start:start + 10] == [f"num/{d}" for d in menu_calls.status_ticket]  # the number spoken back
    assert said[start + 10] == "status_accepted" and said[-1] == "goodbye"
    record = call_record(ivr_store, result.hotline_uniqueid, lambda c: c.outcome is CallOutcome.STATUS_QUERY)
    assert record.ticket_id is None


# -- invalid and missing digits ------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "digits"), [("invalid", "#777"), ("missing", "#77")])
def test_invalid_or_missing_digits_retry_with_a_clearer_prompt_then_an_operator(  # type: ignore[no-untyped-def]
        menu_calls: MenuCalls, ivr_store, pbx: Sandbox, name: str, digits: str) -> None:
    result = menu_calls.results[name]
    assert result.variables["HOTLINE_OUTCOME"] == "agent", result.ivr_variables()
    assert result.variables["HOTLINE_QUEUE"] == "general" and "HOTLINE_TICKET" not in result.variables
    said = sounds(pbx, result.hotline_channel)
    assert "retry_clearer" in said and "too_many_attempts" in said, said
    assert said.count("invalid_input") == len(digits) - 1
    assert ("no_input" in said) is (name == "missing")
    record = call_record(ivr_store, result.hotline_uniqueid, lambda c: bool(c.ivr_path))
    assert record.ivr_path[-1]["digits"] == digits and record.ivr_path[-1]["outcome"] == "agent"


# -- hang-ups --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "digits", "last_step"), [
    ("hangup-welcome", "", "welcome"), ("hangup-category", "#", "main_menu"), ("hangup-service", "4", "sub_menu"),
    ("hangup-number", "9", "status")])
def test_a_hangup_at_each_stage_is_abandoned_in_the_ivr_with_the_digits_so_far(  # type: ignore[no-untyped-def]
        menu_calls: MenuCalls, ivr_store, name: str, digits: str, last_step: str) -> None:
    result = menu_calls.results[name]
    assert result.ended_by == "caller", result
    record = call_record(ivr_store, result.hotline_uniqueid, lambda c: c.outcome is CallOutcome.ABANDONED_IVR)
    assert record.ticket_id is None and tickets_of_call(ivr_store, result.hotline_uniqueid) == []  # no half ticket
    assert record.ivr_path[-1]["digits"] == digits, record.ivr_path
    assert record.ivr_path[-1]["steps"].split(">")[-1] == last_step, record.ivr_path


# -- a sub-service added after the prompts were built --------------------------------------------------------------

def test_a_service_without_a_prompt_file_is_read_as_this_service_and_can_be_chosen(  # type: ignore[no-untyped-def]
        menu_calls: MenuCalls, ivr_store, pbx: Sandbox) -> None:
    result, code = menu_calls.results["unrendered"], menu_calls.unrendered_code
    assert result.variables["HOTLINE_OUTCOME"] == "queued", result.ivr_variables()
    said = sounds(pbx, result.hotline_channel)
    assert "menu_option" in said and f"svc/{code}" not in said
    chosen = ticket(ivr_store, result.variables["HOTLINE_TICKET"])
    assert chosen is not None and chosen.sub_service is not None and chosen.sub_service.code == code
    assert f"zh/svc/{code}" in menu_calls.missing_prompts


# -- the same call through the IVR twice -------------------------------------------------------------------------

def test_the_same_call_running_the_ivr_again_keeps_one_ticket(menu_calls: MenuCalls, ivr_store) -> None:  # type: ignore[no-untyped-def]
    result, first = menu_calls.results["retried"], menu_calls.retried_first
    assert menu_calls.redirect_reply.get("Response") == "Success", menu_calls.redirect_reply
    assert first is not None and result.variables["HOTLINE_OUTCOME"] == "queued", result.ivr_variables()
    again = call_record(ivr_store, result.hotline_uniqueid,
                        lambda c: sum(1 for step in c.ivr_path if step["outcome"] == "queued") >= 2)
    assert again.ticket_id == first.ticket_id  # both runs of the route: one record, one ticket
    assert [t.id for t in tickets_of_call(ivr_store, result.hotline_uniqueid)] == [first.ticket_id]
    assert ticket(ivr_store, result.variables["HOTLINE_TICKET"]).id == first.ticket_id  # type: ignore[union-attr]
    assert read_store(ivr_store, lambda s: call_by_uniqueid(s, result.hotline_uniqueid)).linkedid == first.linkedid  # type: ignore[union-attr]
