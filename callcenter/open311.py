"""Open311 GeoReport v2 for the online channel (掌上下单): the app or mini-program is one more client
of the same ticket store.

``/open311/v2/services.json`` (the catalogue), ``/services/<code>.json`` (a service's definition),
``POST /requests.json`` (open a request; API key required), ``/requests.json`` and
``/requests/<id>.json`` (the client's own requests; API key required — they hold residents'
addresses, so unlike the open specification nothing is listed anonymously).

JSON only; errors are Open311's ``[{"code": …, "description": …}]`` with the HTTP status.  Service
names are Chinese unless ``locale=en``; times are ISO 8601 in Asia/Shanghai.  A POST may carry an
``Idempotency-Key`` header: a retried POST with the same key returns the first request.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from callcenter.db import db
from callcenter.open311_spec import OPENAPI
from callcenter.security import public
from models.catalogue import active_categories, sub_service_by_code
from models.entities import ServiceCategory, SubService, Ticket, User
from models.enums import TicketStatus
from models.errors import DomainError, NotFound, ValidationError
from models.lifecycle import LABELS_ZH, OPEN_STATUSES
from models.online import OnlineRequest, api_client_for_key, client_requests, open_online_request

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

STATUS_NOTES_EN = {
    TicketStatus.ACCEPTED: "Accepted", TicketStatus.DISPATCHED: "Dispatched to a provider",
    TicketStatus.PROVIDER_ACCEPTED: "The provider accepted", TicketStatus.IN_SERVICE: "In service",
    TicketStatus.COMPLETED: "Completed", TicketStatus.FOLLOWED_UP: "Followed up", TicketStatus.CLOSED: "Closed",
    TicketStatus.CANCELLED: "Cancelled", TicketStatus.ESCALATED: "Escalated", TicketStatus.REOPENED: "Reopened",
}
MAX_IDS = 50


class Open311Error(Exception):
    """An error answered in Open311's format."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def error_body(status: int, description: str) -> tuple[Response, int]:
    """``[{"code": status, "description": …}]`` with that HTTP status."""
    return jsonify([{"code": status, "description": description}]), status


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error) -> tuple[Response, int]:
    return error_body(exc.status, exc.description)


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> tuple[Response, int]:
    return error_body(404 if isinstance(exc, NotFound) else 400, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    return error_body(exc.code or 500, exc.description or exc.name)


def _json_only(fmt: str) -> None:
    if fmt != "json":
        raise Open311Error(400, f"format {fmt[:10]!r} is not served: use .json")


def _english() -> bool:
    locale = request.args.get("locale", "zh")
    if locale not in ("zh", "zh_CN", "en", "en_US"):
        raise Open311Error(400, "locale: zh or en")
    return locale.startswith("en")


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(_zone()).isoformat(timespec="seconds") if value else None


def _client() -> User:
    key = request.values.get("api_key") or request.headers.get("X-Api-Key")
    client = api_client_for_key(db(), key)
    if client is None:
        raise Open311Error(403, "api_key is missing or not valid")
    return client


def _service(sub: SubService, category: ServiceCategory, english: bool) -> dict[str, Any]:
    keywords = sub.keywords_en if english else sub.keywords_zh
    return {"service_code": sub.code, "service_name": sub.name_en if english else sub.name_zh,
            "description": (category.name_en if english else category.name_zh) + " / " +
                           (sub.name_en if english else sub.name_zh),
            "metadata": False, "type": "realtime", "keywords": ",".join(keywords or []),
            "group": category.name_en if english else category.name_zh}


@bp.get("/openapi.json")
@public
def openapi() -> Response:
    """This endpoint's OpenAPI description."""
    return jsonify(OPENAPI)


@bp.get("/services.<fmt>")
@public
def services(fmt: str) -> Response:
    """The catalogue: every active sub-service, grouped by category."""
    _json_only(fmt)
    english = _english()
    return jsonify([_service(sub, category, english) for category in active_categories(db())
                    for sub in category.sub_services if not sub.retired])


@bp.get("/services/<code>.<fmt>")
@public
def service_definition(code: str, fmt: str) -> Response:
    """One service's definition (no extra attributes: ``metadata`` is false for every service)."""
    _json_only(fmt)
    try:
        sub = sub_service_by_code(db(), code)
    except ValidationError as exc:
        raise Open311Error(404, exc.message) from None
    return jsonify({"service_code": sub.code, "attributes": []})


def _float(name: str) -> float | None:
    raw = request.form.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name}: a number is required") from None
    if not math.isfinite(value):
        raise Open311Error(400, f"{name}: a finite number is required")
    return value


def _online_request() -> OnlineRequest:
    code = request.form.get("service_code")
    if not code:
        raise Open311Error(400, "service_code is required")
    lat, lon = _float("lat"), _float("long")
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long go together")
    return OnlineRequest(service_code=code, lat=lat, lon=lon, address=request.form.get("address_string") or None,
                         description=request.form.get("description") or None,
                         phone=request.form.get("phone") or None,
                         idempotency_key=request.headers.get("Idempotency-Key") or None)


@bp.post("/requests.<fmt>")
@public
def create_request(fmt: str) -> tuple[Response, int]:
    """Open a request (受理) in the ticket store; the answer names it by its ticket number."""
    _json_only(fmt)
    client = _client()
    ticket, created = open_online_request(db(), client, _online_request())
    db().commit()
    notice = "已受理，我们会尽快为您派单。" if not _english() else "Accepted; a provider will be dispatched soon."
    return jsonify([{"service_request_id": ticket.number, "service_notice": notice,
                     "account_id": None}]), 201 if created else 200


def _as_open311(ticket: Ticket, english: bool) -> dict[str, Any]:
    sub, category = ticket.sub_service, ticket.category
    status = TicketStatus(ticket.status)
    return {
        "service_request_id": ticket.number,
        "status": "open" if status in OPEN_STATUSES else "closed",
        "status_notes": STATUS_NOTES_EN[status] if english else LABELS_ZH[status],
        "service_name": (sub.name_en if english else sub.name_zh) if sub else None,
        "service_code": sub.code if sub else None,
        "description": ticket.description,
        "agency_responsible": "96345",
        "service_notice": None,
        "requested_datetime": _iso(ticket.created_at),
        "updated_datetime": _iso(ticket.updated_at),
        "expected_datetime": _iso(ticket.created_at + dt.timedelta(minutes=sub.sla_complete_minutes)) if sub else None,
        "address": ticket.address,
        "address_id": None,
        "zipcode": None,
        "lat": ticket.lat,
        "long": ticket.lon,
        "media_url": None,
        "group": (category.name_en if english else category.name_zh) if category else None,
    }


def _date_arg(name: str) -> dt.datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise Open311Error(400, f"{name}: an ISO 8601 date-time is required") from None
    return (value if value.tzinfo else value.replace(tzinfo=_zone())).astimezone(dt.UTC)


def _status_arg() -> bool | None:
    raw = request.args.get("status")
    if raw in (None, "", "open,closed", "closed,open"):
        return None
    if raw not in ("open", "closed"):
        raise Open311Error(400, "status: open, closed or both")
    return raw == "open"


@bp.get("/requests.<fmt>")
@public
def list_requests(fmt: str) -> Response:
    """The client's requests: by ``service_request_id`` (comma-separated) or by code, dates and status."""
    _json_only(fmt)
    client = _client()
    english = _english()
    ids = request.args.get("service_request_id")
    numbers = None
    if ids:
        numbers = [part for part in ids.split(",") if part]
        if len(numbers) > MAX_IDS or not all(part.isdigit() and len(part) <= 16 for part in numbers):
            raise Open311Error(400, f"service_request_id: up to {MAX_IDS} request numbers, digits only")
    code = request.args.get("service_code")
    sub_id = sub_service_by_code(db(), code).id if code else None
    start, end = _date_arg("start_date"), _date_arg("end_date")
    if start and end and end <= start:
        raise Open311Error(400, "end_date must be after start_date")
    if numbers is None and start is None and end is None:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)  # the specification's default window
    tickets = client_requests(db(), client, numbers=numbers, service_code_id=sub_id, start=start, end=end,
                              open_only=_status_arg(), limit=1000)
    return jsonify([_as_open311(t, english) for t in tickets])


@bp.get("/requests/<number>.<fmt>")
@public
def get_request(number: str, fmt: str) -> Response:
    """One of the client's requests (another client's is not found)."""
    _json_only(fmt)
    client = _client()
    english = _english()
    if not number.isdigit() or len(number) > 16:
        raise Open311Error(404, "no such request")
    found = client_requests(db(), client, numbers=[number], limit=1)
    if not found:
        raise Open311Error(404, "no such request")
    return jsonify([_as_open311(found[0], english)])
