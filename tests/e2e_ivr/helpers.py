"""Reading what real calls left in the e2e ticket store."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.config import Settings
from hotline.runtime import sessions_for
from hotline.simulator.script import Step, dtmf, wait
from models.calls import call_by_uniqueid
from models.entities import Call, Ticket
from models.tickets import ticket_by_number

T = TypeVar("T")


def read_store(settings: Settings, read: Callable[[Session], T]) -> T:
    """Run ``read`` in a session of the e2e store (objects it returns are loaded already)."""
    engine, sessions = sessions_for(settings)
    try:
        with sessions() as session:
            return read(session)
    finally:
        engine.dispose()


def ticket(settings: Settings, number: str) -> Ticket | None:
    """A ticket by number with its category, sub-service and events loaded."""

    def read(session: Session) -> Ticket | None:
        found = ticket_by_number(session, number)
        if found is not None:
            _ = found.sub_service, found.category, found.events
        return found

    return read_store(settings, read)


def call_record(settings: Settings, uniqueid: str, done: Callable[[Call], bool] = lambda c: True,
                timeout: float = 10.0) -> Call:
    """The call record of a hotline channel once ``done`` holds (the IVR finishes it just after hangup)."""
    deadline = time.monotonic() + timeout
    while True:
        record = read_store(settings, lambda s: call_by_uniqueid(s, uniqueid))
        if record is not None and done(record):
            return record
        assert time.monotonic() < deadline, f"call record {uniqueid}: not as expected in {timeout} s: {record}"
        time.sleep(0.2)


def tickets_of_call(settings: Settings, uniqueid: str) -> list[Ticket]:
    """Every ticket whose origin is this call."""

    def read(session: Session) -> list[Ticket]:
        record = call_by_uniqueid(session, uniqueid)
        if record is None:
            return []
        return list(session.scalars(select(Ticket).where(Ticket.origin_call_id == record.id)))

    return read_store(settings, read)


def keys_then_repeat(first: list[Step], key: str, start: float, every: float, count: int) -> list[Step]:
    """Steps: ``first``, then from ``start`` s after the answer press ``key`` every ``every`` s."""
    elapsed = sum(float(s.arg) for s in first if s.kind == "wait")
    steps = [*first, wait(max(0.0, start - elapsed))]
    for n in range(count):
        steps += [dtmf(key)] + ([wait(every)] if n < count - 1 else [])
    return steps
