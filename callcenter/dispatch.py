"""Dispatch (派单): ranked candidates with reasons, sending an offer, and the live provider map."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from callcenter.candidates import advance_offers, ranked_candidates
from callcenter.db import db, plain_reads, read_db
from callcenter.forms import optional_int
from callcenter.i18n import gettext as _
from callcenter.security import CONSOLE_ROLES, allow_roles, station_tree
from callcenter.workflow import check_lease, visible_ticket, writable_ticket
from models.dispatch import dispatch_ticket
from models.errors import DispatchRefused, ValidationError

bp = Blueprint("dispatch", __name__)
allow_roles(bp, *CONSOLE_ROLES)


@bp.get("/tickets/<int:ticket_id>/candidates")
@plain_reads
def candidates(ticket_id: int) -> str:
    """The ranked candidate list with the reasons for each position."""
    session = db()
    ticket = visible_ticket(session, ticket_id, current_user)
    ranked = ranked_candidates(session, ticket, station_tree(), scope=current_user.scope)
    return render_template("agent/_candidates.html", ticket=ticket, ranked=ranked,
                           lease_token=request.args.get("lease_token", ""))


@bp.post("/tickets/<int:ticket_id>/dispatch")
def dispatch(ticket_id: int) -> Response:
    """Offer the job to the chosen worker (the agent must hold the ticket's lease).

    The worker is ranked (skill, duty, station, earlier refusals; the reasons stored with the
    offer) before the write; the write reads the ticket again and checks the lease, the worker
    and any pending offer once more, so on SQLite its lock is held only for the dispatch itself.
    """
    token = request.form.get("lease_token")
    reader = read_db()
    seen = visible_ticket(reader, ticket_id, current_user, for_update=True)
    check_lease(seen, current_user, token)
    worker_id = optional_int("worker_id")
    if worker_id is None:
        raise ValidationError("worker_id: choose a worker")
    chosen = ranked_candidates(reader, seen, station_tree(), scope=current_user.scope, worker_id=worker_id)
    if not chosen:
        raise DispatchRefused("this worker is not a candidate for the ticket (skill, duty or station)")
    session = db()
    ticket = writable_ticket(reader, session, seen, current_user)
    check_lease(ticket, current_user, token)
    dispatch_ticket(session, ticket, worker_id, actor=current_user.actor,
                    offer_seconds=int(current_app.config["OFFER_TIMEOUT_SECONDS"]),
                    reasons=chosen[0].as_offer_reasons())
    session.commit()
    flash(_("Offer sent to %(name)s.", name=chosen[0].facts.name))
    return redirect(url_for("agent.ticket", ticket_id=ticket_id))


@bp.get("/map")
def provider_map() -> str:
    """The live map of providers coloured by status, over the towns and communities."""
    return render_template("map.html")


@bp.post("/dispatch/sweep")
def sweep() -> dict[str, list[int]]:
    """Expire unanswered offers and offer their tickets to the next candidates (also run periodically)."""
    session = db()
    reoffered = advance_offers(session, station_tree(),
                               offer_seconds=int(current_app.config["OFFER_TIMEOUT_SECONDS"]))
    session.commit()
    return {"reoffered": reoffered}
