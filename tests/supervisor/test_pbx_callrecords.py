"""Calls placed by the simulator through the sandbox Asterisk produce the right call records.

The listener (:class:`callcenter.callrecords.CallRecordListener` over the console's AMI user) runs
against the session's sandbox; the FastAGI side is the probe server, told per test what the IVR
decides.  After each scenario a reconcile from the sandbox's CDR and queue_log must find nothing
to add: every inbound call of the CDR is exactly one record.  The console's AMI user also writes
the custom queue_log lines (dispatch, survey) into the sandbox's queue_log.  Asterisk restarted
under a running listener: ``test_pbx_restart.py`` (its own sandbox).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcenter.ami import AmiClient
from callcenter.callrecords import CallRecorder, CallRecordListener, read_cdr, reconcile, reconcile_files
from callcenter.callrecords import read_queue_log as parse_queue_log
from callcenter.queuelog import QueueLogStory, log_survey_result
from hotline.config import Settings, secret_from_file
from hotline.sandbox.records import QueueLogRow, read_queue_log
from hotline.sandbox.runner import Sandbox
from hotline.simulator.calls import Simulator
from hotline.simulator.probe_agi import ProbeAgiServer, ProbeSession
from hotline.simulator.script import wait
from models.base import utcnow
from models.entities import Call, Ticket, TicketEvent, User
from models.enums import CallOutcome, Channel
from tests.pbx.helpers import eventually, tone_wav
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


def console_ami(pbx_settings: Settings, on_event=lambda _message: None) -> AmiClient:  # type: ignore[no-untyped-def]
    """A connected AMI client as the console's user (the least rights of manager.conf)."""
    secret = pbx_settings.ami_secret or secret_from_file(pbx_settings.data_dir, "ami-secret")
    client = AmiClient(pbx_settings.ami_host, pbx_settings.ami_port, pbx_settings.ami_user, secret, on_event)
    client.connect()
    return client


def start_listener(pbx_settings: Settings, database: Database) -> Listening:
    """The call-record listener on the sandbox's AMI (the console's user)."""

    def connect(on_event):  # type: ignore[no-untyped-def]
        return console_ami(pbx_settings, on_event)

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


def _queue_log_row(pbx: Sandbox, uniqueid: str, event: str) -> QueueLogRow | None:
    return next((r for r in read_queue_log(pbx.layout.queue_log) if r.callid == uniqueid and r.event == event), None)


def _fresh_sessions(database: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An empty migrated and seeded copy of the test database's schema (a second SQLite file)."""
    from models import make_engine, make_session_factory
    from models.schema import upgrade_to_head
    from models.seed import seed_all

    engine = make_engine(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    upgrade_to_head(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        seed_all(session, companies=1)
    return engine, sessions


def test_fastagi_failure_fallback_is_a_degraded_record(listening: Listening, simulator: Simulator,
                                                       probe: ProbeAgiServer, pbx: Sandbox,
                                                       tmp_path: Path) -> None:
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
    assert call.outcome == CallOutcome.DEGRADED  # live: HOTLINE_DEGRADED travels as a ChanVariable
    assert call.queue == "general" and call.queue_position == 1
    row = eventually(lambda: _queue_log_row(pbx, result.hotline_uniqueid, "DEGRADED"))
    assert row.data[0] == "FAILURE"
    reconcile_files(listening.database.sessions, pbx.layout.cdr_csv, pbx.layout.queue_log)
    assert _record(listening.database, result.hotline_uniqueid).outcome == CallOutcome.DEGRADED  # type: ignore[union-attr]
    # Rebuilt from the CDR and queue_log alone, the record says degraded too.
    rebuilt = Database("sqlite", "", *_fresh_sessions(listening.database, tmp_path))
    reconcile_files(rebuilt.sessions, pbx.layout.cdr_csv, pbx.layout.queue_log)
    again = _record(rebuilt, result.hotline_uniqueid)
    assert again is not None and again.outcome == CallOutcome.DEGRADED and again.queue_position == 1


def test_no_agent_the_caller_leaves_a_message_that_becomes_a_callback_ticket(
        listening: Listening, simulator: Simulator, probe: ProbeAgiServer, pbx: Sandbox, tmp_path: Path) -> None:
    def route(session: ProbeSession) -> None:  # what the IVR decided, with hostile values to filter
        session.set_variable("HOTLINE_CATEGORY", "APPL|x;<b>")
        session.set_variable("HOTLINE_TICKET", "26$(id)12")
        _queue("general")(session)

    probe.behaviours["ivr"] = route
    speech = tone_wav(tmp_path / "message.wav", seconds=2.0)
    # Nobody is logged in: the queue is not joined; the caller speaks after vm-intro (5.7 s) and its beep.
    result = simulator.place_call(caller="13800000025", steps=[wait(6.5)], say=speech, hold=0.5)
    assert result.variables["QUEUESTATUS"] == "JOINEMPTY"
    uniqueid = result.hotline_uniqueid

    def ticket_ready() -> Ticket | None:
        with listening.database.sessions() as session:
            call = session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one_or_none()
            ticket = session.get(Ticket, call.ticket_id) if call is not None and call.ticket_id else None
            return ticket if ticket is not None and ticket.callback_requested else None

    ticket = eventually(ticket_ready, timeout=10)
    call = _finished(listening.database, uniqueid)
    assert call.outcome == CallOutcome.VOICEMAIL and call.recording == f"msg-{uniqueid}.wav"
    assert ticket.channel == Channel.PHONE and ticket.contact_number == "+8613800000025"
    assert ticket.description_recording == f"msg-{uniqueid}.wav"
    assert eventually(lambda: (pbx.layout.recordings_host / call.recording).stat().st_size > 8000
                      if (pbx.layout.recordings_host / call.recording).exists() else None)
    choice = eventually(lambda: _queue_log_row(pbx, uniqueid, "IVRCHOICE"))
    assert choice.data == ("queued", "APPL", "2612")
    assert eventually(lambda: _queue_log_row(pbx, uniqueid, "CALLBACKMSG")) is not None
    # Reconcile this call's own CDR and queue_log lines (the shared sandbox's files also hold every
    # earlier test's calls, which this test's fresh database has never seen).
    cdr_rows = eventually(lambda: [row for row in read_cdr(pbx.layout.cdr_csv.read_text(encoding="utf-8").splitlines())
                                   if uniqueid in (row.get("uniqueid"), row.get("linkedid"))] or None)
    entries = [entry for entry in parse_queue_log(pbx.layout.queue_log.read_text(encoding="utf-8").splitlines())
               if entry.callid == uniqueid]
    with listening.database.sessions.begin() as session:
        report = reconcile(session, cdr_rows, entries)
    assert report.seen == 1 and report.callbacks == 0  # the listener already made it: nothing twice
    with listening.database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.origin_call_id == call.id)) == 1
        notes = session.scalars(select(TicketEvent.text).where(TicketEvent.ticket_id == ticket.id)).all()
        assert notes.count("message left") == 1 and notes.count("callback requested") == 1


def test_dispatch_and_survey_lines_reach_asterisks_queue_log(pbx_settings: Settings, pbx: Sandbox,
                                                              sqlite_db: Database) -> None:
    from tests.supervisor.test_queuelog import _call_ticket, _dispatch, _worker_for

    worker_id, worker_code, sub_service = _worker_for(sqlite_db)
    story = QueueLogStory(sqlite_db.sessions)
    client = console_ami(pbx_settings)
    try:
        story.write_pending(client)  # the marks start here
        uniqueid = f"{int(utcnow().timestamp())}.9{worker_id}"
        ticket_id, number = _call_ticket(sqlite_db, uniqueid, sub_service)
        _dispatch(sqlite_db, ticket_id, worker_id)
        assert story.write_pending(client, now=utcnow() + dt.timedelta(seconds=5)) == 1
        log_survey_result(client, uniqueid=uniqueid, queue="general", ticket_number=number, score=5, solved=True)
    finally:
        client.close()
    dispatch = eventually(lambda: _queue_log_row(pbx, uniqueid, "DISPATCH"))
    assert (dispatch.queue, dispatch.agent, dispatch.data) == ("hotline-general", worker_code,
                                                               (number, sub_service, worker_code))
    survey = eventually(lambda: _queue_log_row(pbx, uniqueid, "SURVEY"))
    assert survey.data == (number, "5", "Y")


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
