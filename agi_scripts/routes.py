"""The routes Asterisk calls by name (``AGI(agi://host:4573/<route>)``).

Routes are thin: they take the :class:`~agi_scripts.server.AgiCall`, run an ``ivr`` flow over its
channel with the dependencies the entry point built, and leave channel variables for the dialplan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from agi_scripts.server import AgiCall, Route
from ivr.catalogue import Catalogue
from ivr.flow import FlowSettings, IvrFlow
from ivr.ports import IvrPath, Outcome, Recognizer, TicketSink
from ivr.status import StatusQuery

OUTCOME = "HOTLINE_OUTCOME"


class CallbackStore(Protocol):
    """Where a waiting caller's callback request is recorded."""

    def request_callback(self, ticket_number: str) -> bool:
        """Mark the ticket for a callback; False when there is no such ticket."""


@dataclass
class IvrDependencies:
    """What the routes need, built once by the entry point."""

    sink: TicketSink
    catalogue: Callable[[], Catalogue]
    recognizer: Recognizer | None = None
    flow: FlowSettings = field(default_factory=FlowSettings)
    language: str = "zh"
    callbacks: CallbackStore | None = None


def fallback_ivr_route(call: AgiCall) -> None:
    """``ivr`` without a ticket store: answer and send the caller to the general queue."""
    call.channel.answer()
    call.log.info("step=fallback outcome=agent")
    call.channel.set_variable(OUTCOME, Outcome.AGENT.value)


def ivr_route(deps: IvrDependencies) -> Route:
    """The ``ivr`` route: the inbound call flow, from welcome to the queue's channel variables."""

    def route(call: AgiCall) -> None:
        flow = IvrFlow(call.channel, deps.sink, deps.catalogue(), deps.recognizer, deps.flow,
                       deps.language, step_log=call.log.info)
        flow.run()

    return route


def status_route(deps: IvrDependencies) -> Route:
    """The ``status`` route: speak the state of the caller's latest ticket or one keyed in."""

    def route(call: AgiCall) -> None:
        channel = call.channel
        channel.answer()
        channel.set_language(deps.language)
        path = IvrPath(steps=["status"])
        query = StatusQuery(channel, deps.sink, deps.catalogue(), deps.flow.digit_timeout_ms)
        status = query.run(None, path)
        call.log.info("step=status ticket=%s state=%s", status.number if status else "-",
                      status.state if status else "-")
        channel.play(["goodbye"])
        channel.set_variable(OUTCOME, Outcome.STATUS.value)
        deps.sink.finish_ivr(channel.call, path, Outcome.STATUS)

    return route


def callback_route(deps: IvrDependencies) -> Route:
    """The ``callback`` route: a caller waiting in the queue pressed the callback key.

    Reads ``HOTLINE_TICKET`` from the channel, records the request on the ticket (the scheduler
    places the call), confirms, and sets ``HOTLINE_OUTCOME=callback`` so the dialplan hangs up.
    """

    def route(call: AgiCall) -> None:
        number = call.channel.get_variable("HOTLINE_TICKET")
        recorded = bool(number and number.isdigit() and deps.callbacks
                        and deps.callbacks.request_callback(number))
        call.log.info("step=callback ticket=%s recorded=%s", number or "-", recorded)
        call.channel.set_language(deps.language)
        call.channel.play(["callback_recorded" if recorded else "transfer_agent"])
        call.channel.set_variable(OUTCOME, "callback" if recorded else Outcome.AGENT.value)

    return route


def build_routes(deps: IvrDependencies | None = None) -> Mapping[str, Route]:
    """The route table the server dispatches on."""
    if deps is None:
        return {"ivr": fallback_ivr_route, "status": fallback_ivr_route}
    return {"ivr": ivr_route(deps), "status": status_route(deps), "callback": callback_route(deps)}
