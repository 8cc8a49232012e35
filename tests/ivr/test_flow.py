"""The call flow over fake ports: every path a resident can take through the IVR."""

from __future__ import annotations

import threading

import pytest

from ivr.flow import FlowSettings, IvrFlow
from ivr.ports import CallerHungUp, CallerProfile, CallInfo, Outcome, TicketStatus
from ivr.prompts import all_prompts
from tests.ivr.fakes import (
    HANGUP,
    Barge,
    FakeChannel,
    FakeRecognizer,
    FakeSink,
    PressWhileListening,
    Say,
    small_catalogue,
)

CATALOGUE = small_catalogue()
KEYPAD = FlowSettings(speech=False)


def run(script, sink=None, call=None, recognizer=None, settings=KEYPAD):  # type: ignore[no-untyped-def]
    channel = FakeChannel(script, call)
    sink = sink or FakeSink()
    result = IvrFlow(channel, sink, CATALOGUE, recognizer, settings).run()
    assert set(channel.played) <= set(all_prompts(CATALOGUE)), "every prompt played is in the catalogue"
    return result, channel, sink


def only_ticket(sink: FakeSink):  # type: ignore[no-untyped-def]
    assert len(sink.tickets) == 1
    return next(iter(sink.tickets.values()))


def test_keypad_path_to_a_ticket_in_the_right_queue() -> None:
    result, channel, sink = run(["4", "1", None])
    ref, request = only_ticket(sink)
    assert (request.category_code, request.service_code) == ("DRAIN", "DRAIN-SEWER")
    assert request.channel == "keypad"
    assert result.outcome is Outcome.QUEUED
    assert channel.variables == {"HOTLINE_TICKET": ref.number, "HOTLINE_CATEGORY": "DRAIN",
                                 "HOTLINE_PRIORITY": "0", "HOTLINE_QUEUE": "general",
                                 "HOTLINE_OUTCOME": "queued"}
    assert list(channel.variables)[-1] == "HOTLINE_OUTCOME"
    assert channel.answered and channel.language == "zh"
    assert channel.played[:2] == ["welcome", "menu_intro"]
    assert "svc/DRAIN-SEWER" in channel.played and "ticket_opened" in channel.played
    assert sink.finished == [(channel.call.call_key, Outcome.QUEUED, result.path)]
    assert result.path.digits == "41"


def test_ticket_number_is_read_digit_by_digit() -> None:
    _, channel, sink = run(["4", "1", None])
    ref, _ = only_ticket(sink)
    start = channel.played.index("ticket_opened") + 1
    assert channel.played[start:start + len(ref.number)] == [f"num/{d}" for d in ref.number]


def test_a_category_with_one_service_needs_no_sub_menu() -> None:
    _, channel, sink = run(["5", None])
    _, request = only_ticket(sink)
    assert request.service_code == "LEGAL-ADVICE"
    assert "submenu_intro" not in channel.played


def test_fourteen_categories_are_paged_with_hash() -> None:
    _, channel, sink = run(["#", "6", "2", None])
    ref, request = only_ticket(sink)
    assert (request.category_code, request.service_code, ref.queue) == ("EMERG", "EMERG-LIFT", "emergency")
    first_page = channel.played[:channel.played.index("menu_more") + 1]
    assert "cat/C08" in first_page and "cat/C09" not in first_page


def test_sub_menu_with_ten_services_pages_too() -> None:
    _, _, sink = run(["1", "#", "1", None])
    _, request = only_ticket(sink)
    assert request.service_code == "C01-S10"


def test_star_in_a_sub_menu_goes_back_to_the_main_menu() -> None:
    _, _, sink = run(["4", "*", "5", None])
    assert only_ticket(sink)[1].category_code == "LEGAL"


def test_invalid_keys_retry_with_clearer_prompt_then_agent() -> None:
    result, channel, sink = run(["#", "7", "7", "7"])
    assert result.outcome is Outcome.AGENT and not sink.tickets
    assert channel.played.count("invalid_input") == 3
    assert "retry_clearer" in channel.played and "too_many_attempts" in channel.played
    assert channel.variables == {"HOTLINE_QUEUE": "general", "HOTLINE_OUTCOME": "agent"}
    assert sink.finished[0][1] is Outcome.AGENT and sink.finished[0][2].digits == "#777"


def test_missing_input_retries_then_agent() -> None:
    result, channel, _ = run([])
    assert result.outcome is Outcome.AGENT
    assert channel.played.count("no_input") == 3
    assert channel.played.count("menu_intro") == 3


def test_invalid_input_in_a_sub_menu_ends_with_a_category_ticket() -> None:
    result, channel, sink = run(["4", None, "9", None, None])
    _, request = only_ticket(sink)
    assert (request.category_code, request.service_code) == ("DRAIN", None)
    assert result.outcome is Outcome.QUEUED and "too_many_attempts" in channel.played


def test_paging_forever_is_bounded() -> None:
    result, channel, _ = run(["#"] * 500)
    assert result.outcome is Outcome.AGENT
    assert channel.operations <= FlowSettings().max_steps + 5


def test_zero_is_an_agent() -> None:
    result, channel, sink = run(["0", None])
    assert result.outcome is Outcome.AGENT and not sink.tickets
    assert channel.variables["HOTLINE_QUEUE"] == "general"


@pytest.mark.parametrize("script", [["0", "0"], ["4", "0", "0"], ["#", "0", "0"], ["9", "123", "0", "0"]])
def test_zero_zero_at_any_menu_is_an_emergency(script: list[str]) -> None:
    result, channel, sink = run(script)
    ref, request = only_ticket(sink)
    assert request.emergency and request.category_code == "EMERG"
    assert result.outcome is Outcome.EMERGENCY
    assert channel.variables["HOTLINE_QUEUE"] == "emergency"
    assert channel.variables["HOTLINE_OUTCOME"] == "emergency"
    assert channel.variables["HOTLINE_PRIORITY"] == str(ref.priority)
    assert "emergency_connecting" in channel.played


def test_keys_pressed_during_the_welcome_are_taken() -> None:
    _, channel, sink = run([Barge("4"), "1", None])
    assert only_ticket(sink)[1].service_code == "DRAIN-SEWER"
    assert "menu_intro" not in channel.played


def test_status_query_by_number() -> None:
    sink = FakeSink(statuses={"2612040007": TicketStatus("2612040007", "dispatched", "DRAIN")})
    result, channel, _ = run(["9", "2612040007", None], sink)
    assert result.outcome is Outcome.STATUS
    spoken = channel.played[channel.played.index("status_prefix"):]
    assert spoken[11:14] == ["status_dispatched", "cat/DRAIN", "status_provider"]
    assert channel.variables == {"HOTLINE_OUTCOME": "status"}
    assert "goodbye" in channel.played


def test_status_query_not_found_then_back_to_the_menu() -> None:
    _, channel, sink = run(["9", "123", "*", "5", None])
    assert "status_not_found" in channel.played
    assert only_ticket(sink)[1].category_code == "LEGAL"


def test_returning_caller_hears_the_open_ticket_offer_and_its_status_on_9() -> None:
    sink = FakeSink(profiles={"13800000001": CallerProfile(known=True, open_ticket="2612040003")},
                    statuses={"2612040003": TicketStatus("2612040003", "in_service")})
    _, channel, _ = run(["9", None], sink)
    assert "returning_open_ticket" in channel.played
    assert "status_enter_number" not in channel.played
    assert "status_in_service" in channel.played


def test_vulnerable_resident_gets_priority_and_the_emergency_key() -> None:
    sink = FakeSink(profiles={"13800000001": CallerProfile(known=True, vulnerable=True)})
    _, channel, _ = run(["4", "1", None], sink)
    ref, request = only_ticket(sink)
    assert request.priority_boost == 1 and ref.priority == 10
    assert channel.played[:2] == ["welcome", "welcome_vulnerable"]


@pytest.mark.parametrize("number", ["", "anonymous", 'x"\\$(id)'])
def test_anonymous_callers_still_get_a_ticket(number: str) -> None:
    call = CallInfo(uniqueid="5.5", caller_number=number)
    _, _, sink = run(["5", None], call=call)
    assert only_ticket(sink)[1].category_code == "LEGAL"


def test_description_is_recorded_and_linked() -> None:
    _, channel, sink = run(["4", "1", "1"])
    ref, _ = only_ticket(sink)
    assert sink.descriptions == {ref.number: "description-1700000000_1"}
    assert "describe_thanks" in channel.played


@pytest.mark.parametrize(("script", "digits"), [
    ([HANGUP], ""),
    (["#", HANGUP], "#"),
    (["4", HANGUP], "4"),
    (["4", "7", HANGUP], "47"),
    (["0", HANGUP], "0"),
    (["9", HANGUP], "9"),
])
def test_hangup_before_a_ticket_is_abandoned_with_the_digits(script: list[object], digits: str) -> None:
    result, _, sink = run(script)
    assert result.outcome is Outcome.ABANDONED and not sink.tickets
    assert len(sink.finished) == 1
    _, outcome, path = sink.finished[0]
    assert outcome is Outcome.ABANDONED and path.digits == digits


def test_hangup_after_the_ticket_keeps_the_whole_ticket() -> None:
    result, channel, sink = run(["4", "1", HANGUP])
    assert result.outcome is Outcome.QUEUED and result.ticket is not None
    assert len(sink.tickets) == 1 and sink.finished[0][1] is Outcome.QUEUED
    assert "HOTLINE_QUEUE" not in channel.variables


def test_the_same_call_retried_keeps_one_ticket() -> None:
    sink = FakeSink()
    call = CallInfo(uniqueid="7.1", linkedid="7.0", caller_number="13800000001")
    first, _, _ = run(["4", "1", None], sink, call)
    second, channel, _ = run(["4", "1", None], sink, call)
    assert len(sink.tickets) == 1
    assert first.ticket and second.ticket and first.ticket.number == second.ticket.number
    assert not second.ticket.created and channel.variables["HOTLINE_TICKET"] == first.ticket.number


# -- speech ------------------------------------------------------------------------------------

SPEECH = FlowSettings(speech=True, speech_language="zh")


def test_recognised_speech_is_confirmed_then_ticketed() -> None:
    recognizer = FakeRecognizer()
    result, channel, sink = run([Say("我家下水道堵了"), "1", None], recognizer=recognizer, settings=SPEECH)
    _, request = only_ticket(sink)
    assert (request.service_code, request.channel, request.recognised_text) == (
        "DRAIN-SEWER", "speech", "我家下水道堵了")
    i = channel.played.index("confirm_prefix")
    assert channel.played[i:i + 3] == ["confirm_prefix", "svc/DRAIN-SEWER", "confirm_suffix"]
    assert "menu_intro" not in channel.played
    assert "下水道" in recognizer.streams[0].phrases and "救命" in recognizer.streams[0].phrases
    assert result.path.speech == ["我家下水道堵了"]


@pytest.mark.parametrize("heard", [Say("下水道堵了", confidence=0.2), Say("今天天气很好")])
def test_low_confidence_or_no_match_falls_back_to_the_keypad(heard: Say) -> None:
    _, channel, sink = run([heard, "5", None], recognizer=FakeRecognizer(), settings=SPEECH)
    assert only_ticket(sink)[1].channel == "keypad"
    assert "speech_not_understood" in channel.played and "confirm_prefix" not in channel.played


def test_silence_goes_to_the_keypad_menu() -> None:
    _, channel, sink = run([None, "5", None], recognizer=FakeRecognizer(), settings=SPEECH)
    assert only_ticket(sink)[1].category_code == "LEGAL"
    assert "speech_not_understood" not in channel.played


def test_rejected_confirmation_goes_to_the_keypad_menu() -> None:
    _, _channel, sink = run([Say("马桶"), "2", "5", None], recognizer=FakeRecognizer(), settings=SPEECH)
    assert only_ticket(sink)[1].category_code == "LEGAL"


def test_a_spoken_category_leads_to_its_sub_menu() -> None:
    _, _, sink = run([Say("疏通"), "1", "2", None], recognizer=FakeRecognizer(), settings=SPEECH)
    assert only_ticket(sink)[1].service_code == "DRAIN-TOILET"


def test_an_emergency_word_opens_an_emergency_ticket() -> None:
    result, _, sink = run([Say("救命啊")], recognizer=FakeRecognizer(), settings=SPEECH)
    assert result.outcome is Outcome.EMERGENCY and only_ticket(sink)[1].emergency


def test_without_a_recognizer_the_flow_is_keypad_only() -> None:
    _, channel, _ = run(["5", None], settings=SPEECH)
    assert "speech_invite" not in channel.played


def test_a_key_pressed_instead_of_speaking_is_a_menu_choice() -> None:
    script = [PressWhileListening("4"), "1", None]
    _, channel, sink = run(script, recognizer=FakeRecognizer(), settings=SPEECH)
    assert only_ticket(sink)[1].service_code == "DRAIN-SEWER"
    assert "speech_invite" in channel.played and "menu_intro" not in channel.played


class FailingSink(FakeSink):
    def open_ticket(self, call, request):  # type: ignore[no-untyped-def]
        raise RuntimeError("store down")


def test_a_failure_finishes_the_call_as_an_error_and_still_raises() -> None:
    channel, sink = FakeChannel(["4", "1", None]), FailingSink()
    with pytest.raises(RuntimeError, match="store down"):
        IvrFlow(channel, sink, CATALOGUE, None, KEYPAD).run()
    assert [(outcome, path.digits) for _, outcome, path in sink.finished] == [(Outcome.ERROR, "41")]
    assert "HOTLINE_QUEUE" not in channel.variables  # the dialplan's fallback decides


class BrokenFinishSink(FailingSink):
    def finish_ivr(self, call, path, outcome):  # type: ignore[no-untyped-def]
        raise RuntimeError("store still down")


def test_a_store_that_cannot_even_record_the_failure_leaves_the_first_error() -> None:
    with pytest.raises(RuntimeError, match="store down"):
        IvrFlow(FakeChannel(["4", "1", None]), BrokenFinishSink(), CATALOGUE, None, KEYPAD).run()


class SlowLookupSink(FakeSink):
    """A store whose caller lookup ends only when the test says so (or fails when told to)."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.release = threading.Event()
        self.looked_up = threading.Event()
        self.fail = fail

    def lookup_caller(self, call):  # type: ignore[no-untyped-def]
        assert self.release.wait(5), "the test never released the lookup"
        self.looked_up.set()
        if self.fail:
            raise RuntimeError("store down at the welcome")
        return super().lookup_caller(call)


class WatchingChannel(FakeChannel):
    """Notes, for each prompt played, whether the caller lookup had ended by then."""

    def __init__(self, script, sink: SlowLookupSink, release_on: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(script)
        self.sink, self.release_on = sink, release_on
        self.lookup_done_at: dict[str, bool] = {}

    def play(self, prompts, escape_digits=""):  # type: ignore[no-untyped-def]
        for prompt in prompts:
            self.lookup_done_at.setdefault(prompt, self.sink.looked_up.is_set())
        if self.release_on in prompts:
            self.sink.release.set()
        return super().play(prompts, escape_digits)


def test_the_welcome_plays_while_the_caller_is_looked_up() -> None:
    sink = SlowLookupSink()
    channel = WatchingChannel(["4", "1", None], sink, release_on="welcome")
    result = IvrFlow(channel, sink, CATALOGUE, None, KEYPAD).run()
    assert channel.lookup_done_at["welcome"] is False  # no silence while the store answers
    assert result.outcome is Outcome.QUEUED and only_ticket(sink)[1].service_code == "DRAIN-SEWER"


def test_keys_pressed_ahead_are_not_held_up_by_a_slow_lookup() -> None:
    sink = SlowLookupSink()  # released only when the sub-menu plays: the main-menu key was taken before
    channel = WatchingChannel([Barge("4"), "1", None], sink, release_on="submenu_intro")
    result = IvrFlow(channel, sink, CATALOGUE, None, KEYPAD).run()
    assert channel.lookup_done_at["submenu_intro"] is False
    assert result.outcome is Outcome.QUEUED and only_ticket(sink)[1].service_code == "DRAIN-SEWER"
    assert sink.finished[0][1] is Outcome.QUEUED


def test_a_hangup_during_the_welcome_waits_for_the_lookup_before_recording_the_abandon() -> None:
    sink = SlowLookupSink()

    class HangsUpInWelcome(WatchingChannel):
        def play(self, prompts, escape_digits=""):  # type: ignore[no-untyped-def]
            super().play(prompts, escape_digits)
            raise CallerHungUp("gone during the welcome")

    channel = HangsUpInWelcome([], sink, release_on="welcome")
    result = IvrFlow(channel, sink, CATALOGUE, None, KEYPAD).run()
    assert result.outcome is Outcome.ABANDONED and sink.looked_up.is_set()
    assert [outcome for _, outcome, _ in sink.finished] == [Outcome.ABANDONED]


def test_a_lookup_that_fails_ends_the_call_as_an_error_for_the_human_fallback() -> None:
    sink = SlowLookupSink(fail=True)
    channel = WatchingChannel([None, None, None, None], sink, release_on="welcome")
    with pytest.raises(RuntimeError, match="store down at the welcome"):
        IvrFlow(channel, sink, CATALOGUE, None, KEYPAD).run()
    assert [outcome for _, outcome, _ in sink.finished] == [Outcome.ERROR]
