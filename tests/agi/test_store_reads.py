"""The IVR's reads do not wait for the writer, and a call writes its record with its ticket or path."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

from agi_scripts.store import ModelsTicketSink
from ivr.ports import CallInfo, IvrPath, Outcome, ServiceRequest
from models.calls import call_by_uniqueid
from tests.plugins.db import Database

REACHED = dt.datetime(2026, 12, 4, 2, 0, 5, tzinfo=dt.UTC)


def test_who_is_calling_is_read_while_a_writer_holds_the_lock(db: Database) -> None:
    sink = ModelsTicketSink(db.sessions)
    call = CallInfo(uniqueid="1733500000.1", caller_number="13800000888", reached_at=REACHED)
    holder = None
    if db.backend == "sqlite":  # another writer holds SQLite's one write lock for the whole lookup
        holder = sqlite3.connect(db.url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    try:
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            profile = pool.submit(sink.lookup_caller, call).result(timeout=5)
            assert time.monotonic() - started < 2
    finally:
        if holder is not None:
            holder.rollback()
            holder.close()
    assert not profile.anonymous and profile.open_ticket is None
    with db.session() as s:
        assert call_by_uniqueid(s, call.uniqueid) is None  # the lookup wrote nothing


def test_the_call_record_starts_when_the_call_reached_the_ivr(db: Database) -> None:
    sink = ModelsTicketSink(db.sessions)
    queued = CallInfo(uniqueid="1733500001.1", caller_number="13800000889", reached_at=REACHED)
    sink.lookup_caller(queued)
    ticket = sink.open_ticket(queued, ServiceRequest(category_code="DRAIN", service_code="DRAIN-SEWER"))
    abandoned = CallInfo(uniqueid="1733500001.2", caller_number="13800000889",
                         reached_at=REACHED + dt.timedelta(seconds=1))
    sink.finish_ivr(abandoned, IvrPath(["welcome"], "4"), Outcome.ABANDONED)
    with db.session() as s:
        first, second = call_by_uniqueid(s, queued.uniqueid), call_by_uniqueid(s, abandoned.uniqueid)
        assert first is not None and first.started_at == REACHED and first.ticket_id is not None
        assert second is not None and second.started_at == REACHED + dt.timedelta(seconds=1)
    assert ticket.created
    assert sink.lookup_caller(queued).open_ticket == ticket.number
