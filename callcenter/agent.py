"""The agents' workspace (话务员): live lists, claims, ticket work, agent state and screen pops."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from callcenter.choices import catalogue_choices
from callcenter.db import db, plain_reads, read_db
from callcenter.forms import optional_float, optional_int, text_field
from callcenter.i18n import gettext as _
from callcenter.live import PARTS, changed_parts, state_version, state_version_of
from callcenter.quality import already_rated, evaluations_of, platform_key, rate
from callcenter.security import CONSOLE_ROLES, allow_roles, station_tree
from callcenter.telephony import telephony
from callcenter.workflow import (
    active_tickets,
    agent_transition,
    caller_history,
    check_lease,
    claim_for,
    live_lease,
    manual_targets,
    my_tickets,
    offers_of,
    origin_call,
    resident_of,
    visible_ticket,
    waiting_tickets,
)
from models.alerts import alerts_of_ticket, open_alerts, resolve_alert
from models.claims import claim_next_ticket, release_claim, renew_claim
from models.console import agent_state, has_screen_pop, set_agent_state, take_screen_pop
from models.entities import Ticket
from models.enums import Channel, EvaluationParty, TicketStatus
from models.errors import NotFound, ValidationError
from models.evaluations import EVALUABLE
from models.tickets import TicketRequest, append_note, edit_ticket, open_ticket

bp = Blueprint("agent", __name__)
allow_roles(bp, *CONSOLE_ROLES)


def _lease_seconds() -> int:
    return int(current_app.config["CLAIM_LEASE_SECONDS"])


def _ticket_url(ticket_id: int) -> str:
    return url_for("agent.ticket", ticket_id=ticket_id)


# --- workspace -----------------------------------------------------------------------------------

@bp.get("/agent")
@plain_reads
def workspace() -> str:
    """The workspace: waiting calls, new tickets, my tickets, tickets out with providers."""
    state = agent_state(db(), current_user.id)
    return render_template("agent/workspace.html", state=state, categories=catalogue_choices(db()),
                           stations=station_tree().communities(), parts=PARTS, state_version=state_version_of(state))


@bp.get("/agent/fragments/waiting")
@plain_reads
def waiting_fragment() -> str:
    """New and returned tickets without a live claim (polled)."""
    return render_template("agent/_tickets.html", tickets=waiting_tickets(db(), current_user), kind="waiting")


@bp.get("/agent/fragments/mine")
@plain_reads
def mine_fragment() -> str:
    """The agent's claimed tickets (polled)."""
    return render_template("agent/_tickets.html", tickets=my_tickets(db(), current_user), kind="mine")


@bp.get("/agent/fragments/active")
@plain_reads
def active_fragment() -> str:
    """Tickets out with providers (polled)."""
    return render_template("agent/_tickets.html", tickets=active_tickets(db(), current_user), kind="active")


@bp.get("/agent/fragments/queues")
@plain_reads
def queues_fragment() -> str:
    """Waiting calls per queue, from Asterisk over AMI (polled)."""
    return render_template("agent/_queues.html", queues=telephony().waiting_calls(),
                           connected=telephony().connected)


@bp.get("/agent/live")
@plain_reads
def live() -> tuple[str, int, dict[str, str]]:
    """The workspace's one poll: 204 when no part changed, else out-of-band swaps of the changed parts.

    The page sends the version of each part it shows (``v_<part>``); a waiting screen pop is
    announced with the ``hotline-pop`` event, on which the page posts to ``/agent/pop``.
    """
    session = read_db()
    shown = {part.name: request.args.get(f"v_{part.name}", "") for part in PARTS}
    changed = changed_parts(session, current_user, shown)
    headers = {"Cache-Control": "no-store"}
    if has_screen_pop(session, current_user.id):
        headers["HX-Trigger"] = "hotline-pop"
    if not changed and "HX-Trigger" not in headers:
        return "", 204, headers
    return render_template("agent/_live.html", changed=changed), 200, headers


@bp.post("/agent/pop")
def screen_pop() -> tuple[str, int, dict[str, str]]:
    """Polled by the workspace: when a queued call was bridged to this agent, open its ticket."""
    if not has_screen_pop(read_db(), current_user.id):
        return "", 204, {}
    session = db()
    pop = take_screen_pop(session, current_user.id)
    session.commit()
    if pop is None:
        return "", 204, {}
    return "", 200, {"HX-Redirect": _ticket_url(pop.ticket_id) + "?pop=1"}


@bp.post("/agent/state")
def change_state() -> str:
    """Available / paused (with a reason) / wrap-up / logged out, mirrored to the queues over AMI."""
    session = db()
    state = request.form.get("state", "")
    reason = text_field("reason", 64)
    row = set_agent_state(session, current_user.id, state, reason)
    session.commit()
    message = telephony().apply_agent_state(current_user.seat, row.state, row.reason)
    return render_template("agent/_state.html", state=row, message=message,
                           live_version=state_version(session, current_user))


@bp.post("/agent/claim-next")
def claim_next() -> Response:
    """Claim the most urgent waiting ticket of the agent's stations."""
    session = db()
    scope = None if current_user.scope is None else list(current_user.scope)
    lease = claim_next_ticket(session, current_user.id, lease_seconds=_lease_seconds(), station_ids=scope)
    session.commit()
    if lease is None:
        flash(_("No ticket is waiting."))
        return redirect(url_for("agent.workspace"))
    return redirect(_ticket_url(lease.ticket_id))


@bp.post("/tickets")
def new_ticket() -> Response:
    """Open a ticket taken by the agent (walk-in, or a call without the IVR) and claim it."""
    session = db()
    sub_code = text_field("sub_service_code", 24)
    station_id = optional_int("station_id")
    if station_id is not None:
        _check_station(station_id)
    ticket = open_ticket(session, TicketRequest(
        channel=Channel(request.form.get("channel", "phone")) if request.form.get("channel") in
        {c.value for c in Channel} else Channel.PHONE,
        sub_service_code=sub_code, description=text_field("description", 2000, multiline=True),
        address=text_field("address", 256), contact_number=text_field("contact_number", 64),
        station_id=station_id if station_id is not None else _default_station(),
    ), actor=current_user.actor)
    claim_for(session, ticket, current_user, _lease_seconds())
    session.commit()
    return redirect(_ticket_url(ticket.id))


def _default_station() -> int | None:
    return None if current_user.scope is None else current_user.station_id


def _check_station(station_id: int) -> None:
    tree = station_tree()
    if station_id not in tree.by_id:
        raise ValidationError(f"station {station_id} does not exist")
    if current_user.scope is not None and station_id not in current_user.scope:
        raise NotFound(f"station {station_id} does not exist")


# --- one ticket ----------------------------------------------------------------------------------

def _ticket_context(ticket: Ticket) -> dict[str, Any]:
    session = db()
    lease = live_lease(ticket, current_user)
    return {
        "alerts": alerts_of_ticket(session, ticket.id), "evaluations": evaluations_of(session, ticket.id),
        "can_rate": TicketStatus(ticket.status) in EVALUABLE
        and not already_rated(session, platform_key(ticket.id, current_user.id)),
        "ticket": ticket, "lease": lease, "call": origin_call(session, ticket),
        "resident": resident_of(session, ticket), "history": caller_history(session, ticket),
        "targets": manual_targets(ticket) if lease else [], "offers": offers_of(session, ticket),
        "categories": catalogue_choices(session), "stations": station_tree().communities(),
        "renew_seconds": max(10, min(60, _lease_seconds() // 3)), "popped": request.args.get("pop") == "1",
        "dispatchable": bool(lease) and TicketStatus(ticket.status) in (
            TicketStatus.ACCEPTED, TicketStatus.REOPENED, TicketStatus.ESCALATED),
    }


@bp.get("/tickets/<int:ticket_id>")
@plain_reads
def ticket(ticket_id: int) -> str:
    """The ticket page: caller and history, details, lease, lifecycle buttons, dispatch, timeline."""
    found = visible_ticket(db(), ticket_id, current_user)
    return render_template("agent/ticket.html", **_ticket_context(found))


@bp.get("/tickets/<int:ticket_id>/timeline")
@plain_reads
def timeline(ticket_id: int) -> str:
    """The ticket's status line and timeline (polled while the page is open)."""
    found = visible_ticket(db(), ticket_id, current_user)
    return render_template("agent/_timeline.html", ticket=found, offers=offers_of(db(), found))


@bp.post("/tickets/<int:ticket_id>/claim")
def claim(ticket_id: int) -> Response:
    """Claim the ticket (one holder at a time; a live claim of another agent is refused with 409).

    The ticket is looked up before the write (the claim itself is one conditional update), so on
    SQLite the write lock is held only for the claim and its timeline entry.
    """
    found = visible_ticket(read_db(), ticket_id, current_user, for_update=True)
    session = db()
    claim_for(session, found, current_user, _lease_seconds())
    session.commit()
    return redirect(_ticket_url(ticket_id))


@bp.post("/tickets/<int:ticket_id>/lease")
def renew(ticket_id: int) -> str:
    """Renew the lease while the ticket page is open (htmx poll); an expired lease is refused."""
    session = db()
    found = visible_ticket(session, ticket_id, current_user)
    check_lease(found, current_user, request.form.get("lease_token"))
    lease = live_lease(found, current_user)
    assert lease is not None
    renewed = renew_claim(session, lease, lease_seconds=_lease_seconds())
    session.commit()
    return render_template("agent/_lease.html", lease=renewed, ticket=found,
                           renew_seconds=max(10, min(60, _lease_seconds() // 3)))


@bp.post("/tickets/<int:ticket_id>/release")
def release(ticket_id: int) -> Response:
    """Give the ticket back to the waiting list."""
    session = db()
    found = visible_ticket(session, ticket_id, current_user)
    check_lease(found, current_user, request.form.get("lease_token"))
    lease = live_lease(found, current_user)
    assert lease is not None
    release_claim(session, lease)
    session.commit()
    flash(_("Ticket %(number)s released.", number=found.number))
    return redirect(url_for("agent.workspace"))


@bp.post("/tickets/<int:ticket_id>/edit")
def edit(ticket_id: int) -> Response:
    """Change sub-service, description, address, community and map position (on the timeline)."""
    session = db()
    found = visible_ticket(session, ticket_id, current_user, for_update=True)
    check_lease(found, current_user, request.form.get("lease_token"))
    changes: dict[str, Any] = {}
    sub_code = text_field("sub_service_code", 24)
    if sub_code:
        changes["sub_service_code"] = sub_code
    for name, limit in (("description", 2000), ("address", 256)):
        if name in request.form:
            changes[name] = text_field(name, limit, multiline=name == "description") or None
    station_id = optional_int("station_id")
    if station_id is not None:
        _check_station(station_id)
        changes["station_id"] = station_id
    lat, lon = optional_float("lat"), optional_float("lon")
    if lat is not None or lon is not None:
        changes.update(lat=lat, lon=lon)
    if request.form.get("priority"):
        changes["priority"] = request.form["priority"]
    diff = edit_ticket(session, found, changes, actor=current_user.actor)
    session.commit()
    flash(_("Saved.") if diff else _("Nothing changed."))
    return redirect(_ticket_url(ticket_id))


@bp.post("/tickets/<int:ticket_id>/note")
def note(ticket_id: int) -> Response:
    """Add a note to the timeline."""
    session = db()
    found = visible_ticket(session, ticket_id, current_user)
    check_lease(found, current_user, request.form.get("lease_token"))
    append_note(session, found, request.form.get("text", ""), actor=current_user.actor)
    session.commit()
    return redirect(_ticket_url(ticket_id))


@bp.post("/tickets/<int:ticket_id>/transition")
def transition(ticket_id: int) -> Response:
    """A lifecycle button (only those allowed from the current status are shown and accepted)."""
    session = db()
    found = visible_ticket(session, ticket_id, current_user, for_update=True)
    check_lease(found, current_user, request.form.get("lease_token"))
    try:
        target = TicketStatus(request.form.get("target", ""))
    except ValueError:
        raise ValidationError("unknown target status") from None
    agent_transition(session, found, target, current_user, note=text_field("note", 2000, multiline=True))
    session.commit()
    return redirect(_ticket_url(ticket_id))


# --- alerts and the platform's quality rating (issue 7) ----------------------------------------------

@bp.get("/agent/fragments/alerts")
@plain_reads
def alerts_fragment() -> str:
    """Open alerts of the user's stations: SLA breaches, low ratings, residents not reached (polled)."""
    return render_template("agent/_alerts.html", alerts=open_alerts(read_db(), scope=current_user.scope, limit=30))


@bp.post("/tickets/<int:ticket_id>/alerts/resolve")
def resolve(ticket_id: int) -> Response:
    """Mark one of the ticket's alerts (form field ``alert_id``) as dealt with (noted on the timeline)."""
    session = db()
    found = visible_ticket(session, ticket_id, current_user)
    alert_id = optional_int("alert_id")
    if alert_id is None:
        raise ValidationError("alert_id: which alert is needed")
    resolve_alert(session, alert_id, actor=current_user.actor, ticket_id=found.id)
    session.commit()
    flash(_("Alert marked as handled."))
    return redirect(_ticket_url(ticket_id))


@bp.post("/tickets/<int:ticket_id>/quality")
def quality(ticket_id: int) -> Response:
    """The platform's quality rating of a finished job (三方评价: 平台), once per rating user."""
    session = db()
    found = visible_ticket(session, ticket_id, current_user)
    stored = rate(session, found, EvaluationParty.PLATFORM, actor=current_user.actor,
                  key=platform_key(found.id, current_user.id))
    session.commit()
    flash(_("Quality rating saved.") if stored else _("You have already rated this job."))
    return redirect(_ticket_url(ticket_id))
