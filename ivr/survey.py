"""The follow-up survey (回访) as a small bounded flow over the :class:`~ivr.ports.CallChannel` port.

The scheduler calls the resident after a completed job; when they answer, the ``survey`` route
runs this flow:

1. "this is 96345 about your recent request" (a rating keyed during it is taken at once);
2. a rating of the provider's service, 1–5 (0: speak to an operator);
3. whether the problem is solved, 1 yes / 2 no (0: speak to an operator);
4. thanks — or, for a rating of ``low_rating_max`` or less or "not solved", an apology saying the
   request is reopened.

A missing or invalid key is answered with "sorry" and the question again, at most
``max_retries`` times; then the flow ends with what it has.  A hangup at any point ends it too:
the answers so far are returned and stored by the route (nothing half-written).  Pressing 0 sets
``HOTLINE_OUTCOME=agent`` and ``HOTLINE_QUEUE=general`` for the dialplan to queue the resident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ivr.ports import CallChannel, CallerHungUp

AGENT_KEY = "0"
RATING_KEYS = "12345"
SOLVED_KEYS = "12"


@dataclass(frozen=True)
class SurveySettings:
    """Timing, retry budget and the low-rating threshold (from the hotline settings)."""

    digit_timeout_ms: int = 6000
    max_retries: int = 2
    low_rating_max: int = 2


@dataclass
class SurveyAnswers:
    """What the resident keyed."""

    rating: int | None = None
    solved: bool | None = None
    agent: bool = False
    hung_up: bool = False
    keys: str = ""

    def is_low(self, low_rating_max: int) -> bool:
        """A rating at or below the threshold, or "not solved": the ticket is reopened."""
        return (self.rating is not None and self.rating <= low_rating_max) or self.solved is False


class SurveyFlow:
    """Asks the survey's questions and returns the answers (see the module docstring)."""

    def __init__(self, channel: CallChannel, settings: SurveySettings | None = None, language: str = "zh",
                 step_log: Callable[..., None] | None = None) -> None:
        self.channel = channel
        self.settings = settings or SurveySettings()
        self.language = language if language in ("zh", "en") else "zh"
        self._log = step_log or (lambda *args, **kwargs: None)
        self.answers = SurveyAnswers()

    def run(self) -> SurveyAnswers:
        """Run the survey to its end or the resident's hangup."""
        try:
            self.channel.set_language(self.language)
            early = self.channel.play(["survey_intro"], AGENT_KEY + RATING_KEYS)
            self._ask_rating(early)
            if self.answers.rating is not None and not self.answers.agent:
                self._ask_solved()
            self._close()
        except CallerHungUp:
            self.answers.hung_up = True
        self._log("step=survey rating=%s solved=%s agent=%s hung_up=%s keys=%s", self.answers.rating,
                  self.answers.solved, self.answers.agent, self.answers.hung_up, self.answers.keys or "-")
        return self.answers

    def _ask(self, prompt: str, valid: str, early: str = "") -> str | None:
        """One key from ``valid`` or 0 (``early``: keyed during the introduction); ``None`` after the
        retries are used up."""
        if early:
            self.answers.keys += early
            return early
        prefix: list[str] = []
        for _ in range(self.settings.max_retries + 1):
            entry = self.channel.collect_digits([*prefix, prompt], 1, self.settings.digit_timeout_ms)
            key = entry.digits[:1]
            self.answers.keys += key or "-"
            if key == AGENT_KEY or (key and key in valid):
                return key
            prefix = ["invalid_input" if key else "no_input"]
        return None

    def _ask_rating(self, early: str) -> None:
        key = self._ask("survey_rating", RATING_KEYS, early)
        if key == AGENT_KEY:
            self.answers.agent = True
        elif key is not None:
            self.answers.rating = int(key)

    def _ask_solved(self) -> None:
        key = self._ask("survey_solved", SOLVED_KEYS)
        if key == AGENT_KEY:
            self.answers.agent = True
        elif key is not None:
            self.answers.solved = key == "1"

    def _close(self) -> None:
        if self.answers.agent:
            self.channel.set_variable("HOTLINE_QUEUE", "general")
            self.channel.set_variable("HOTLINE_OUTCOME", "agent")
            self.channel.play(["transfer_agent"])
            return
        if self.answers.rating is None:
            self.channel.play(["survey_unavailable"])
            return
        if self.answers.is_low(self.settings.low_rating_max):
            self.channel.play(["survey_reopen", "survey_thanks"])
        else:
            self.channel.play(["survey_thanks"])
        self.channel.set_variable("HOTLINE_OUTCOME", "surveyed")
