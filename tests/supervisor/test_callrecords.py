"""Call records from AMI events and the reconcile from the CDR and queue_log (synthetic Asterisk
output in the formats of ``asterisk_conf/``; the calls through the sandbox are in the PBX tests)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from callcenter.ami import parse_message
from callcenter.callrecords import (
    BootMark,
    CallRecorder,
    CallRecordListener,
    ListCollector,
    LostCalls,
    PbxQueryError,
    PbxSnapshot,
    boot_from_core_status,
    boot_from_fully_booted,
    close_lost_calls,
    read_cdr,
    read_pbx_snapshot,
    read_queue_log,
    reconcile,
    uniqueid_system,
)
from models.entities import Call, Ticket, TicketEvent, User
from models.enums import CallOutcome, Channel
from models.tickets import TicketRequest, open_ticket_for_call
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


def _ticket_of(database: Database, uniqueid: str) -> Ticket:
    with database.sessions() as session:
        call = session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one()
        tickets = session.scalars(select(Ticket).where(Ticket.origin_call_id == call.id)).all()
        assert len(tickets) == 1 and call.ticket_id == tickets[0].id, (uniqueid, tickets)
        return tickets[0]


def _timeline(database: Database, ticket_id: int) -> list[tuple[str, str | None]]:
    with database.sessions() as session:
        return [(str(e.kind), e.text) for e in session.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))]


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
    assert one.queue_position == 1 and calls["1.2"].queue_position is None  # no Position header: unknown
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
    assert calls["3.5"].outcome == CallOutcome.VOICEMAIL and calls["3.5"].recording == "msg-3.5.wav"
    assert report.callbacks == 1 and _ticket_of(db, "3.5").callback_requested
    assert calls["3.1"].queue_position == 1
    assert calls["3.6"].outcome == CallOutcome.STATUS_QUERY
    assert all(c.ended_at is not None for c in calls.values())
    with db.sessions.begin() as session:  # again: nothing changes, nothing is duplicated
        again = reconcile(session, read_cdr(cdr), read_queue_log(qlog))
        assert (again.created, again.finished, again.unchanged, again.callbacks) == (0, 0, 6, 0)
        assert session.scalar(select(func.count()).select_from(Call)) == 6
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1


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


# --- degraded calls, left messages, queue position, custom queue_log events ----------------------

def _ami(*lines: str) -> dict[str, str]:
    """An event as the AMI client parses it off the wire (ChanVariable headers → ``var:NAME``)."""
    return parse_message("\r\n".join(lines))


def left_a_message(uid: str, number: str = "13800000007", *, waited: bool = True) -> list[dict[str, str]]:
    """No agent took the call: the queue timed out (or was never joined) and the caller left a message;
    HOTLINE_MESSAGE reaches us only as a ChanVariable (manager.conf ``channelvars``)."""
    variables = ("ChanVariable: HOTLINE_DEGRADED=", "ChanVariable: HOTLINE_TICKET=")
    events = [_ami("Event: Newchannel", "Context: from-carrier", "Exten: 96345", f"Uniqueid: {uid}",
                   f"Linkedid: {uid}", f"CallerIDNum: {number}", f"Timestamp: {T0:.6f}", *variables,
                   "ChanVariable: HOTLINE_MESSAGE=")]
    if waited:
        events.append(_ami("Event: QueueCallerJoin", "Queue: hotline-general", "Position: 3", f"Uniqueid: {uid}",
                           f"Linkedid: {uid}", f"Timestamp: {T0 + 20:.6f}", *variables,
                           "ChanVariable: HOTLINE_MESSAGE="))
    events.append(_ami("Event: Hangup", f"Uniqueid: {uid}", f"Linkedid: {uid}", "Cause: 16",
                       f"Timestamp: {T0 + 380:.6f}", *variables, f"ChanVariable: HOTLINE_MESSAGE=msg-{uid}.wav"))
    return events


def test_a_left_message_becomes_one_callback_ticket(db: Database) -> None:
    recorder = CallRecorder(db.sessions)
    events = left_a_message("5.1")
    for event in events + events:  # replayed: still one ticket, one note, one callback request
        recorder.handle(event)
    call = _calls(db)["5.1"]
    ticket = _ticket_of(db, "5.1")
    assert (call.outcome, call.recording, call.queue_position) == (CallOutcome.VOICEMAIL, "msg-5.1.wav", 3)
    assert ticket.channel == Channel.PHONE and ticket.contact_number == "+8613800000007"
    assert ticket.callback_requested and ticket.description_recording == "msg-5.1.wav"
    assert "留言" in (ticket.description or "")
    assert ticket.callback_queue == "hotline-general" and ticket.callback_queue_entered_at == call.queue_entered_at
    timeline = _timeline(db, ticket.id)
    assert timeline.count(("call", "message left")) == 1 and timeline.count(("call", "callback requested")) == 1


def test_a_message_marks_the_ivr_ticket_of_the_call_instead_of_opening_another(db: Database) -> None:
    with db.sessions.begin() as session:
        ivr_ticket = open_ticket_for_call(session, uniqueid="5.2", caller_number="13800000008",
                                          request=TicketRequest(channel=Channel.PHONE, sub_service_code="APPL-TV",
                                                                description="电视没有图像"))
        ivr_ticket_id = ivr_ticket.id
    recorder = CallRecorder(db.sessions)
    for event in left_a_message("5.2", "13800000008"):
        recorder.handle(event)
    ticket = _ticket_of(db, "5.2")
    assert ticket.id == ivr_ticket_id and ticket.description == "电视没有图像"
    assert ticket.callback_requested and ticket.description_recording == "msg-5.2.wav"
    assert _calls(db)["5.2"].outcome == CallOutcome.VOICEMAIL
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_listener_and_reconcile_make_one_callback_ticket_whichever_sees_the_message(db: Database) -> None:
    recorder = CallRecorder(db.sessions)
    for event in left_a_message("5.3", waited=False):  # the IVR's "leave a message" choice
        recorder.handle(event)
    # 5.4: the listener saw the hangup but not the message (an Asterisk without channelvars)
    for event in left_a_message("5.4")[:2]:
        recorder.handle(event)
    recorder.handle(_channel("5.4", T0 + 380, "Hangup"))
    assert _calls(db)["5.4"].outcome == CallOutcome.ABANDONED_QUEUE
    cdr = [_cdr_line(uid, "2026-02-25 06:13:20", "2026-02-25 06:19:40", "13800000007", "callback-message")
           for uid in ("5.3", "5.4")]
    qlog = [line for uid in ("5.3", "5.4") for line in (
        f"{T0:.0f}|{uid}|NONE|NONE|DID|96345", f"{T0 + 400:.0f}|{uid}|hotline-general|NONE|CALLBACKMSG|msg-{uid}.wav|")]
    with db.sessions.begin() as session:
        report = reconcile(session, read_cdr(cdr), read_queue_log(qlog))
    assert (report.unchanged, report.callbacks) == (2, 1)
    for uid in ("5.3", "5.4"):
        assert _ticket_of(db, uid).callback_requested
        assert _calls(db)[uid].outcome == CallOutcome.VOICEMAIL
    with db.sessions.begin() as session:
        assert reconcile(session, read_cdr(cdr), read_queue_log(qlog)).callbacks == 0
        assert session.scalar(select(func.count()).select_from(Ticket)) == 2


def test_degraded_calls_are_recorded_as_degraded_live_and_by_reconcile(db: Database) -> None:
    recorder = CallRecorder(db.sessions)
    degraded_var = "ChanVariable: HOTLINE_DEGRADED=1"
    for event in (_ami("Event: Newchannel", "Context: from-carrier", "Exten: 96345", "Uniqueid: 6.1",
                       "Linkedid: 6.1", "CallerIDNum: 13800000009", f"Timestamp: {T0:.6f}",
                       "ChanVariable: HOTLINE_DEGRADED="),
                  _ami("Event: QueueCallerJoin", "Queue: hotline-general", "Position: 1", "Uniqueid: 6.1",
                       "Linkedid: 6.1", f"Timestamp: {T0 + 2:.6f}", degraded_var),
                  _ami("Event: AgentConnect", "Queue: hotline-general", "HoldTime: 4", "Uniqueid: 6.1",
                       "Linkedid: 6.1", "Interface: PJSIP/agent02", f"Timestamp: {T0 + 6:.6f}", degraded_var),
                  _ami("Event: Hangup", "Uniqueid: 6.1", "Linkedid: 6.1", f"Timestamp: {T0 + 90:.6f}", degraded_var)):
        recorder.handle(event)
    live = _calls(db)["6.1"]
    assert live.outcome == CallOutcome.DEGRADED and live.agent_id == _user(db, "agent02")
    # Reconcile: the queue overwrote the userfield; the DEGRADED line tells. A degraded call that
    # ended in a message keeps its marker in the userfield and becomes a callback ticket.
    cdr = [_cdr_line("6.2", "2026-02-25 06:13:20", "2026-02-25 06:16:40", "13800000009", "queue:hotline-general"),
           _cdr_line("6.3", "2026-02-25 06:13:20", "2026-02-25 06:16:40", "13800000009",
                     "degraded+callback-message")]
    qlog = [f"{T0:.0f}|6.2|NONE|NONE|DID|96345", f"{T0 + 1:.0f}|6.2|NONE|NONE|DEGRADED|FAILURE|",
            f"{T0 + 2:.0f}|6.2|hotline-general|NONE|ENTERQUEUE||13800000009|1",
            f"{T0 + 6:.0f}|6.2|hotline-general|PJSIP/agent02|CONNECT|4|6.29|1",
            f"{T0:.0f}|6.3|NONE|NONE|DID|96345"]
    with db.sessions.begin() as session:
        reconcile(session, read_cdr(cdr), read_queue_log(qlog))
    calls = _calls(db)
    assert calls["6.2"].outcome == CallOutcome.DEGRADED and calls["6.2"].agent_id == _user(db, "agent02")
    assert calls["6.3"].outcome == CallOutcome.VOICEMAIL and _ticket_of(db, "6.3").callback_requested


def test_reconcile_reads_custom_events_and_passes_over_unknown_or_malformed_ones(db: Database) -> None:
    hostile = "<script>alert(1)</script>" + "x" * 300
    cdr = [_cdr_line("7.1", "2026-02-25 06:13:20", "2026-02-25 06:16:40", "13800000005", "queue:hotline-general")]
    qlog = [f"{T0:.0f}|7.1|NONE|NONE|DID|96345",
            f"{T0 + 9:.0f}|7.1|NONE|NONE|IVRCHOICE|queued|APPL|2612040001",
            f"{T0 + 9:.0f}|7.1|NONE|NONE|IVRCHOICE|{hostile}|{hostile}",  # only the first IVRCHOICE is kept
            f"{T0 + 10:.0f}|7.1|hotline-general|NONE|ENTERQUEUE||13800000005|abc",  # a position that is not one
            f"{T0 + 20:.0f}|7.1|hotline-general|PJSIP/agent01|CONNECT|10|7.19|1",
            f"{T0 + 90:.0f}|7.1|hotline-general|W00001|DISPATCH|2612040001|APPL-TV|W00001",
            f"{T0 + 95:.0f}|7.1|hotline-general|NONE|SURVEY|2612040001|5|Y",
            f"{T0 + 96:.0f}|7.1|hotline-general|NONE|SOMETHINGNEW",
            f"{T0 + 97:.0f}|7.1|hotline-general|NONE|CALLBACKMSG-LIKE|../../etc/passwd",
            "not a queue_log line", "|||||", f"{T0:.0f}|7.1", "1e999|7.1|q|a|ABANDON|1|1|1"]
    with db.sessions.begin() as session:
        report = reconcile(session, read_cdr(cdr), read_queue_log(qlog))
    assert (report.created, report.callbacks, report.skipped) == (1, 0, [])
    call = _calls(db)["7.1"]
    assert call.outcome == CallOutcome.ANSWERED and call.agent_id == _user(db, "agent01")
    assert call.queue_position is None and call.recording == "7.1.wav"
    assert call.ivr_path == [{"source": "queue_log", "outcome": "queued", "category": "APPL",
                              "ticket": "2612040001"}]


def test_a_callback_line_never_names_the_recording(db: Database) -> None:
    cdr = [_cdr_line("7.2", "2026-02-25 06:13:20", "2026-02-25 06:16:40", "13800000005", "callback-message")]
    qlog = [f"{T0:.0f}|7.2|NONE|NONE|DID|96345",
            f"{T0 + 9:.0f}|7.2|hotline-general|NONE|CALLBACKMSG|../../etc/passwd|"]
    with db.sessions.begin() as session:
        reconcile(session, read_cdr(cdr), read_queue_log(qlog))
    assert _calls(db)["7.2"].recording == "msg-7.2.wav"
    assert _ticket_of(db, "7.2").description_recording == "msg-7.2.wav"


def test_queue_positions_from_the_wire_are_checked() -> None:
    from callcenter.callrecords import queue_position, userfield_marks

    assert [queue_position(v) for v in ("1", " 7 ", "0", "-1", "abc", "99999999", "", None)] == [
        1, 7, None, None, None, None, None, None]
    assert userfield_marks("degraded+callback-message") == {"degraded", "callback-message"}
    assert userfield_marks("") == frozenset()


def test_an_odd_queue_name_still_gives_a_callback_ticket(db: Database) -> None:
    recorder = CallRecorder(db.sessions)
    events = left_a_message("5.5")
    events[1]["Queue"] = "hotline-night_shift"  # kept as a call's queue, not a callback turn
    for event in events:
        recorder.handle(event)
    ticket = _ticket_of(db, "5.5")
    assert ticket.callback_requested and ticket.callback_queue is None
    assert _calls(db)["5.5"].queue == "night_shift"


def test_listener_runs_periodic_work_while_connected_and_survives_its_failures(db: Database) -> None:
    seen: list[object] = []

    class FakeClient:
        def __init__(self) -> None:
            self.connected = threading.Event()
            self.connected.set()

        def close(self) -> None:
            self.connected.clear()

    client = FakeClient()

    def work(given: object) -> None:
        seen.append(given)
        if len(seen) == 1:
            raise RuntimeError("database busy")  # logged; the next tick runs again
        if len(seen) == 3:
            listener.stop()

    listener = CallRecordListener(CallRecorder(db.sessions), lambda _on_event: client, while_connected=work,
                                  tick=0.05)
    thread = threading.Thread(target=listener.run)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive() and seen == [client, client, client]


# --- calls Asterisk lost (killed, crashed): finished from its live channels ----------------------

class FakeAsterisk:
    """A fake AMI peer answering like Asterisk 22 to the console's user: ``Getvar`` SYSTEMNAME,
    ``CoreStatus`` (refused without the ``reporting`` right, else a startup stamp) and ``Status``
    (its item events reach ``on_event`` before the response, as they may on the reader thread)."""

    def __init__(self, on_event: Callable[[dict[str, str]], None], channels: set[str], *,
                 system_name: str = "", startup: str | None = None, uptime: int | None = None,
                 drop_after_status: bool = False) -> None:
        self.on_event, self.channels, self.system_name, self.startup = on_event, set(channels), system_name, startup
        self.drop_after_status = drop_after_status
        self.connected = threading.Event()
        self.connected.set()
        self.actions: list[str] = []
        self._ids = iter(range(1, 10**6))
        if uptime is not None:  # sent on login to a user who may read `system`
            on_event({"Event": "FullyBooted", "Privilege": "system,all", "Uptime": str(uptime),
                      "Status": "Fully Booted"})

    def action(self, name: str, **fields: object) -> dict[str, str]:
        self.actions.append(name)
        action_id = f"fake-{next(self._ids)}"
        if name == "Getvar" and fields.get("Variable") == "SYSTEMNAME":
            return {"Response": "Success", "ActionID": action_id, "Variable": "SYSTEMNAME", "Value": self.system_name}
        if name == "CoreStatus" and self.startup is not None:
            date, time_of_day = self.startup.split(" ")
            return {"Response": "Success", "ActionID": action_id, "CoreStartupDate": date,
                    "CoreStartupTime": time_of_day, "CoreCurrentCalls": str(len(self.channels))}
        if name == "Status":
            for uid in sorted(self.channels):
                self.on_event({"Event": "Status", "ActionID": action_id, "Channel": f"PJSIP/carrier-{uid}",
                               "Uniqueid": uid, "Linkedid": uid, "CallerIDNum": "13800000001"})
            self.on_event({"Event": "StatusComplete", "ActionID": action_id, "EventList": "Complete",
                           "ListItems": str(len(self.channels))})
            if self.drop_after_status:  # Asterisk killed right after it answered
                self.connected.clear()
            return {"Response": "Success", "ActionID": action_id, "EventList": "start"}
        return {"Response": "Error", "ActionID": action_id, "Message": "Permission denied"}

    def close(self) -> None:
        self.connected.clear()


NOW = time.time() - 600  # recent calls: the listener looks at a day of starts


def call_up(uid: str, t: float = NOW, *, queue: bool = False) -> list[dict[str, str]]:
    """A call still up: in the IVR, or waiting in the queue."""
    events = [_channel(uid, t, "Newchannel", Context="from-carrier", Exten="96345", CallerIDNum="13800000011"),
              _channel(uid, t + 4, "VarSet", Variable="HOTLINE_OUTCOME", Value="queued")]
    if queue:
        events.append(_channel(uid, t + 9, "QueueCallerJoin", Queue="hotline-general", Position="2"))
    return events


def _lost_steps(call: Call) -> list[dict[str, str]]:
    return [step for step in call.ivr_path or [] if step.get("closed") == "lost"]


def _run_listener(listener: CallRecordListener, until: Callable[[], bool], timeout: float = 10.0) -> None:
    thread = threading.Thread(target=listener.run)
    thread.start()
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        time.sleep(0.05)
    listener.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def _open_ticket(database: Database, uid: str) -> None:
    with database.sessions.begin() as session:
        open_ticket_for_call(session, uniqueid=uid, caller_number="13800000011",
                             request=TicketRequest(channel=Channel.PHONE, sub_service_code="APPL-TV",
                                                   description="电视没有图像"))


def test_a_reconnect_finishes_the_calls_asterisk_no_longer_has_once(db: Database) -> None:
    """Open calls A (IVR), B (queue, with a ticket), C (still up), D (ended), E (another Asterisk):
    after a reconnect whose Status lists only C, A and B are finished once each, after the grace time."""
    recorder = CallRecorder(db.sessions)
    for event in [*call_up("9.1"), *call_up("9.2", queue=True), *call_up("9.3"), *abandoned_in_ivr("9.4"),
                  *call_up("pbx2-9.5")]:
        recorder.handle(event)
    _open_ticket(db, "9.2")
    clients: list[FakeAsterisk] = []
    live = [{"9.1", "9.2", "9.3"}, {"9.3"}]

    def connect(on_event: Callable[[dict[str, str]], None]) -> FakeAsterisk:
        client = FakeAsterisk(on_event, live[min(len(clients), 1)])
        if not clients:
            client.connected.clear()  # the first connection drops at once (Asterisk went away)
        clients.append(client)
        return client

    lost = LostCalls(db.sessions, grace=0.3)
    listener = CallRecordListener(recorder, connect, lost_calls=lost, sweep_every=0.1, max_backoff=0.05)
    _run_listener(listener, lambda: len(listener.lost_finished) >= 2 and len(clients) >= 2
                  and clients[-1].actions.count("Status") >= 6)
    assert listener.lost_finished == ["9.1", "9.2"] and listener.restarts == 0
    calls = _calls(db)
    assert len(calls) == 5
    a, b = calls["9.1"], calls["9.2"]
    assert a.outcome == CallOutcome.DEGRADED and b.outcome == CallOutcome.TICKET
    # ended when last known alive: their latest event (the queue join for B), not when noticed
    assert a.ended_at == dt.datetime.fromtimestamp(NOW + 4, dt.UTC)
    assert b.ended_at == dt.datetime.fromtimestamp(NOW + 9, dt.UTC)
    for call in (a, b):
        steps = _lost_steps(call)
        assert len(steps) == 1 and steps[0]["reason"] == "channel-gone" and "Asterisk" in steps[0]["note"]
    assert calls["9.3"].ended_at is None and calls["9.3"].outcome == CallOutcome.IN_PROGRESS
    assert calls["9.4"].outcome == CallOutcome.ABANDONED_IVR and not _lost_steps(calls["9.4"])
    assert calls["pbx2-9.5"].ended_at is None  # another Asterisk's call: not this one's to judge
    assert _ticket_of(db, "9.2").status.value == "accepted"


def test_a_restart_of_asterisk_finishes_the_calls_of_the_run_before_at_once(db: Database) -> None:
    """CoreStatus' startup stamp changes between connections: the calls of the old run are finished
    on the first look, without waiting; a call of the new run stays open."""
    recorder = CallRecorder(db.sessions)
    for event in [*call_up("9.11"), *call_up("9.12", queue=True)]:
        recorder.handle(event)
    clients: list[FakeAsterisk] = []

    def connect(on_event: Callable[[dict[str, str]], None]) -> FakeAsterisk:
        if not clients:
            client = FakeAsterisk(on_event, {"9.11", "9.12"}, startup="2026-03-01 08:00:00", drop_after_status=True)
        else:  # started again: the old channels are gone, a new call is up
            client = FakeAsterisk(on_event, {"9.13"}, startup="2026-03-01 08:05:09")
            for event in call_up("9.13", time.time() - 1):
                on_event(event)
        clients.append(client)
        return client

    listener = CallRecordListener(recorder, connect, lost_calls=LostCalls(db.sessions, grace=3600),
                                  sweep_every=3600, max_backoff=0.05)
    _run_listener(listener, lambda: len(listener.lost_finished) >= 2)
    assert listener.restarts == 1 and sorted(listener.lost_finished) == ["9.11", "9.12"]
    calls = _calls(db)
    assert all(_lost_steps(calls[u])[0]["reason"] == "asterisk-restarted" for u in ("9.11", "9.12"))
    assert calls["9.13"].ended_at is None


def test_fully_booted_tells_a_fresh_listener_which_calls_are_of_a_run_that_is_gone(db: Database) -> None:
    """A listener started after Asterisk (no previous connection): FullyBooted's Uptime says
    Asterisk booted after the call began, so it is finished at once."""
    recorder = CallRecorder(db.sessions)
    for event in call_up("9.21"):
        recorder.handle(event)
    clients: list[FakeAsterisk] = []

    def connect(on_event: Callable[[dict[str, str]], None]) -> FakeAsterisk:
        clients.append(FakeAsterisk(on_event, set(), uptime=60))
        return clients[-1]

    listener = CallRecordListener(recorder, connect, lost_calls=LostCalls(db.sessions, grace=3600),
                                  sweep_every=3600)
    _run_listener(listener, lambda: bool(listener.lost_finished))
    assert listener.lost_finished == ["9.21"] and len(clients) == 1
    assert _lost_steps(_calls(db)["9.21"])[0]["reason"] == "asterisk-restarted"


def test_a_hangup_after_the_close_changes_nothing(db: Database) -> None:
    recorder = CallRecorder(db.sessions)
    for event in call_up("9.31"):
        recorder.handle(event)
    lost = LostCalls(db.sessions, grace=0)
    lost.attach(recorder)
    report = lost.sweep(PbxSnapshot(dt.datetime.now(dt.UTC), frozenset()))
    assert report.finished == ["9.31"]
    closed = _calls(db)["9.31"]
    for event in [_channel("9.31", NOW + 30, "Hangup", Cause="16"), *call_up("9.31")]:  # late, then replayed
        recorder.handle(event)
    after = _calls(db)
    assert list(after) == ["9.31"]
    assert (after["9.31"].outcome, after["9.31"].ended_at) == (CallOutcome.DEGRADED, closed.ended_at)
    assert len(_lost_steps(after["9.31"])) == 1
    assert lost.sweep(PbxSnapshot(dt.datetime.now(dt.UTC), frozenset())).finished == []


def test_a_hangup_that_wins_the_race_keeps_its_outcome(db: Database) -> None:
    """The sweep has read the call as open; the Hangup is applied before it finishes the record."""
    recorder = CallRecorder(db.sessions)
    for event in call_up("9.41"):
        recorder.handle(event)
    hangup = _channel("9.41", NOW + 7, "Hangup", Cause="16")

    def hangup_arrives(uniqueid: str) -> dt.datetime | None:
        recorder.handle(hangup)  # between the sweep's read and its close
        return None

    lost = LostCalls(db.sessions, grace=0, lock=recorder.lock, last_event=hangup_arrives)
    report = lost.sweep(PbxSnapshot(dt.datetime.now(dt.UTC), frozenset()))
    assert (report.finished, report.raced) == ([], 1)
    call = _calls(db)["9.41"]
    assert call.outcome == CallOutcome.ABANDONED_IVR and call.ended_at == dt.datetime.fromtimestamp(NOW + 7, dt.UTC)
    assert not _lost_steps(call)


def _race_once(database: Database, uid: str) -> int:
    """Two sweepers with their own locks (two processes) and the call's Hangup, started together;
    the number of records the sweepers finished."""
    recorder = CallRecorder(database.sessions)
    for event in call_up(uid):
        recorder.handle(event)
    start = threading.Barrier(3)
    snapshot = PbxSnapshot(dt.datetime.now(dt.UTC), frozenset())
    finished: list[str] = []

    def sweep() -> None:
        start.wait()
        finished.extend(LostCalls(database.sessions, grace=0).sweep(snapshot).finished)

    def hang_up() -> None:
        start.wait()
        recorder.handle(_channel(uid, NOW + 8, "Hangup"))

    threads = [threading.Thread(target=sweep), threading.Thread(target=sweep), threading.Thread(target=hang_up)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return len(finished)


def test_concurrent_closes_and_a_hangup_finish_a_call_once(db: Database) -> None:
    """Two listeners and the Hangup at the same moment: one of them finishes the record."""
    for round_ in range(4):
        uid = f"9.5{round_}"
        finished = _race_once(db, uid)
        call = _calls(db)[uid]
        assert finished <= 1 and call.ended_at is not None
        assert len(_lost_steps(call)) == finished
        assert call.outcome == (CallOutcome.DEGRADED if finished else CallOutcome.ABANDONED_IVR)
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Call)) == 4


def test_the_list_of_channels_is_collected_by_action_id() -> None:
    lists = ListCollector(max_lists=2)
    events: list[dict[str, str]] = []

    def on_event(message: dict[str, str]) -> None:
        if not lists.offer(message):
            events.append(message)

    fake = FakeAsterisk(on_event, {"1.5", "1.6"})
    on_event({"Event": "Status", "ActionID": "someone-else", "Uniqueid": "7.7"})  # never collected
    on_event({"Event": "Hangup", "Uniqueid": "1.4"})  # not a list event: passed on
    items = lists.run(fake, "Status")
    assert sorted(item["Uniqueid"] for item in items) == ["1.5", "1.6"] and events == [
        {"Event": "Hangup", "Uniqueid": "1.4"}]
    for n in range(5):  # orphaned lists are dropped beyond the limit
        on_event({"Event": "Status", "ActionID": f"orphan-{n}", "Uniqueid": "7.7"})
    assert len(lists._lists) == 2
    with pytest.raises(PbxQueryError, match="refused: Permission denied"):
        lists.run(fake, "CoreShowChannels")

    class Silent(FakeAsterisk):
        def action(self, name: str, **fields: object) -> dict[str, str]:
            return {"Response": "Success", "ActionID": "never-completes"}

    with pytest.raises(PbxQueryError, match="did not complete"):
        lists.run(Silent(on_event, set()), "Status", timeout=0.2)


def test_what_asterisk_says_about_itself_is_checked() -> None:
    lists = ListCollector()
    hostile = FakeAsterisk(lists.offer, {"1.1"}, system_name="pbx 1; rm -rf /" + "x" * 100)
    assert read_pbx_snapshot(hostile, lists).system_name == ""
    named = FakeAsterisk(lists.offer, {"pbx1-1.1"}, system_name="pbx1", startup="2026-03-01 08:00:00")
    snapshot = read_pbx_snapshot(named, lists)
    assert (snapshot.system_name, snapshot.channels, snapshot.boot) == (
        "pbx1", frozenset({"pbx1-1.1"}), BootMark(stamp="2026-03-01 08:00:00"))
    assert [uniqueid_system(u) for u in ("1700000000.12", "pbx1-1700000000.12", "pbx-a-1.2", "")] == [
        "", "pbx1", "pbx-a", ""]
    received = dt.datetime(2026, 3, 1, 8, 0, 30, tzinfo=dt.UTC)
    assert boot_from_fully_booted({"Uptime": "30"}, received) == BootMark(at=received - dt.timedelta(seconds=30))
    assert [boot_from_fully_booted({"Uptime": v}, received) for v in ("-1", "abc", "", "1e9")] == [None] * 4
    assert boot_from_fully_booted({}, received) is None
    assert boot_from_core_status({"Response": "Error", "Message": "Permission denied"}) is None
    early, late = BootMark(at=received), BootMark(at=received + dt.timedelta(seconds=10))
    assert (early.same_run(BootMark(at=received + dt.timedelta(seconds=1))), early.same_run(late)) == (True, False)
    assert BootMark(stamp="a").same_run(BootMark(at=received)) is None
    assert BootMark(at=received, stamp="a").same_run(BootMark(at=received, stamp="b")) is False  # a quick restart


def test_finishing_a_lost_call_refuses_bad_input_and_keeps_its_note_on_a_full_path(db: Database) -> None:
    from models.calls import IVR_PATH_LIMIT, append_ivr_step, finish_lost_call
    from models.errors import ValidationError

    recorder = CallRecorder(db.sessions)
    for event in call_up("9.61"):
        recorder.handle(event)
    with db.sessions.begin() as session:
        call = session.scalars(select(Call).where(Call.uniqueid == "9.61")).one()
        for n in range(IVR_PATH_LIMIT + 5):
            append_ivr_step(call, {"menu": "main", "key": str(n % 10)})
        call_id = call.id
    for bad in ({"reason": "because; DROP TABLE calls", "last_alive": dt.datetime.now(dt.UTC)},
                {"reason": "channel-gone", "last_alive": dt.datetime(2026, 3, 1, 8, 0)}):
        with db.sessions.begin() as session, pytest.raises(ValidationError):
            finish_lost_call(session, call_id, **bad)  # type: ignore[arg-type]
    assert _calls(db)["9.61"].ended_at is None  # nothing stored
    way_later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    with db.sessions.begin() as session:
        assert finish_lost_call(session, call_id, last_alive=way_later, reason="channel-gone") is not None
        assert finish_lost_call(session, call_id, last_alive=way_later, reason="channel-gone") is None
        assert finish_lost_call(session, 10**9, last_alive=way_later, reason="channel-gone") is None
    call = _calls(db)["9.61"]
    assert len(call.ivr_path) == IVR_PATH_LIMIT and _lost_steps(call) == [call.ivr_path[-1]]
    assert call.ended_at is not None and call.ended_at <= dt.datetime.now(dt.UTC)  # never in the future


def test_the_listener_looks_back_a_day_and_the_command_at_every_open_call(db: Database) -> None:
    recorder = CallRecorder(db.sessions)
    for event in [*call_up("9.71", NOW - 3 * 86400), *call_up("9.72")]:
        recorder.handle(event)
    snapshot = PbxSnapshot(dt.datetime.now(dt.UTC), frozenset())
    assert LostCalls(db.sessions, grace=0).sweep(snapshot).finished == ["9.72"]
    lists = ListCollector()
    report = close_lost_calls(db.sessions, FakeAsterisk(lists.offer, set()), lists, grace=0.1)
    assert report.finished == ["9.71"] and _calls(db)["9.71"].outcome == CallOutcome.DEGRADED


def test_hotline_calls_reconcile_close_lost_needs_a_reachable_asterisk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from hotline.cli import main
    from hotline.sandbox.ports import free_ports

    (port,) = free_ports(1)  # nothing listens there
    (tmp_path / "Master.csv").write_text("", encoding="utf-8")
    base = ["--data-dir", str(tmp_path / "data"), "--set", f"ami_port={port}", "calls", "reconcile",
            "--cdr", str(tmp_path / "Master.csv"), "--queue-log", str(tmp_path / "queue_log")]
    refused = CliRunner().invoke(main, [*base, "--close-lost", "--grace", "0"])
    assert refused.exit_code == 1 and "not reachable" in refused.output and "no call was closed" in refused.output
    assert "0 calls in the CDR" in refused.output  # the CDR part was still done
    for bad in ("-1", "abc", "301"):
        wrong = CliRunner().invoke(main, [*base, "--close-lost", "--grace", bad])
        assert wrong.exit_code == 2 and "--grace" in wrong.output


def test_a_refused_or_failing_look_closes_nothing_and_is_tried_again(db: Database) -> None:
    recorder = CallRecorder(db.sessions)
    for event in call_up("9.81"):
        recorder.handle(event)
    looks: list[str] = []

    class Grumpy(FakeAsterisk):
        def action(self, name: str, **fields: object) -> dict[str, str]:
            if name == "Status":
                looks.append(name)
                if len(looks) == 1:  # an AMI user without the `call` right
                    return {"Response": "Error", "ActionID": "x", "Message": "Permission denied"}
            return super().action(name, **fields)

    listener = CallRecordListener(recorder, lambda on_event: Grumpy(on_event, set()),
                                  lost_calls=LostCalls(db.sessions, grace=0.2), sweep_every=3600)
    _run_listener(listener, lambda: bool(listener.lost_finished))
    assert listener.lost_finished == ["9.81"] and len(looks) == 3  # refused, missing once, finished
