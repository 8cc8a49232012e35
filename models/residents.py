"""Residents and their phone numbers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.entities import Resident, ResidentPhone
from models.errors import ValidationError
from models.phone import PhoneNumber, parse_phone
from models.text import require_clean_text


def phone_key(phone: PhoneNumber) -> str:
    """The stored lookup key of a number: E.164 when it parses, else the text as received."""
    return phone.e164 or phone.raw


def find_resident_by_phone(session: Session, raw_number: str | None, region: str = "CN") -> Resident | None:
    """The resident registered with this number, if any (anonymous numbers match nobody)."""
    phone = parse_phone(raw_number, region)
    if phone.e164 is None:
        return None
    stmt = select(Resident).join(ResidentPhone).where(ResidentPhone.number == phone.e164)
    return session.scalars(stmt).one_or_none()


def register_resident(session: Session, *, name: str | None, numbers: list[str], address: str | None = None,
                      station_id: int | None = None, lat: float | None = None, lon: float | None = None,
                      elderly_alone: bool = False, left_behind_child: bool = False, disabled: bool = False,
                      consent_at: dt.datetime | None = None, region: str = "CN") -> Resident:
    """Register a resident with one or more numbers; a number already registered is refused."""
    resident = Resident(
        name=require_clean_text(name, "name", 64),
        address=require_clean_text(address, "address", 256),
        station_id=station_id, lat=lat, lon=lon, elderly_alone=elderly_alone,
        left_behind_child=left_behind_child, disabled=disabled, consent_at=consent_at,
    )
    if not numbers:
        raise ValidationError("numbers: at least one phone number is required")
    for raw in numbers:
        add_phone(session, resident, raw, region)
    session.add(resident)
    session.flush()
    return resident


def add_phone(session: Session, resident: Resident, raw: str, region: str = "CN") -> ResidentPhone:
    """Add a number to a resident; malformed or foreign numbers are kept as received and flagged."""
    text = require_clean_text(raw, "phone number", 64, required=True)
    assert text is not None
    phone = parse_phone(text, region)
    key = phone_key(phone)
    taken = session.scalars(select(ResidentPhone).where(ResidentPhone.number == key)).one_or_none()
    if taken is not None and taken.resident is not resident:
        raise ValidationError(f"phone number {text!r} is already registered to another resident")
    entry = ResidentPhone(number=key, raw=phone.raw, valid=phone.valid, foreign=phone.foreign)
    resident.phones.append(entry)
    return entry
