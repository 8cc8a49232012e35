"""Supervisor fixtures: the console with a recordings folder, and a small known set of calls."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from models.calls import append_ivr_step, record_call_start
from models.entities import Call, ServiceCategory, Station, SubService, Ticket, User
from models.enums import CallOutcome, Channel
from models.tickets import TicketRequest, open_ticket
from tests.callcenter.conftest import Browser, login, make_app
from tests.plugins.db import Database

BASE = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 09:00 in Asia/Shanghai, a Monday


@dataclass
class CallSet:
    """The calls a test made, by label."""

    ids: dict[str, int] = field(default_factory=dict)
    recordings: Path | None = None


def add_call(database: Database, label: str, *, minutes: int, number: str, station: str | None,
             sub_service: str | None = None, agent: str | None = None, queue: str | None = "general",
             wait: int | None = 10, outcome: CallOutcome = CallOutcome.TICKET, caller_name: str | None = None,
             recording: str | None = None) -> int:
    """One finished call (with a ticket when ``station`` is given)."""
    started = BASE + dt.timedelta(minutes=minutes)
    with database.sessions.begin() as session:
        call = record_call_start(session, uniqueid=f"1772000000.{label}", caller_number=number,
                                 caller_name=caller_name, dialed="96345", now=started)
        append_ivr_step(call, {"menu": "main", "key": "1"})
        append_ivr_step(call, {"menu": "category", "key": "2"})
        call.queue, call.queue_wait_seconds = queue, wait
        call.queue_entered_at = started + dt.timedelta(seconds=20) if queue else None
        if agent:
            call.agent_id = session.scalars(select(User.id).where(User.username == agent)).one()
            call.answered_at = started + dt.timedelta(seconds=20 + (wait or 0))
        call.ended_at = started + dt.timedelta(minutes=3)
        call.outcome = outcome
        call.recording = recording
        if station:
            sid = session.scalars(select(Station.id).where(Station.code == station)).one()
            ticket = open_ticket(session, TicketRequest(channel=Channel.PHONE, station_id=sid,
                                                        sub_service_code=sub_service, contact_number=number,
                                                        description="测试来电"), actor="ivr")
            call.ticket_id = ticket.id
        session.flush()
        return call.id


def sub_service_of(database: Database, category_code: str) -> tuple[str, int]:
    """A sub-service code of a category, and the category id."""
    with database.sessions() as session:
        sub = session.scalars(select(SubService).join(ServiceCategory)
                              .where(ServiceCategory.code == category_code).order_by(SubService.id)).first()
        assert sub is not None
        return sub.code, sub.category_id


@pytest.fixture
def recordings_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    return folder


@pytest.fixture
def sup_app(db: Database, recordings_dir: Path) -> Flask:
    """The console with a recordings folder."""
    return make_app(db, RECORDINGS_DIR=str(recordings_dir))


@pytest.fixture
def as_user(sup_app: Flask):  # type: ignore[no-untyped-def]
    """Log in as a demo account."""
    def make(username: str) -> Browser:
        return login(sup_app, username)
    return make


@pytest.fixture
def call_set(db: Database, recordings_dir: Path) -> CallSet:
    """Six calls: Danghu (city scope only) and Lindai, answered and abandoned, one hostile caller name."""
    appliance, _ = sub_service_of(db, "APPL")
    lock, _ = sub_service_of(db, "LOCK")
    (recordings_dir / "1772000000.dh1.wav").write_bytes(b"RIFF" + bytes(range(256)) * 40)
    made = CallSet(recordings=recordings_dir)
    made.ids["dh1"] = add_call(db, "dh1", minutes=0, number="13800000001", station="DH-JSHT",
                               sub_service=appliance, agent="agent01", wait=5, recording="1772000000.dh1.wav")
    made.ids["dh2"] = add_call(db, "dh2", minutes=10, number="13800000002", station="DH-JSHT",
                               sub_service=lock, agent="agent02", wait=40,
                               caller_name="=HYPERLINK(\"http://x\",\"y\")")
    made.ids["ld1"] = add_call(db, "ld1", minutes=20, number="13900000003", station="LD-XJD",
                               sub_service=appliance, agent="ld-agent", wait=15, queue="elderly",
                               recording="1772000000.ld1.wav")
    (recordings_dir / "1772000000.ld1.wav").write_bytes(b"RIFF" + b"\0" * 100)
    made.ids["ld2"] = add_call(db, "ld2", minutes=30, number="13900000003", station="LD-XJD",
                               sub_service=lock, agent="ld-agent", wait=2)
    made.ids["ab1"] = add_call(db, "ab1", minutes=40, number="+8613700000009", station=None, agent=None,
                               wait=90, outcome=CallOutcome.ABANDONED_QUEUE)
    made.ids["iv1"] = add_call(db, "iv1", minutes=24 * 60, number="13800000001", station=None, agent=None,
                               queue=None, wait=None, outcome=CallOutcome.ABANDONED_IVR)
    return made


def call_ids_on(page: str) -> list[int]:
    """The call ids listed on a call-log page, in order."""
    import re

    return [int(x) for x in re.findall(r'data-call="(\d+)"', page)]


def ticket_of(database: Database, call_id: int) -> Ticket:
    """The ticket of a call."""
    with database.sessions() as session:
        call = session.get(Call, call_id)
        assert call is not None and call.ticket_id is not None
        ticket = session.get(Ticket, call.ticket_id)
        assert ticket is not None
        return ticket
