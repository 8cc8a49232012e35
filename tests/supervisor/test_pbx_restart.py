"""Asterisk restarted under a running call-record listener: calls before, during and after the
restart each end as exactly one finished record once reconciled (DESIGN.md §6, promise 1).

This test has its own sandbox instance (own ports, data dir and probe FastAGI server), so stopping
Asterisk disturbs no other test sharing the session's sandbox.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcenter.ami import AmiClient
from callcenter.callrecords import CallRecorder, CallRecordListener, reconcile_files
from hotline.config import Settings, secret_from_file
from hotline.simulator.calls import Simulator
from hotline.simulator.probe_agi import ProbeSession
from models.entities import Call
from models.enums import CallOutcome
from tests.pbx.helpers import eventually
from tests.plugins.db import Database
from tests.plugins.pbx import OwnPbx, own_sandbox

pytestmark = pytest.mark.pbx


@pytest.fixture
def own_pbx(tmp_path: Path) -> Iterator[OwnPbx]:
    with own_sandbox(tmp_path / "pbx", "restart", _status_query) as own:
        yield own


CUT_CALLER = "13800000042"


def _status_query(session: ProbeSession) -> None:
    """The IVR answers a progress query and the call ends; the cut call stays in the IVR meanwhile."""
    if session.call.env.get("agi_callerid") == CUT_CALLER:
        session.exec("Wait", "25")
    session.set_variable("HOTLINE_OUTCOME", "status")


def _listener(settings: Settings, database: Database) -> tuple[CallRecordListener, threading.Thread]:
    secret = secret_from_file(settings.data_dir, "ami-secret")

    def connect(on_event):  # type: ignore[no-untyped-def]
        client = AmiClient(settings.ami_host, settings.ami_port, settings.ami_user, secret, on_event)
        client.connect()
        return client

    listener = CallRecordListener(CallRecorder(database.sessions), connect, max_backoff=1.0)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    return listener, thread


def _record(database: Database, uniqueid: str) -> Call | None:
    with database.sessions() as session:
        return session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one_or_none()


def test_asterisk_restarted_under_the_listener_leaves_no_gap_or_duplicate(own_pbx: OwnPbx,
                                                                          sqlite_db: Database) -> None:
    listener, thread = _listener(own_pbx.settings, sqlite_db)
    simulator = Simulator.connect(own_pbx.sandbox)
    try:
        assert eventually(lambda: listener.connections >= 1, timeout=10)
        before = simulator.place_call(caller="13800000041", hold=3)
        assert eventually(lambda: (c := _record(sqlite_db, before.hotline_uniqueid)) is not None
                          and c.ended_at is not None, timeout=10)
        cut = simulator.start_call(caller=CUT_CALLER, hold=30)  # still in the IVR when Asterisk stops
        assert cut.answered(timeout=10)
        own_pbx.probe.wait_call(lambda c: c.env.get("agi_callerid") == CUT_CALLER)
        cut_uniqueid = own_pbx.probe.wait_call(lambda c: c.env.get("agi_callerid") == CUT_CALLER).env["agi_uniqueid"]
        in_progress = eventually(lambda: _record(sqlite_db, cut_uniqueid), timeout=10)
        assert in_progress.ended_at is None and in_progress.outcome == CallOutcome.IN_PROGRESS
        simulator.close()
        own_pbx.sandbox.stop()
        own_pbx.sandbox.start(progress=lambda line: print(line, flush=True))
        simulator = Simulator.connect(own_pbx.sandbox)
        assert eventually(lambda: listener.connections >= 2, timeout=20)  # reconnected by itself
        after = simulator.place_call(caller="13800000043", hold=3)
        assert eventually(lambda: (c := _record(sqlite_db, after.hotline_uniqueid)) is not None
                          and c.ended_at is not None, timeout=10)
    finally:
        simulator.close()
        listener.stop()
        thread.join(timeout=10)
    layout = own_pbx.sandbox.layout
    report = reconcile_files(sqlite_db.sessions, layout.cdr_csv, layout.queue_log)
    uniqueids = [before.hotline_uniqueid, cut_uniqueid, after.hotline_uniqueid]
    assert len(set(uniqueids)) == 3 and all(uniqueids)
    with sqlite_db.sessions() as session:
        counts = dict(session.execute(select(Call.uniqueid, func.count()).group_by(Call.uniqueid)).tuples().all())
    assert {u: counts.get(u, 0) for u in uniqueids} == {u: 1 for u in uniqueids}, (report, counts)
    assert all(n == 1 for n in counts.values())  # nothing else was duplicated either
    for uniqueid in uniqueids:
        call = _record(sqlite_db, uniqueid)
        assert call is not None and call.ended_at is not None and call.outcome != CallOutcome.IN_PROGRESS, (
            uniqueid, report)
    assert report.seen == 3
    again = reconcile_files(sqlite_db.sessions, layout.cdr_csv, layout.queue_log)
    assert (again.created, again.finished, again.unchanged) == (0, 0, 3)
