"""The provider page (phone-sized): a worker's offers and jobs, status and position."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from callcenter.candidates import offer_next
from callcenter.db import db
from callcenter.forms import optional_float, text_field
from callcenter.i18n import gettext as _
from callcenter.quality import provider_key, rate
from callcenter.security import allow_roles, station_tree
from models.base import utcnow
from models.dispatch import (
    accept_offer,
    complete_service,
    decline_offer,
    get_worker,
    set_worker_position,
    set_worker_status,
    start_service,
)
from models.entities import DispatchOffer, Evaluation, Ticket, Worker
from models.enums import EvaluationParty, EventKind, OfferState, Role, TicketStatus, WorkerStatus
from models.errors import NotFound, ValidationError
from models.evaluations import EVALUABLE
from models.tickets import append_event

bp = Blueprint("provider", __name__, url_prefix="/provider")
allow_roles(bp, Role.PROVIDER)


def _worker() -> Worker:
    if current_user.worker_id is None:
        raise NotFound("this account is not linked to a worker")
    return get_worker(db(), current_user.worker_id)


def _actor() -> str:
    return f"worker:{current_user.worker_id}"


def open_offers(worker_id: int) -> list[tuple[DispatchOffer, Ticket]]:
    """The worker's offers still waiting for an answer, with their tickets."""
    stmt = (select(DispatchOffer, Ticket).join(Ticket, Ticket.id == DispatchOffer.ticket_id)
            .where(DispatchOffer.worker_id == worker_id, DispatchOffer.state == OfferState.OFFERED,
                   DispatchOffer.expires_at > utcnow()).order_by(DispatchOffer.offered_at))
    return [(offer, ticket) for offer, ticket in db().execute(stmt)]


def current_jobs(worker_id: int) -> list[Ticket]:
    """The worker's accepted and in-service jobs."""
    stmt = (select(Ticket).where(Ticket.worker_id == worker_id,
                                 Ticket.status.in_((TicketStatus.PROVIDER_ACCEPTED, TicketStatus.IN_SERVICE)))
            .order_by(Ticket.updated_at))
    return list(db().scalars(stmt))


def jobs_to_evaluate(worker_id: int, days: int = 14) -> list[Ticket]:
    """The worker's recently finished jobs not yet evaluated by the provider (三方评价: 服务商)."""
    rated = select(Evaluation.id).where(Evaluation.ticket_id == Ticket.id,
                                        Evaluation.party == EvaluationParty.PROVIDER).exists()
    stmt = (select(Ticket).where(Ticket.worker_id == worker_id, Ticket.status.in_(sorted(EVALUABLE)),
                                 Ticket.updated_at >= utcnow() - dt.timedelta(days=days), ~rated)
            .order_by(Ticket.updated_at.desc()).limit(10))
    return list(db().scalars(stmt))


def _en_route(ticket: Ticket) -> bool:
    return any(e.kind == EventKind.NOTE and (e.detail or {}).get("en_route") for e in ticket.events)


@bp.get("")
def home() -> str:
    """The worker's page: status, position, offers and jobs."""
    worker = _worker()
    return render_template("provider/home.html", worker=worker)


@bp.get("/fragments/jobs")
def jobs_fragment() -> str:
    """Offers and jobs (polled)."""
    worker = _worker()
    jobs = current_jobs(worker.id)
    return render_template("provider/_jobs.html", worker=worker, offers=open_offers(worker.id), jobs=jobs,
                           en_route={t.id: _en_route(t) for t in jobs}, finished=jobs_to_evaluate(worker.id))


def _done(message: str) -> Response:
    flash(message)
    return redirect(url_for("provider.home"))


@bp.post("/offers/<int:offer_id>/accept")
def accept(offer_id: int) -> Response:
    """Take the job (接单): the worker shows yellow on the map."""
    session = db()
    ticket = accept_offer(session, offer_id, _worker().id)
    session.commit()
    return _done(_("Job %(number)s accepted.", number=ticket.number))


@bp.post("/offers/<int:offer_id>/decline")
def decline(offer_id: int) -> Response:
    """Decline: the job is offered to the next candidate at once."""
    session = db()
    ticket = decline_offer(session, offer_id, _worker().id, reason=text_field("reason", 200))
    offer_next(session, ticket, station_tree(), offer_seconds=int(current_app.config["OFFER_TIMEOUT_SECONDS"]))
    session.commit()
    return _done(_("Offer declined."))


def _my_job(ticket_id: int) -> Ticket:
    ticket = db().get(Ticket, ticket_id)
    if ticket is None or ticket.worker_id != current_user.worker_id:
        raise NotFound(f"ticket {ticket_id} is not one of your jobs")
    return ticket


@bp.post("/jobs/<int:ticket_id>/en-route")
def en_route(ticket_id: int) -> Response:
    """On the way (出发): noted on the timeline."""
    session = db()
    ticket = _my_job(ticket_id)
    if ticket.status != TicketStatus.PROVIDER_ACCEPTED:
        raise ValidationError("only an accepted job can be set on the way")
    append_event(session, ticket, EventKind.NOTE, _actor(), now=utcnow(), text="en route",
                 detail={"en_route": True})
    session.commit()
    return _done(_("On the way."))


@bp.post("/jobs/<int:ticket_id>/on-site")
def on_site(ticket_id: int) -> Response:
    """Arrived, service begins (服务中): the worker shows red."""
    session = db()
    start_service(session, _my_job(ticket_id).id, _worker().id)
    session.commit()
    return _done(_("Service started."))


@bp.post("/jobs/<int:ticket_id>/done")
def done(ticket_id: int) -> Response:
    """Job done (完工) with a short report: the worker is green again."""
    session = db()
    complete_service(session, _my_job(ticket_id).id, _worker().id, report=request.form.get("report", ""))
    session.commit()
    return _done(_("Job completed. Thank you!"))


@bp.post("/jobs/<int:ticket_id>/evaluate")
def evaluate(ticket_id: int) -> Response:
    """The provider's evaluation of their finished job (1–5 and a comment), once per job."""
    session = db()
    stored = rate(session, _my_job(ticket_id), EvaluationParty.PROVIDER, actor=_actor(),
                  key=provider_key(ticket_id))
    session.commit()
    return _done(_("Evaluation saved.") if stored else _("This job is already evaluated."))


@bp.post("/status")
def status() -> Response:
    """On duty (idle) or off duty; busy and dispatched follow the job."""
    session = db()
    try:
        target = WorkerStatus(request.form.get("status", ""))
    except ValueError:
        raise ValidationError("unknown status") from None
    set_worker_status(session, _worker(), target)
    session.commit()
    return _done(_("Status updated."))


@bp.post("/position")
def position() -> Response | dict[str, float]:
    """The worker's position (browser geolocation or a point picked on the map)."""
    session = db()
    lat, lon = optional_float("lat"), optional_float("lon")
    if lat is None or lon is None:
        raise ValidationError("position: both latitude and longitude are needed")
    worker = _worker()
    set_worker_position(session, worker, lat, lon)
    session.commit()
    if request.headers.get("HX-Request") or request.accept_mimetypes.best == "application/json":
        return {"lat": lat, "lon": lon}
    return _done(_("Position updated."))
