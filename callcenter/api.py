"""The JSON API the console's own pages use (map, queues) and other clients may read."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_login import current_user
from sqlalchemy import select

from callcenter.db import db
from callcenter.i18n import WORKER_COLOURS, name_of
from callcenter.security import CONSOLE_ROLES, require_role, station_tree
from callcenter.telephony import telephony
from callcenter.workflow import visible_ticket
from models.entities import ProviderCompany, Worker
from models.enums import WorkerStatus
from models.phone import mask_phone

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/me")
def me() -> dict[str, Any]:
    """Who is logged in (role, station, seat)."""
    return {"username": current_user.username, "display_name": current_user.display_name,
            "role": str(current_user.role), "station_id": current_user.station_id, "seat": current_user.seat,
            "worker_id": current_user.worker_id}


@bp.get("/map/stations")
def map_stations() -> dict[str, Any]:
    """The towns and communities to draw (positions from the Station table)."""
    tree = station_tree()
    return {"stations": [{"id": s.id, "code": s.code, "name": name_of(s), "level": str(s.level),
                          "parent_id": s.parent_id, "lat": s.lat, "lon": s.lon}
                         for s in tree.by_id.values() if s.lat is not None and s.lon is not None]}


@bp.get("/map/workers")
def map_workers() -> dict[str, Any]:
    """Every worker of the user's stations with position and status (polled by the map)."""
    require_role(*CONSOLE_ROLES)
    stmt = (select(Worker.id, Worker.code, Worker.name, Worker.status, Worker.lat, Worker.lon, ProviderCompany.name)
            .join(ProviderCompany, ProviderCompany.id == Worker.company_id)
            .where(Worker.lat.is_not(None), Worker.lon.is_not(None)))
    if current_user.scope is not None:
        stmt = stmt.where(ProviderCompany.station_id.in_(current_user.scope))
    workers = [{"id": r[0], "code": r[1], "name": r[2], "status": str(r[3]), "lat": round(r[4], 6),
                "lon": round(r[5], 6), "company": r[6], "colour": WORKER_COLOURS[WorkerStatus(r[3])]}
               for r in db().execute(stmt)]
    return {"workers": workers}


@bp.get("/tickets/<int:ticket_id>")
def ticket(ticket_id: int) -> dict[str, Any]:
    """One ticket (in the user's scope) as JSON; the contact number is masked."""
    require_role(*CONSOLE_ROLES)
    found = visible_ticket(db(), ticket_id, current_user)
    return {"id": found.id, "number": found.number, "status": str(found.status),
            "priority": str(found.priority), "station_id": found.station_id,
            "sub_service": found.sub_service.code if found.sub_service else None,
            "description": found.description, "address": found.address, "lat": found.lat, "lon": found.lon,
            "contact": mask_phone(found.contact_number), "worker_id": found.worker_id,
            "claimed_by": found.claim_holder_id, "updated_at": found.updated_at.isoformat()}


@bp.get("/queues")
def queues() -> dict[str, Any]:
    """Waiting calls per queue as Asterisk reports them over AMI."""
    require_role(*CONSOLE_ROLES)
    return {"connected": telephony().connected,
            "queues": {name: [call.as_dict() for call in calls]
                       for name, calls in telephony().waiting_calls().items()}}


