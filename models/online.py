"""The online channel (掌上下单): API clients and the requests they open in the same ticket store.

An API client (the WeChat mini-program's backend, a city app, a partner platform) is an account
with the ``api`` role.  It cannot log in to the console: its credential is an API key
``<client name>.<secret>`` whose secret is 32 random bytes, stored only as a SHA-256 digest (the
secret is long and random, so a slow password hash would only cost every request time).

Requests opened by a client carry ``external_key = "o311:<client id>:<idempotency key>"``: the
same key sent twice returns the first ticket (a retried POST never makes two tickets), and a client
reads back only its own requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.base import utcnow
from models.entities import Station, Ticket, User
from models.enums import Channel, Role, StationLevel
from models.errors import NotFound, ValidationError
from models.lifecycle import OPEN_STATUSES
from models.text import require_clean_text
from models.tickets import TicketRequest, open_ticket
from models.users import create_user, user_by_username

API_KEY_SCHEME = "apikey-sha256"
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_CLIENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{2,40}$")
EARTH_RADIUS_KM = 6371.0


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_client(session: Session, *, name: str, display_name: str, station_id: int) -> tuple[User, str]:
    """Register an API client; returns it and its key (shown once, never stored in clear)."""
    if not isinstance(name, str) or not _CLIENT_NAME.match(name):
        raise ValidationError("client name: 3–41 lower-case letters, digits, '_' or '-'")
    if session.get(Station, station_id) is None:
        raise ValidationError(f"station {station_id} does not exist")
    secret = secrets.token_urlsafe(32)
    user = create_user(session, username=name, password=secrets.token_urlsafe(24), display_name=display_name,
                       role=Role.API, station_id=station_id)
    user.password_hash = f"{API_KEY_SCHEME}${_digest(secret)}"  # no console password exists
    session.flush()
    return user, f"{name}.{secret}"


def revoke_api_client(session: Session, name: str) -> None:
    """Disable a client: its key stops working at once."""
    user = user_by_username(session, name)
    if user is None or user.role != Role.API:
        raise NotFound(f"no API client named {name!r}")
    user.active = False
    session.flush()


def api_client_for_key(session: Session, key: str | None) -> User | None:
    """The active client whose key this is, or None (any malformed key is simply not a key)."""
    if not isinstance(key, str) or len(key) > 200 or "." not in key:
        return None
    name, _, secret = key.partition(".")
    user = user_by_username(session, name) if _CLIENT_NAME.match(name) else None
    if user is None or user.role != Role.API or not user.active:
        return None
    scheme, _, stored = user.password_hash.partition("$")
    if scheme != API_KEY_SCHEME or not hmac.compare_digest(stored, _digest(secret)):
        return None
    return user


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def nearest_station(session: Session, lat: float, lon: float, *, within_km: float = 30.0) -> Station | None:
    """The community (else town) station nearest to a position, if one is within ``within_km``."""
    stations = [s for s in session.scalars(select(Station).where(Station.lat.is_not(None)))
                if s.level in (StationLevel.COMMUNITY, StationLevel.TOWN)]
    ranked = sorted(stations, key=lambda s: (distance_km(lat, lon, s.lat, s.lon),  # type: ignore[arg-type]
                                             s.level != StationLevel.COMMUNITY))
    if not ranked or distance_km(lat, lon, ranked[0].lat, ranked[0].lon) > within_km:  # type: ignore[arg-type]
        return None
    return ranked[0]


@dataclass(frozen=True)
class OnlineRequest:
    """A resident's request as an API client sends it (already parsed, not yet validated)."""

    service_code: str
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    description: str | None = None
    phone: str | None = None
    idempotency_key: str | None = None


def client_key_prefix(client: User) -> str:
    """The ``external_key`` prefix of a client's tickets."""
    return f"o311:{client.id}:"


def open_online_request(session: Session, client: User, request: OnlineRequest, *,
                        now: dt.datetime | None = None) -> tuple[Ticket, bool]:
    """Open the ticket of an online request; returns it and whether it is new (a repeated
    idempotency key returns the first ticket)."""
    if request.lat is None and request.lon is None and not (request.address or "").strip():
        raise ValidationError("location: give lat and long, or address_string")
    key = request.idempotency_key or uuid.uuid4().hex
    if not _IDEMPOTENCY_KEY.match(key):
        raise ValidationError("idempotency key: 1–40 letters, digits, '_' or '-'")
    external_key = client_key_prefix(client) + key
    existing = session.scalars(select(Ticket).where(Ticket.external_key == external_key)).first()
    if existing is not None:
        return existing, False
    station = None
    if request.lat is not None and request.lon is not None:
        if not (-90 <= request.lat <= 90 and -180 <= request.lon <= 180):
            raise ValidationError(f"position: ({request.lat}, {request.lon}) is not a position on Earth")
        station = nearest_station(session, request.lat, request.lon)
    ticket_request = TicketRequest(
        channel=Channel.API, sub_service_code=request.service_code,
        description=require_clean_text(request.description, "description", 2000, multiline=True),
        address=request.address, lat=request.lat, lon=request.lon,
        station_id=station.id if station else client.station_id, contact_number=request.phone,
        external_key=external_key,
    )
    try:
        with session.begin_nested():
            ticket = open_ticket(session, ticket_request, actor=f"api:{client.username}", now=now or utcnow())
    except IntegrityError:  # the same key sent twice at the same moment: the other one won
        return session.scalars(select(Ticket).where(Ticket.external_key == external_key)).one(), False
    return ticket, True


def client_requests(session: Session, client: User, *, numbers: list[str] | None = None,
                    service_code_id: int | None = None, start: dt.datetime | None = None,
                    end: dt.datetime | None = None, open_only: bool | None = None,
                    limit: int = 200) -> list[Ticket]:
    """The client's own tickets, newest first, filtered as asked."""
    stmt = select(Ticket).where(Ticket.external_key.startswith(client_key_prefix(client), autoescape=True))
    if numbers is not None:
        stmt = stmt.where(Ticket.number.in_(numbers))
    if service_code_id is not None:
        stmt = stmt.where(Ticket.sub_service_id == service_code_id)
    if start is not None:
        stmt = stmt.where(Ticket.created_at >= start)
    if end is not None:
        stmt = stmt.where(Ticket.created_at < end)
    if open_only is True:
        stmt = stmt.where(Ticket.status.in_(OPEN_STATUSES))
    elif open_only is False:
        stmt = stmt.where(Ticket.status.not_in(OPEN_STATUSES))
    return list(session.scalars(stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))
