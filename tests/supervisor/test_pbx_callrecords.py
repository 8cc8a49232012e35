"""Calls placed by the simulator through the sandbox Asterisk produce the right call records.

The listener (:class:`callcenter.callrecords.CallRecordListener` over the console's AMI user) runs
against the session's sandbox; the FastAGI side is the probe server, told per test what the IVR
decides.  After each scenario a reconcile from the sandbox's CDR and queue_log must find nothing
to add: every inbound call of the CDR is exactly one record.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from callcenter.ami import AmiClient
from callcenter.callrecords import CallRecorder, CallRecordListener, reconcile_files
from hotline.config import Settings, secret_from_file
from hotline.sandbox.runner import Sandbox
from hotline.simulator.calls import Simulator
from hotline.simulator.probe_agi import ProbeAgiServer, ProbeSession
from models.entities import Call, User
from models.enums import CallOutcome
from tests.pbx.helpers import eventually
from tests.plugins.db import Database

pytestmark = pytest.mark.pbx


@dataclass
class Listening:
    """A running listener and what it writes to."""

    listener: CallRecordListener
    thread: threading.Thread
    database: Database

    def stop(self) -> None:
        self.listener.stop()
        self.thread.join(timeout=10)


def start_listener(pbx_settings: Settings, database: Database) -> Listening:
    """The call-record listener on the sandbox's AMI (the console's user)."""
    secret = pbx_settings.ami_secret or secret_from_file(pbx_settings.data_dir, "ami-secret")

    def connect(on_event):  # type: ignore[no-untyped-def]
        client = AmiClient(pbx_settings.ami_host, pbx_settings.ami_port, pbx_settings.ami_user, secret, on_event)
        client.connect()
        return client

    listener = CallRecordListener(CallRecorder(database.sessions), connect, max_backoff=1.0)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    assert eventually(lambda: listener.connections >= 1, timeout=10)
    return Listening(listener, thread, database)


@pytest.fixture
def listening(pbx_settings: Settings, pbx: Sandbox, sqlite_db: Database) -> Iterator[Listening]:
    running = start_listener(pbx_settings, sqlite_db)
    yield running
    running.stop()


def _record(database: Database, uniqueid: str) -> Call | None:
    with database.sessions() as session:
        return session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one_or_none()


def _finished(database: Database, uniqueid: str) -> Call:
    found = eventually(lambda: (c := _record(database, uniqueid)) is not None and c.ended_at is not None and c,
                       timeout=10)
    assert found, f"no finished record for {uniqueid}"
    return found


def _queue(name: str, outcome: str = "queued"):  # type: ignore[no-untyped-def]
    def behave(session: ProbeSession) -> None:
        session.set_variable("HOTLINE_QUEUE", name)
        session.set_variable("HOTLINE_OUTCOME", outcome)
    return behave


def _user_id(database: Database, username: str) -> int:
    with database.sessions() as session:
        return session.scalars(select(User.id).where(User.username == username)).one()


def test_answered_by_a_simulated_agent(listening: Listening, simulator: Simulator, probe: ProbeAgiServer,
                                       pbx: Sandbox) -> None:
    probe.behaviours["ivr"] = _queue("general")
    simulator.agent_answers("agent03", ring=0.3, hold=2)
    simulator.login_agent("agent03")
    try:
        result = simulator.place_call(caller="13800000021", hold=15)
    finally:
        simulator.logout_agent("agent03")
        simulator.agent_never_answers("agent03")
    assert result.agent == "agent03"
    call = _finished(listening.database, result.hotline_uniqueid)
    assert call.outcome == CallOutcome.ANSWERED and call.queue == "general"
    assert call.agent_id == _user_id(listening.database, "agent03")
    assert call.caller_number == "+8613800000021" and call.linkedid == result.hotline_linkedid
    assert call.answered_at is not None and call.queue_wait_seconds is not None
    assert call.recording == f"{result.hotline_uniqueid}.wav"
    assert (pbx.layout.recordings_host / call.recording).exists()


def test_abandoned_in_queue(listening: Listening, simulator: Simulator, probe: ProbeAgiServer) -> None:
    probe.behaviours["ivr"] = _queue("general")
    simulator.agent_never_answers("agent04")
    simulator.login_agent("agent04")  # a member who never answers: the caller waits, then gives up
    try:
        result = simulator.place_call(caller="13800000022", hold=6)
    finally:
        simulator.logout_agent("agent04")
    call = _finished(listening.database, result.hotline_uniqueid)
    assert call.outcome == CallOutcome.ABANDONED_QUEUE and call.queue == "general"
    assert call.answered_at is None and call.agent_id is None and (call.queue_wait_seconds or 0) >= 1


def test_abandoned_in_the_ivr(listening: Listening, simulator: Simulator, probe: ProbeAgiServer) -> None:
    probe.behaviours["ivr"] = lambda session: session.set_variable("HOTLINE_OUTCOME", "abandoned")
    result = simulator.place_call(caller="13800000023", hold=5)
    call = _finished(listening.database, result.hotline_uniqueid)
    assert call.outcome == CallOutcome.ABANDONED_IVR and call.queue is None


def test_fastagi_failure_fallback_is_a_degraded_record(listening: Listening, simulator: Simulator,
                                                       probe: ProbeAgiServer, pbx: Sandbox) -> None:
    probe.stop()
    simulator.agent_answers("agent01", ring=0.3, hold=2)
    simulator.login_agent("agent01")
    try:
        result = simulator.place_call(caller="13800000024", hold=15)
    finally:
        simulator.logout_agent("agent01")
        simulator.agent_never_answers("agent01")
        probe.start()
    assert result.variables["HOTLINE_DEGRADED"] == "1"
    call = _finished(listening.database, result.hotline_uniqueid)
    assert call.agent_id == _user_id(listening.database, "agent01")
    # Live AMI carries no dialplan variables for the console's user; the CDR's userfield does.
    reconcile_files(listening.database.sessions, pbx.layout.cdr_csv, pbx.layout.queue_log)
    assert _record(listening.database, result.hotline_uniqueid).outcome in (CallOutcome.ANSWERED,  # type: ignore[union-attr]
                                                                           CallOutcome.DEGRADED)


def test_listener_killed_mid_run_then_reconcile_leaves_no_gap_or_duplicate(
        pbx_settings: Settings, pbx: Sandbox, sqlite_db: Database, simulator: Simulator,
        probe: ProbeAgiServer) -> None:
    probe.behaviours["ivr"] = lambda session: session.set_variable("HOTLINE_OUTCOME", "status")
    first = start_listener(pbx_settings, sqlite_db)
    before = simulator.place_call(caller="13800000031", hold=3)
    pending = simulator.start_call(caller="13800000032", hold=4)
    first.stop()  # killed while a call is in progress
    during = [pending.result(), simulator.place_call(caller="13800000033", hold=3)]
    second = start_listener(pbx_settings, sqlite_db)  # restarted
    after = simulator.place_call(caller="13800000034", hold=3)
    try:
        _finished(sqlite_db, after.hotline_uniqueid)
    finally:
        second.stop()
    report = reconcile_files(sqlite_db.sessions, pbx.layout.cdr_csv, pbx.layout.queue_log)
    uniqueids = [r.hotline_uniqueid for r in (before, *during, after)]
    with sqlite_db.sessions() as session:
        rows = session.execute(select(Call.uniqueid, func.count()).where(Call.uniqueid.in_(uniqueids))
                               .group_by(Call.uniqueid)).all()
    assert sorted(u for u, n in rows if n == 1) == sorted(uniqueids), (report, rows)
    for uniqueid in uniqueids:
        assert _finished(sqlite_db, uniqueid).outcome != CallOutcome.IN_PROGRESS
    assert report.created + report.finished >= 1  # the calls nobody listened to were rebuilt
    again = reconcile_files(sqlite_db.sessions, pbx.layout.cdr_csv, pbx.layout.queue_log)
    assert again.created == again.finished == 0
