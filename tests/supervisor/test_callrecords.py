"""Call records from AMI events and the reconcile from the CDR and queue_log (synthetic Asterisk
output in the formats of ``asterisk_conf/``; the calls through the sandbox are in the PBX tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select

from callcenter.callrecords import (
    CallRecorder,
    CallRecordListener,
    read_cdr,
    read_queue_log,
    reconcile,
)
from models.entities import Call, User
from models.enums import CallOutcome
from tests.plugins.db import Database

T0 = 1772000000.0


def _channel(uid: str, t: float, event: str, **extra: str) -> dict[str, str]:
    return {"Event": event, "Uniqueid": uid, "Linkedid": uid, "Timestamp": f"{t:.6f}",
            "Channel": f"PJSIP/carrier-{uid}", **extra}


def answered(uid: str, seat: str = "agent01") -> list[dict[str, str]]:
    return [_channel(uid, T0, "Newchannel", Context="from-carrier", Exten="96345", CallerIDNum="13800000001",
                     CallerIDName="=cmd"),
            _channel(uid, T0 + 1, "VarSet", Variable="HOTLINE_OUTCOME", Value="queued"),
            _channel(uid, T0 + 30, "QueueCallerJoin", Queue="hotline-general", Position="1"),
            {**_channel(uid, T0 + 42, "AgentConnect", Queue="hotline-general", HoldTime="12",
                        Interface=f"PJSIP/{seat}"), "DestUniqueid": uid + "9", "DestLinkedid": uid},
            _channel(uid + "9", T0 + 50, "Hangup") | {"Linkedid": uid},  # the agent's leg: not a call record
            _channel(uid, T0 + 200, "Hangup", Cause="16")]


def abandoned_in_queue(uid: str) -> list[dict[str, str]]:
    return [_channel(uid, T0, "Newchannel", Context="from-carrier", Exten="96345", CallerIDNum="13800000002"),
            _channel(uid, T0 + 20, "QueueCallerJoin", Queue="hotline-elderly"),
            _channel(uid, T0 + 65, "QueueCallerAbandon", Queue="hotline-elderly", HoldTime="45"),
            _channel(uid, T0 + 65, "Hangup")]


def abandoned_in_ivr(uid: str) -> list[dict[str, str]]:
    return [_channel(uid, T0, "Newchannel", Context="from-carrier", Exten="96345", CallerIDNum="13800000003"),
            _channel(uid, T0 + 9, "Hangup")]


def degraded(uid: str) -> list[dict[str, str]]:
    return [_channel(uid, T0, "Newchannel", Context="from-carrier", Exten="96345", CallerIDNum="13800000004"),
            _channel(uid, T0 + 1, "VarSet", Variable="HOTLINE_DEGRADED", Value="1"),
            _channel(uid, T0 + 2, "QueueCallerJoin", Queue="hotline-general"),
            _channel(uid, T0 + 5, "AgentConnect", Queue="hotline-general", HoldTime="3",
                     Interface="PJSIP/agent02"),
            _channel(uid, T0 + 90, "Hangup")]


def _calls(database: Database) -> dict[str, Call]:
    with database.sessions() as session:
        return {c.uniqueid: c for c in session.scalars(select(Call))}


def _user(database: Database, username: str) -> int:
    with database.sessions() as session:
        return session.scalars(select(User.id).where(User.username == username)).one()


def test_events_make_one_record_per_call(db: Database) -> None:
    recorder = CallRecorder(db.sessions)
    for event in [*answered("1.1"), *abandoned_in_queue("1.2"), *abandoned_in_ivr("1.3"), *degraded("1.4")]:
        recorder.handle(event)
    calls = _calls(db)
    assert set(calls) == {"1.1", "1.2", "1.3", "1.4"}
    one = calls["1.1"]
    assert (one.outcome, one.queue, one.queue_wait_seconds, one.agent_id) == (
        CallOutcome.ANSWERED, "general", 12, _user(db, "agent01"))
    assert one.recording == "1.1.wav" and one.caller_number == "+8613800000001" and one.caller_name == "=cmd"
    assert (one.ended_at - one.started_at).total_seconds() == 200
    assert (calls["1.2"].outcome, calls["1.2"].queue, calls["1.2"].queue_wait_seconds) == (
        CallOutcome.ABANDONED_QUEUE, "elderly", 45)
    assert calls["1.3"].outcome == CallOutcome.ABANDONED_IVR and calls["1.3"].queue is None
    assert calls["1.4"].outcome == CallOutcome.DEGRADED and calls["1.4"].agent_id == _user(db, "agent02")


def test_replayed_events_and_a_restarted_listener_make_no_duplicate(db: Database) -> None:
    events = answered("2.1")
    first = CallRecorder(db.sessions)
    for event in events[:3]:  # killed after the caller joined the queue
        first.handle(event)
    second = CallRecorder(db.sessions)  # restarted: sees some events again, then the rest
    for event in events[1:] + events:
        second.handle(event)
    calls = _calls(db)
    assert list(calls) == ["2.1"] and calls["2.1"].outcome == CallOutcome.ANSWERED


def test_events_with_hostile_ids_are_skipped(db: Database) -> None:
    recorder = CallRecorder(db.sessions)
    recorder.handle(_channel("1.1'; DROP TABLE calls;--", T0, "Newchannel", Context="from-carrier"))
    recorder.handle({"Event": "Newchannel", "Context": "from-carrier"})
    recorder.handle({"Event": "Hangup", "Uniqueid": "x" * 500, "Linkedid": "x" * 500})
    assert _calls(db) == {}


def _cdr_line(uid: str, start: str, end: str, src: str, userfield: str, disposition: str = "ANSWERED") -> str:
    fields = [start, start, end, f'"" <{src}>', src, "96345", "from-carrier", f"PJSIP/carrier-{uid}", "",
              "Hangup", disposition, "60", "50", "DOCUMENTATION", "", uid, uid, userfield, "", "1"]
    return ",".join(f'"{f}"' for f in fields)


def _asterisk_records(uids: dict[str, str]) -> tuple[list[str], list[str]]:
    """CDR lines and queue_log lines for calls of each kind."""
    cdr, qlog = [], []
    for uid, kind in uids.items():
        userfield = {"answered": "queue:hotline-general", "abandoned": "queue:hotline-elderly",
                     "ivr": "ivr:abandoned", "degraded": "degraded", "message": "callback-message",
                     "status": "ivr:status"}[kind]
        cdr.append(_cdr_line(uid, "2026-02-25 06:13:20", "2026-02-25 06:16:40", "13800000005", userfield))
        qlog.append(f"{T0:.0f}|{uid}|NONE|NONE|DID|96345")
        if kind in ("answered", "degraded"):
            qlog += [f"{T0 + 30:.0f}|{uid}|hotline-general|NONE|ENTERQUEUE||13800000005|1",
                     f"{T0 + 42:.0f}|{uid}|hotline-general|PJSIP/agent03|CONNECT|12|{uid}9|2"]
        elif kind == "abandoned":
            qlog += [f"{T0 + 30:.0f}|{uid}|hotline-elderly|NONE|ENTERQUEUE||13800000005|1",
                     f"{T0 + 75:.0f}|{uid}|hotline-elderly|NONE|ABANDON|1|1|45"]
        elif kind == "message":
            qlog += [f"{T0 + 30:.0f}|{uid}|hotline-general|NONE|ENTERQUEUE||13800000005|1",
                     f"{T0 + 330:.0f}|{uid}|hotline-general|NONE|EXITWITHTIMEOUT|1|1|300",
                     f"{T0 + 400:.0f}|{uid}|hotline-general|NONE|CALLBACKMSG|msg-{uid}.wav|"]
    # an agent leg and a call to another number are not hotline calls
    cdr.append(_cdr_line("8.8", "2026-02-25 06:13:20", "2026-02-25 06:13:21", "13800000005", ""))
    cdr.append(_cdr_line("9.9", "2026-02-25 06:13:20", "2026-02-25 06:16:40", "agent03", "").replace(
        '"9.9","9.9"', '"9.9","3.1"'))
    return cdr, qlog


def test_reconcile_rebuilds_the_gap_after_the_listener_died(db: Database) -> None:
    kinds = {"3.1": "answered", "3.2": "abandoned", "3.3": "ivr", "3.4": "degraded", "3.5": "message",
             "3.6": "status"}
    recorder = CallRecorder(db.sessions)
    for event in answered("3.1", seat="agent03")[:3]:  # seen until the queue, then the listener died
        recorder.handle(event)
    for event in abandoned_in_ivr("3.3"):  # fully seen
        recorder.handle(event)
    cdr, qlog = _asterisk_records(kinds)
    with db.sessions.begin() as session:
        report = reconcile(session, read_cdr(cdr), read_queue_log(qlog))
    assert (report.seen, report.created, report.finished, report.unchanged) == (6, 4, 1, 1)
    calls = _calls(db)
    assert set(calls) == set(kinds)
    assert calls["3.1"].outcome == CallOutcome.ANSWERED and calls["3.1"].agent_id == _user(db, "agent03")
    assert calls["3.1"].queue_wait_seconds == 12
    assert calls["3.2"].outcome == CallOutcome.ABANDONED_QUEUE and calls["3.2"].queue_wait_seconds == 45
    assert calls["3.3"].outcome == CallOutcome.ABANDONED_IVR
    assert calls["3.4"].outcome == CallOutcome.DEGRADED
    assert calls["3.5"].outcome == CallOutcome.VOICEMAIL and calls["3.5"].recording == "3.5.wav"
    assert calls["3.6"].outcome == CallOutcome.STATUS_QUERY
    assert all(c.ended_at is not None for c in calls.values())
    with db.sessions.begin() as session:  # again: nothing changes, nothing is duplicated
        again = reconcile(session, read_cdr(cdr), read_queue_log(qlog))
        assert (again.created, again.finished, again.unchanged) == (0, 0, 6)
        assert session.scalar(select(func.count()).select_from(Call)) == 6


def test_listener_reconnects_and_reconciles_after_each_connection(db: Database) -> None:
    attempts: list[str] = []
    reconciles: list[int] = []

    class FakeClient:
        def __init__(self) -> None:
            self.connected = threading.Event()
            self.connected.set()

        def close(self) -> None:
            self.connected.clear()

    def connect(on_event: Callable[[dict[str, str]], None]) -> FakeClient:
        attempts.append("try")
        if len(attempts) == 1:
            raise ConnectionRefusedError("Asterisk is restarting")
        client = FakeClient()
        uid = f"4.{len(attempts)}"
        for event in abandoned_in_ivr(uid):
            on_event(event)
        if len(attempts) == 2:
            client.connected.clear()  # the connection drops
        else:
            listener.stop()
        return client

    listener = CallRecordListener(CallRecorder(db.sessions), connect,
                                  after_connect=lambda: reconciles.append(1), max_backoff=0.05)
    thread = threading.Thread(target=listener.run)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(attempts) == 3 and listener.connections == 2 and len(reconciles) == 2
    assert set(_calls(db)) == {"4.2", "4.3"}


def test_hotline_calls_reconcile_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from hotline.cli import main

    cdr, qlog = _asterisk_records({"6.1": "abandoned", "6.2": "ivr"})
    (tmp_path / "Master.csv").write_text("\n".join(cdr) + "\n", encoding="utf-8")
    (tmp_path / "queue_log").write_text("\n".join(qlog) + "\n", encoding="utf-8")
    args = ["--data-dir", str(tmp_path / "data"), "calls", "reconcile", "--cdr", str(tmp_path / "Master.csv"),
            "--queue-log", str(tmp_path / "queue_log")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "2 calls in the CDR: 2 records created" in first.output
    again = CliRunner().invoke(main, args)
    assert "0 records created, 0 finished, 2 already complete" in again.output
