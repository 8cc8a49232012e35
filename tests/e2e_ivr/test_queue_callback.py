"""Waiting in a hotline queue through the sandbox: the position announced in Mandarin, the callback
offer, and 1 leaving the queue for a callback that keeps the caller's turn."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hotline.sandbox.runner import Sandbox
from hotline.simulator.calls import Simulator
from hotline.simulator.script import dtmf, wait
from tests.e2e_ivr.conftest import played_on
from tests.e2e_ivr.helpers import keys_then_repeat, ticket

SEAT = "agent01"
SEWER = [wait(1.5), dtmf("4"), wait(1.5), dtmf("1")]


def test_waiting_callers_hear_position_and_offer_in_mandarin_and_1_books_a_callback(  # type: ignore[no-untyped-def]
        simulator: Simulator, ivr_agi, ivr_store, pbx: Sandbox) -> None:
    # One agent whose phone rings and is never answered: the first caller waits at the head of the
    # queue (ringing), the second behind them.
    simulator.agent_never_answers(SEAT)
    with queue_wait(simulator, 90), logged_in(simulator, SEAT, "hotline-general"):
        first = simulator.start_call(caller="13800000301", steps=SEWER, hold=70)
        assert first.answered(10)
        time.sleep(4)  # the same IVR path: the second caller reaches the queue after the first
        second = simulator.start_call(
            # 1 from 56 s on: after the first periodic offer (it comes 20 s after joining, ~28 s in)
            caller="13800000302", steps=keys_then_repeat(SEWER, "1", start=56, every=2.0, count=10), hold=80)
        first_result, second_result = first.result(), second.result()

    # The second caller: waited behind the first, heard "您现在排在第 二 位" in Mandarin, pressed 1.
    assert second_result.queue == "hotline-general", second_result
    sounds = played_on(pbx, second_result.hotline_channel)
    assert ("queue-thereare", "zh") in sounds and ("digits/2", "zh") in sounds
    assert ("queue-callswaiting", "zh") in sounds
    assert sounds.index(("queue-thereare", "zh")) < sounds.index(("digits/2", "zh"))
    assert ("hotline/queue_wait_hint", "zh") in sounds  # told about the key before waiting
    assert ("hotline/callback_offer", "zh") in sounds  # and again while waiting
    variables = second_result.variables
    assert variables["HOTLINE_OUTCOME"] == "callback" and second_result.ended_by == "hotline"
    assert ("hotline/callback_recorded", "zh") in sounds
    booked = ticket(ivr_store, variables["HOTLINE_TICKET"])
    assert booked is not None and booked.callback_requested
    assert booked.callback_queue == "hotline-general"
    assert booked.callback_queue_entered_at is not None and booked.callback_requested_at is not None
    waited = booked.callback_requested_at - booked.callback_queue_entered_at
    assert dt.timedelta(0) < waited < dt.timedelta(seconds=60)
    # entered after the first caller (their turn is kept: the scheduler serves the earlier one first)
    assert second_result.queue_joined_after is not None
    assert queue_log_has(pbx, second_result.hotline_uniqueid, "EXITWITHKEY|1")

    # The first caller: at the head of the queue with the agent free, rung at once: no announcement
    # (app_queue would play it before ringing) and no hint about the callback key.
    first_sounds = played_on(pbx, first_result.hotline_channel)
    assert ("queue-youarenext", "zh") not in first_sounds
    assert ("hotline/queue_wait_hint", "zh") not in first_sounds
    assert first_result.variables["HOTLINE_OUTCOME"] == "queued"
    assert not ticket(ivr_store, first_result.variables["HOTLINE_TICKET"]).callback_requested  # type: ignore[union-attr]


@contextmanager
def queue_wait(simulator: Simulator, seconds: int) -> Iterator[None]:
    """Let callers wait ``seconds`` in a queue (the session's sandbox is set to 20 s) for a while."""
    before = simulator.ami.action("Getvar", Variable="HOTLINE_QUEUE_WAIT").get("Value", "20") or "20"
    simulator.ami.action("Setvar", Variable="HOTLINE_QUEUE_WAIT", Value=str(seconds))
    try:
        yield
    finally:
        simulator.ami.action("Setvar", Variable="HOTLINE_QUEUE_WAIT", Value=before)


@contextmanager
def logged_in(simulator: Simulator, seat: str, queue: str) -> Iterator[None]:
    """The seat is a member of the queue for a while."""
    simulator.login_agent(seat, queue)
    try:
        yield
    finally:
        simulator.logout_agent(seat, queue)


def queue_log_has(pbx: Sandbox, uniqueid: str, event: str) -> bool:
    """Whether queue_log has ``event`` (``NAME|data…``) for the call."""
    lines = pbx.layout.queue_log.read_text(encoding="utf-8", errors="replace").splitlines()
    return any(f"|{uniqueid}|" in line and f"|{event}" in line for line in lines)
