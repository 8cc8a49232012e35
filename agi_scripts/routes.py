"""The routes Asterisk calls by name (``AGI(agi://host:4573/<route>)``).

Routes are thin: they take the :class:`~agi_scripts.server.AgiCall`, run an ``ivr`` flow over its
channel with the dependencies the entry point built, and leave channel variables for the dialplan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agi_scripts.callbacks import CallbackRequest, read_callback_request
from agi_scripts.server import AgiCall, Route
from ivr.catalogue import Catalogue
from ivr.flow import FlowSettings, IvrFlow
from ivr.ports import CallerHungUp, CallInfo, IvrPath, Outcome, Recognizer, TicketSink
from ivr.prompts import LANGUAGES
from ivr.status import StatusQuery
from ivr.survey import SurveyAnswers, SurveyFlow, SurveySettings
from models.base import utcnow
from models.surveys import SurveyOutcome, SurveyTarget

OUTCOME = "HOTLINE_OUTCOME"
CALLBACK_OUTCOME = "callback"


class CallbackStore(Protocol):
    """Where a waiting caller's callback request is recorded."""

    def book_callback(self, call: CallInfo, request: CallbackRequest) -> str | None:
        """Mark the call's ticket for a callback, keeping the caller's turn; its number, or None."""


@runtime_checkable
class SurveyStore(Protocol):
    """Where the follow-up survey finds its follow-up and stores the answers (``agi_scripts.store``)."""

    def survey_target(self, followup_id: str | None) -> SurveyTarget | None:
        """The follow-up named by the channel variable; None when malformed or unknown."""

    def record_survey(self, target: SurveyTarget, answers: SurveyAnswers) -> SurveyOutcome:
        """Store the answers once per follow-up."""


@dataclass
class IvrDependencies:
    """What the routes need, built once by the entry point."""

    sink: TicketSink
    catalogue: Callable[[], Catalogue]
    recognizer: Recognizer | None = None
    flow: FlowSettings = field(default_factory=FlowSettings)
    language: str = "zh"
    callbacks: CallbackStore | None = None
    surveys: SurveyStore | None = None  # None: the sink, when it is one (ModelsTicketSink is)


def fallback_ivr_route(call: AgiCall) -> None:
    """``ivr`` without a ticket store: answer and send the caller to the general queue."""
    call.channel.answer()
    call.log.info("step=fallback outcome=agent")
    call.channel.set_variable(OUTCOME, Outcome.AGENT.value)


def ivr_route(deps: IvrDependencies) -> Route:
    """The ``ivr`` route: the inbound call flow, from welcome to the queue's channel variables."""

    def route(call: AgiCall) -> None:
        try:
            catalogue = deps.catalogue()
        except Exception:
            _finish_as_error(deps, call, IvrPath(steps=["welcome"]))
            raise
        flow = IvrFlow(call.channel, deps.sink, catalogue, deps.recognizer, deps.flow,
                       deps.language, step_log=call.log.info)
        flow.run()  # records an error outcome itself before re-raising

    return route


def _finish_as_error(deps: IvrDependencies, call: AgiCall, path: IvrPath) -> None:
    """Best effort: the call record ends as an IVR error (degraded) before the server's fallback."""
    try:
        deps.sink.finish_ivr(call.channel.call, path, Outcome.ERROR)
    except Exception as exc:
        call.log.warning("step=error record=not-stored reason=%s", type(exc).__name__)


def status_route(deps: IvrDependencies) -> Route:
    """The ``status`` route: speak the state of the caller's latest ticket or one keyed in."""

    def route(call: AgiCall) -> None:
        channel = call.channel
        path = IvrPath(steps=["status"])
        try:
            channel.answer()
            channel.set_language(deps.language)
            query = StatusQuery(channel, deps.sink, deps.catalogue(), deps.flow.digit_timeout_ms)
            status = query.run(None, path)
            call.log.info("step=status ticket=%s state=%s", status.number if status else "-",
                          status.state if status else "-")
            channel.play(["goodbye"])
            channel.set_variable(OUTCOME, Outcome.STATUS.value)
        except CallerHungUp:
            deps.sink.finish_ivr(channel.call, path, Outcome.ABANDONED)
            raise
        except Exception:
            _finish_as_error(deps, call, path)
            raise
        deps.sink.finish_ivr(channel.call, path, Outcome.STATUS)

    return route


def callback_route(deps: IvrDependencies) -> Route:
    """The ``callback`` route: a caller waiting in a queue pressed the callback key (1).

    Reached from ``[hotline-queue-exit]`` with the key as the AGI argument.  Reads the call's ticket,
    the queue it waited in and when it entered it (channel variables the IVR and the dialplan set,
    checked by :mod:`agi_scripts.callbacks`), records the callback on the ticket keeping the
    caller's turn (a call that reached the queue without a ticket -- the IVR was down -- gets one),
    confirms and sets ``HOTLINE_OUTCOME=callback`` so the dialplan hangs up.  When nothing could be
    recorded it sets ``agent`` and the dialplan puts the caller back in the queue.
    """

    def route(call: AgiCall) -> None:
        channel = call.channel
        request = read_callback_request(call.env.get("agi_arg_1", ""), channel.get_variable, utcnow())
        ticket = None
        if request.valid_key and deps.callbacks is not None:
            ticket = deps.callbacks.book_callback(channel.call, request)
        call.log.info("step=callback key=%s ticket=%s queue=%s entered=%s recorded=%s", request.key or "-",
                      ticket or "-", request.queue or "-",
                      request.entered_at.isoformat() if request.entered_at else "-", bool(ticket))
        if ticket is None:
            channel.set_variable(OUTCOME, Outcome.AGENT.value)
            return
        if channel.call.language not in LANGUAGES:  # a call the IVR never took (degraded)
            channel.set_language(deps.language)
        channel.play(["callback_recorded"])
        channel.set_variable(OUTCOME, CALLBACK_OUTCOME)

    return route


FOLLOWUP_VARIABLE = "HOTLINE_FOLLOWUP"


def survey_route(deps: IvrDependencies, store: SurveyStore) -> Route:
    """The ``survey`` route: the answered follow-up call (回访) of ``[hotline-followup]``.

    Reads ``HOTLINE_FOLLOWUP`` (the outbound attempt id the scheduler's Originate set; digits only,
    anything else is refused and nothing is stored), runs the survey flow in the follow-up's
    language, stores the answers once (even if the route runs twice for the same follow-up) and
    leaves ``HOTLINE_OUTCOME`` = surveyed | agent (0 pressed: the dialplan queues the resident) |
    refused | already.
    """

    def route(call: AgiCall) -> None:
        channel = call.channel
        target = store.survey_target(channel.get_variable(FOLLOWUP_VARIABLE))
        if target is None:
            call.log.info("step=survey refused: no such follow-up")
            channel.set_language(deps.language)
            channel.play(["survey_unavailable"])
            channel.set_variable(OUTCOME, "refused")
            return
        if target.rated:
            call.log.info("step=survey followup=%s already rated", target.call_id)
            channel.set_language(target.language)
            channel.play(["survey_already"])
            channel.set_variable(OUTCOME, "already")
            return
        settings = SurveySettings(digit_timeout_ms=deps.flow.digit_timeout_ms, max_retries=deps.flow.max_retries)
        answers = SurveyFlow(channel, settings, target.language, step_log=call.log.info).run()
        outcome = store.record_survey(target, answers)
        call.log.info("step=survey followup=%s stored=%s state=%s reopened=%s", target.call_id,
                      outcome.first_time, outcome.state, outcome.reopened)

    return route


def _survey_store(deps: IvrDependencies) -> SurveyStore | None:
    if deps.surveys is not None:
        return deps.surveys
    return deps.sink if isinstance(deps.sink, SurveyStore) else None


def build_routes(deps: IvrDependencies | None = None) -> Mapping[str, Route]:
    """The route table the server dispatches on."""
    if deps is None:
        return {"ivr": fallback_ivr_route, "status": fallback_ivr_route}
    routes: dict[str, Route] = {"ivr": ivr_route(deps), "status": status_route(deps),
                                "callback": callback_route(deps)}
    surveys = _survey_store(deps)
    if surveys is not None:
        routes["survey"] = survey_route(deps, surveys)
    return routes
