"""The follow-up survey flow over the fake channel (pure logic), and its route's refusals."""

from __future__ import annotations

import pytest

from ivr.prompts import FIXED
from ivr.survey import SurveyFlow, SurveySettings
from tests.ivr.fakes import HANGUP, Barge, FakeChannel

QUICK = SurveySettings(digit_timeout_ms=100, max_retries=2)


def run(script: list[object], language: str = "zh") -> tuple[FakeChannel, object]:
    channel = FakeChannel(script)
    answers = SurveyFlow(channel, QUICK, language).run()
    return channel, answers


def test_rating_and_solved_are_asked_and_thanked() -> None:
    channel, answers = run(["4", "1"])
    assert (answers.rating, answers.solved, answers.agent, answers.hung_up) == (4, True, False, False)
    assert channel.played == ["survey_intro", "survey_rating", "survey_solved", "survey_thanks"]
    assert channel.language == "zh" and channel.variables["HOTLINE_OUTCOME"] == "surveyed"


def test_a_low_rating_or_not_solved_hears_that_the_request_is_reopened() -> None:
    channel, answers = run(["1", "1"])
    assert answers.rating == 1 and answers.is_low(2)
    assert channel.played[-2:] == ["survey_reopen", "survey_thanks"]
    channel, answers = run(["5", "2"])
    assert answers.solved is False and answers.is_low(2)
    assert channel.played[-2:] == ["survey_reopen", "survey_thanks"]


def test_a_rating_keyed_during_the_introduction_is_taken() -> None:
    channel, answers = run([Barge("3"), "1"])
    assert answers.rating == 3 and "survey_rating" not in channel.played


@pytest.mark.parametrize("bad", ["7", "*", "#", "9"])
def test_invalid_and_missing_keys_are_retried_then_the_answer_is_taken(bad: str) -> None:
    channel, answers = run([bad, None, "5", "1"])
    assert answers.rating == 5 and answers.solved is True
    assert channel.played[:6] == ["survey_intro", "survey_rating", "invalid_input", "survey_rating", "no_input",
                                  "survey_rating"]


def test_retries_are_bounded_and_nothing_is_made_up() -> None:
    channel, answers = run(["8", "8", "8", "8", "8"])
    assert answers.rating is None and answers.solved is None and not answers.agent
    assert channel.played.count("survey_rating") == QUICK.max_retries + 1
    assert channel.played[-1] == "survey_unavailable"
    assert "HOTLINE_OUTCOME" not in channel.variables


def test_zero_asks_for_an_agent_in_the_general_queue() -> None:
    channel, answers = run(["0"])
    assert answers.agent and answers.rating is None
    assert channel.variables == {"HOTLINE_QUEUE": "general", "HOTLINE_OUTCOME": "agent"}
    channel, answers = run(["2", "0"])  # rated, then an agent instead of "solved?"
    assert answers.agent and answers.rating == 2 and answers.solved is None


def test_a_hangup_keeps_the_answers_so_far() -> None:
    _channel, answers = run(["4", HANGUP])
    assert answers.hung_up and answers.rating == 4 and answers.solved is None
    _channel, answers = run([HANGUP])
    assert answers.hung_up and answers.rating is None


def test_english_and_unknown_languages() -> None:
    channel, _ = run(["4", "1"], language="en")
    assert channel.language == "en"
    channel, _ = run(["4", "1"], language="xx\n")
    assert channel.language == "zh"


def test_every_survey_prompt_has_both_languages() -> None:
    keys = ["survey_intro", "survey_rating", "survey_solved", "survey_thanks", "survey_reopen", "survey_already",
            "survey_unavailable", "callback_calling", "transfer_agent", "no_input", "invalid_input"]
    for key in keys:
        assert FIXED[key]["zh"].strip() and FIXED[key]["en"].strip()
