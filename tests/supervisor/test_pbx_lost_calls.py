"""Asterisk killed (SIGKILL: a crash, a power loss) with calls up: those calls get no Hangup event and
no CDR row, yet each ends as exactly one finished record (DESIGN.md §6, promise 1) once Asterisk is
back -- finished by the running listener, or by ``hotline calls reconcile --close-lost``.

Each test has its own sandbox instance (own ports, data dir and probe FastAGI server), so killing
Asterisk disturbs no other test; the fixture checks that no process or mount of it is left.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from callcenter.ami import AmiClient
from callcenter.callrecords import CallRecorder, CallRecordListener, LostCalls, reconcile_files
from hotline.cli import main
from hotline.config import secret_from_file
from hotline.simulator.calls import PendingCall, Simulator
from hotline.simulator.probe_agi import ProbeSession
from models.base import utcnow
from models.calls import record_call_start
from models.entities import Call
from models.enums import CallOutcome, Channel
from models.tickets import TicketRequest, open_ticket_for_call
from tests.pbx.helpers import eventually
from tests.plugins.db import Database
from tests.plugins.pbx import OwnPbx, _leftovers, own_sandbox

pytestmark = pytest.mark.pbx

HELD = "1380000009"  # callers whose number starts so stay in the IVR until Asterisk dies


def crash_and_restart(own: OwnPbx, simulator: Simulator) -> tuple[dt.datetime, Simulator]:
    """Kill Asterisk with SIGKILL, start it again; the moment of the kill and a new simulator."""
    simulator.close()
    killed_at = utcnow()
    assert own.sandbox.kill()
    assert own.sandbox.pid() is None and not _leftovers(own.sandbox)  # gone, mounts with it
    # Not back within the same second, as no real Asterisk is: a uniqueid is the second a channel
    # was made and a counter from 0, so a new run in the same second repeats the old run's ids.
    time.sleep(1.1)
    own.sandbox.start(progress=lambda line: print(line, flush=True))
    return killed_at, Simulator.connect(own.sandbox)


def _ivr(session: ProbeSession) -> None:
    """Held callers stay in the IVR; the others ask for a ticket's progress and the call ends."""
    if session.call.env.get("agi_callerid", "").startswith(HELD):
        session.exec("Wait", "60")
    session.set_variable("HOTLINE_OUTCOME", "status")


@pytest.fixture
def own_pbx(tmp_path: Path) -> Iterator[OwnPbx]:
    with own_sandbox(tmp_path / "pbx", "lost", _ivr) as own:
        yield own


def _console_user(own: OwnPbx) -> tuple[str, str]:
    """The console's AMI user as manager.conf ships it (no `system` read, no `reporting` write)."""
    return own.settings.ami_user, secret_from_file(own.settings.data_dir, "ami-secret")


def _simulator_user(own: OwnPbx) -> tuple[str, str]:
    """The sandbox simulator's AMI user, which may read `system` (FullyBooted) and ask CoreStatus."""
    assert own.sandbox.site is not None
    return own.sandbox.site.sim_ami_user, own.sandbox.site.sim_ami_secret


def _listen(own: OwnPbx, database: Database, user: Callable[[OwnPbx], tuple[str, str]], *,
            grace: float) -> tuple[CallRecordListener, threading.Thread]:
    def connect(on_event):  # type: ignore[no-untyped-def]
        name, secret = user(own)
        client = AmiClient(own.settings.ami_host, own.settings.ami_port, name, secret, on_event)
        client.connect()
        return client

    listener = CallRecordListener(CallRecorder(database.sessions), connect, max_backoff=0.5,
                                  lost_calls=LostCalls(database.sessions, grace=grace), sweep_every=1.0)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    assert eventually(lambda: listener.connections >= 1, timeout=10)
    return listener, thread


def _record(database: Database, uniqueid: str) -> Call | None:
    with database.sessions() as session:
        return session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one_or_none()


def _finished(database: Database, uniqueid: str, timeout: float = 15) -> Call:
    return eventually(lambda: (c := _record(database, uniqueid)) is not None and c.ended_at is not None and c,
                      timeout=timeout)


def _held_call(simulator: Simulator, database: Database, caller: str) -> tuple[PendingCall, str]:
    """A call up in the IVR, and its uniqueid once its record exists (open)."""
    call = simulator.start_call(caller=caller, hold=90)
    assert call.answered(timeout=10)
    _channel, uniqueid = call.hotline_side()
    record = eventually(lambda: _record(database, uniqueid), timeout=10)
    assert record.ended_at is None and record.outcome == CallOutcome.IN_PROGRESS
    return call, uniqueid


def _lost_steps(call: Call) -> list[dict[str, str]]:
    return [step for step in call.ivr_path or [] if step.get("closed") == "lost"]


def _records_per_uniqueid(database: Database) -> dict[str, int]:
    with database.sessions() as session:
        return dict(session.execute(select(Call.uniqueid, func.count()).group_by(Call.uniqueid)).tuples().all())


def test_calls_up_when_asterisk_is_killed_are_finished_once_by_the_listener(own_pbx: OwnPbx,
                                                                          sqlite_db: Database) -> None:
    """The shipped AMI rights: no boot time, so a missing call is finished after the grace time."""
    listener, thread = _listen(own_pbx, sqlite_db, _console_user, grace=1.0)
    simulator = Simulator.connect(own_pbx.sandbox)
    try:
        before = simulator.place_call(caller="13800000041", hold=2)
        _finished(sqlite_db, before.hotline_uniqueid)
        _plain, plain_id = _held_call(simulator, sqlite_db, HELD + "1")
        _ticketed, ticket_id = _held_call(simulator, sqlite_db, HELD + "2")
        with sqlite_db.sessions.begin() as session:  # the IVR opened a ticket for the second call
            open_ticket_for_call(session, uniqueid=ticket_id, caller_number=HELD + "2",
                                 request=TicketRequest(channel=Channel.PHONE, sub_service_code="APPL-TV",
                                                       description="电视没有图像"))
        time.sleep(3)  # several looks at the channels while the calls are up: none is touched
        assert _record(sqlite_db, plain_id).ended_at is None and listener.lost_finished == []  # type: ignore[union-attr]
        killed_at, simulator = crash_and_restart(own_pbx, simulator)
        assert eventually(lambda: listener.connections >= 2, timeout=20)  # reconnected by itself
        plain, ticketed = _finished(sqlite_db, plain_id), _finished(sqlite_db, ticket_id)
        after = simulator.place_call(caller="13800000043", hold=2)  # recorded normally after the restart
        new = _finished(sqlite_db, after.hotline_uniqueid)
        time.sleep(3)  # more looks: nothing is finished twice
    finally:
        simulator.close()
        listener.stop()
        thread.join(timeout=10)
    assert (plain.outcome, ticketed.outcome) == (CallOutcome.DEGRADED, CallOutcome.TICKET)
    for call in (plain, ticketed):
        # ended when last known alive: listed up by a look at most a second or so before the kill
        assert call.ended_at is not None and killed_at - dt.timedelta(seconds=4) <= call.ended_at <= killed_at
        steps = _lost_steps(call)
        assert len(steps) == 1 and steps[0]["reason"] == "channel-gone", call.ivr_path
    assert sorted(listener.lost_finished) == sorted([plain_id, ticket_id]) and listener.restarts == 0
    assert new.outcome not in (CallOutcome.IN_PROGRESS, CallOutcome.DEGRADED) and not _lost_steps(new)
    for uniqueid, ended in ((plain_id, plain.ended_at), (ticket_id, ticketed.ended_at)):
        again = _record(sqlite_db, uniqueid)
        assert again is not None and again.ended_at == ended and len(_lost_steps(again)) == 1
    # Asterisk's CDR knows only the calls that hung up; with the lost ones every call is one record.
    layout = own_pbx.sandbox.layout
    report = reconcile_files(sqlite_db.sessions, layout.cdr_csv, layout.queue_log)
    assert (report.seen, report.created, report.finished) == (2, 0, 0)
    counts = _records_per_uniqueid(sqlite_db)
    uniqueids = [before.hotline_uniqueid, plain_id, ticket_id, after.hotline_uniqueid]
    assert {u: counts.get(u, 0) for u in uniqueids} == {u: 1 for u in uniqueids} and len(counts) == 4


def test_a_listener_that_may_read_fully_booted_finishes_them_at_once(own_pbx: OwnPbx, sqlite_db: Database) -> None:
    """With `system` read rights the restart is recognised and no grace time is waited."""
    listener, thread = _listen(own_pbx, sqlite_db, _simulator_user, grace=3600)
    simulator = Simulator.connect(own_pbx.sandbox)
    try:
        _held, uniqueid = _held_call(simulator, sqlite_db, HELD + "3")
        time.sleep(3)  # the call began well before the next boot (boot times are whole seconds)
        _killed_at, simulator = crash_and_restart(own_pbx, simulator)
        call = _finished(sqlite_db, uniqueid)
    finally:
        simulator.close()
        listener.stop()
        thread.join(timeout=10)
    assert listener.restarts == 1 and listener.lost_finished == [uniqueid]
    assert call.outcome == CallOutcome.DEGRADED and _lost_steps(call)[0]["reason"] == "asterisk-restarted"


def test_hotline_calls_reconcile_close_lost_finishes_them_without_a_listener(own_pbx: OwnPbx,
                                                                            sqlite_db: Database) -> None:
    """Power lost: the listener went down with Asterisk.  Once Asterisk is back the command finishes
    the calls it no longer has, leaves a call up now alone, and finds nothing more the second time."""
    listener, thread = _listen(own_pbx, sqlite_db, _console_user, grace=3600)
    simulator = Simulator.connect(own_pbx.sandbox)
    try:
        lost_ids = [_held_call(simulator, sqlite_db, HELD + n)[1] for n in ("4", "5")]
    finally:
        listener.stop()
        thread.join(timeout=10)
    _killed_at, simulator = crash_and_restart(own_pbx, simulator)
    args = ["--data-dir", str(own_pbx.settings.data_dir), "--database-url", sqlite_db.url,
            "--set", f"ami_port={own_pbx.settings.ami_port}",
            "--set", f"asterisk_instance={own_pbx.settings.asterisk_instance}",
            "calls", "reconcile", "--close-lost", "--grace", "1"]
    try:
        up = simulator.start_call(caller=HELD + "6", hold=90)  # up now: recorded as the IVR would
        assert up.answered(timeout=10)
        _channel, up_id = up.hotline_side()
        with sqlite_db.sessions.begin() as session:
            record_call_start(session, uniqueid=up_id, caller_number=HELD + "6", dialed="96345")
        first = CliRunner().invoke(main, args)
        again = CliRunner().invoke(main, args)
    finally:
        simulator.close()
    assert first.exit_code == 0, first.output
    assert "3 open calls: 1 still up in Asterisk, 2 finished as lost" in first.output, first.output
    assert again.exit_code == 0 and "1 open calls: 1 still up in Asterisk, 0 finished as lost" in again.output
    for uniqueid in lost_ids:
        call = _record(sqlite_db, uniqueid)
        assert call is not None and call.outcome == CallOutcome.DEGRADED and len(_lost_steps(call)) == 1
    assert _record(sqlite_db, up_id).ended_at is None  # type: ignore[union-attr]
