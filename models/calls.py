"""Call records: one row per Asterisk channel (uniqueid), reconcilable by linkedid."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
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
# Why a call was finished without a Hangup event or a CDR row (the ``reason`` of its "lost" step).
LOST_ASTERISK_RESTARTED = "asterisk-restarted"  # Asterisk started again after the call began
LOST_CHANNEL_GONE = "channel-gone"  # Asterisk is up but no longer has the call's channel
LOST_REASONS = frozenset({LOST_ASTERISK_RESTARTED, LOST_CHANNEL_GONE})
LOST_NOTE = "通话中断：Asterisk 已不再有此通话（重启或崩溃），未收到挂机事件，由系统补结"


def _require_asterisk_id(value: str, field: str) -> str:
    if not value or len(value) > MAX_ID_LENGTH or not all(ch.isalnum() or ch in ".-_" for ch in value):
        raise ValidationError(f"{field}: {value!r} is not an Asterisk channel id")
    return value


def call_by_uniqueid(session: Session, uniqueid: str, *, for_update: bool = False) -> Call | None:
    """The call record of an Asterisk channel, if one exists (row-locked with ``for_update``)."""
    query = select(Call).where(Call.uniqueid == uniqueid)
    return session.scalars(query.with_for_update() if for_update else query).one_or_none()


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


def append_ivr_step(call: Call, step: dict[str, Any], *, keep_last: bool = False) -> None:
    """Add one IVR step (menu, input, choice) to the call's path; the path is capped in length.

    With ``keep_last`` the step is kept even on a full path (it replaces the last step there).
    """
    safe = {str(k)[:32]: neutralise_received_text(str(v), 128) for k, v in step.items()}
    path = list(call.ivr_path or [])
    if len(path) < IVR_PATH_LIMIT:
        path.append(safe)
    elif keep_last:
        path[-1] = safe
    call.ivr_path = path


def finish_call(session: Session, call: Call, outcome: CallOutcome, *, now: dt.datetime | None = None) -> Call:
    """Record how a call ended; a call already finished keeps its first outcome."""
    if call.outcome != CallOutcome.IN_PROGRESS and call.ended_at is not None:
        return call
    call.outcome = outcome
    call.ended_at = now or utcnow()
    session.flush()
    return call


@dataclass(frozen=True)
class OpenCall:
    """A call record with no end time, and the last moment its stored fields show it alive."""

    id: int
    uniqueid: str
    started_at: dt.datetime
    last_event_at: dt.datetime


def open_calls(session: Session, *, started_before: dt.datetime,
               started_after: dt.datetime | None = None) -> list[OpenCall]:
    """Calls still open (no end time) that started before ``started_before`` (and after
    ``started_after`` when given: the index on the start time bounds the search), oldest first."""
    query = select(Call.id, Call.uniqueid, Call.started_at, Call.queue_entered_at, Call.answered_at).where(
        Call.ended_at.is_(None), Call.started_at < started_before)
    if started_after is not None:
        query = query.where(Call.started_at >= started_after)
    found = []
    for call_id, uniqueid, started, entered, answered in session.execute(query.order_by(Call.started_at, Call.id)):
        last = max(moment for moment in (started, entered, answered) if moment is not None)
        found.append(OpenCall(call_id, uniqueid, started, last))
    return found


def finish_lost_call(session: Session, call_id: int, *, last_alive: dt.datetime, reason: str,
                     now: dt.datetime | None = None) -> Call | None:
    """Finish a call Asterisk lost: no Hangup event and no CDR row will ever come for it.

    It ends at ``last_alive`` (the last moment it was known to be up, kept between its start and
    now), keeps the outcome it has (a call with a ticket ends as ``ticket``) or else ends as
    ``degraded``, and its IVR path gets a ``lost`` step saying why.  The row is locked and only an
    open call is changed, so whichever of this and a racing Hangup comes second changes nothing:
    returns the call when this finished it, None when it was already finished or does not exist.
    """
    if reason not in LOST_REASONS:
        raise ValidationError(f"reason: {reason!r} is not one of {sorted(LOST_REASONS)}")
    if last_alive.tzinfo is None:
        raise ValidationError("last_alive: a time must carry its time zone")
    call = session.scalars(select(Call).where(Call.id == call_id, Call.ended_at.is_(None))
                           .with_for_update()).one_or_none()
    if call is None:
        return None
    ended = max(call.started_at, min(last_alive, now or utcnow()))
    if call.outcome == CallOutcome.IN_PROGRESS:
        call.outcome = CallOutcome.TICKET if call.ticket_id is not None else CallOutcome.DEGRADED
    call.ended_at = ended
    append_ivr_step(call, {"closed": "lost", "reason": reason, "last_alive": ended.isoformat(timespec="seconds"),
                           "note": LOST_NOTE}, keep_last=True)
    session.flush()
    return call
