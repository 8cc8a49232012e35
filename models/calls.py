"""Call records: one row per Asterisk channel (uniqueid), reconcilable by linkedid."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.base import utcnow
from models.entities import Call
from models.enums import CallDirection, CallOutcome
from models.errors import ValidationError
from models.phone import parse_phone
from models.residents import find_resident_by_phone
from models.text import neutralise_received_text

MAX_ID_LENGTH = 64
IVR_PATH_LIMIT = 200


def _require_asterisk_id(value: str, field: str) -> str:
    if not value or len(value) > MAX_ID_LENGTH or not all(ch.isalnum() or ch in ".-_" for ch in value):
        raise ValidationError(f"{field}: {value!r} is not an Asterisk channel id")
    return value


def call_by_uniqueid(session: Session, uniqueid: str) -> Call | None:
    """The call record of an Asterisk channel, if one exists."""
    return session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one_or_none()


def record_call_start(session: Session, *, uniqueid: str, linkedid: str | None = None,
                      caller_number: str | None = None, caller_name: str | None = None,
                      dialed: str | None = None, direction: CallDirection = CallDirection.INBOUND,
                      now: dt.datetime | None = None, region: str = "CN") -> Call:
    """Record that a call reached us; idempotent on ``uniqueid`` (a retried AGI finds the same row).

    Caller number and name are kept as received (neutralised text); the number is also normalised
    and flagged when malformed or foreign.
    """
    uniqueid = _require_asterisk_id(uniqueid, "uniqueid")
    linkedid = _require_asterisk_id(linkedid or uniqueid, "linkedid")
    existing = call_by_uniqueid(session, uniqueid)
    if existing is not None:
        return existing
    raw_number = neutralise_received_text(caller_number, 64)
    phone = parse_phone(raw_number)
    resident = find_resident_by_phone(session, raw_number, region) if phone.e164 else None
    call = Call(
        uniqueid=uniqueid, linkedid=linkedid, direction=direction,
        caller_number_raw=raw_number, caller_number=phone.e164, caller_number_flagged=phone.flagged,
        caller_name=neutralise_received_text(caller_name, 256),
        dialed=neutralise_received_text(dialed, 32),
        resident_id=resident.id if resident else None, started_at=now or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(call)
    except IntegrityError:
        found = call_by_uniqueid(session, uniqueid)
        if found is None:
            raise
        return found
    return call


def append_ivr_step(call: Call, step: dict[str, Any]) -> None:
    """Add one IVR step (menu, input, choice) to the call's path; the path is capped in length."""
    safe = {str(k)[:32]: neutralise_received_text(str(v), 128) for k, v in step.items()}
    path = list(call.ivr_path or [])
    if len(path) < IVR_PATH_LIMIT:
        path.append(safe)
    call.ivr_path = path


def finish_call(session: Session, call: Call, outcome: CallOutcome, *, now: dt.datetime | None = None) -> Call:
    """Record how a call ended; a call already finished keeps its first outcome."""
    if call.outcome != CallOutcome.IN_PROGRESS and call.ended_at is not None:
        return call
    call.outcome = outcome
    call.ended_at = now or utcnow()
    session.flush()
    return call
