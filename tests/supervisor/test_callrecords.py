"""Call records from AMI events and the reconcile from the CDR and queue_log (synthetic Asterisk
output in the formats of ``asterisk_conf/``; the calls through the sandbox are in the PBX tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select

from callcenter.ami import parse_message
from callcenter.callrecords import (
    CallRecorder,
    CallRecordListener,
    read_cdr,
    read_queue_log,
    reconcile,
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
