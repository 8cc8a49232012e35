"""The routes Asterisk calls by name (``AGI(agi://host:4573/<route>)``).

Routes are thin: they take the :class:`~agi_scripts.server.AgiCall`, run an ``ivr`` flow over its
channel with the dependencies the entry point built, and leave channel variables for the dialplan.
"""

from __future__ import annotations

from collections.abc import Mapping

from agi_scripts.server import AgiCall, Route
from ivr.ports import Outcome


def fallback_ivr_route(call: AgiCall) -> None:
    """``ivr`` without a ticket store: answer and send the caller to the general queue."""
    call.channel.answer()
    call.log.info("step=fallback outcome=agent")
    call.channel.set_variable("HOTLINE_OUTCOME", Outcome.AGENT.value)


def build_routes(ivr: Route | None = None, status: Route | None = None) -> Mapping[str, Route]:
    """The route table the server dispatches on."""
    return {"ivr": ivr or fallback_ivr_route, "status": status or fallback_ivr_route}
