"""Custom queue_log events: values reduced to a safe alphabet, and the dispatches and survey results of
calls' tickets written once each over AMI (a recording fake manager here; the sandbox's queue_log
file in ``test_pbx_callrecords.py``)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from callcenter.ami import AmiError, encode_action
from callcenter.queuelog import (
    CUSTOM_EVENTS,
    QueueLogRefused,
    QueueLogStory,
    log_dispatch,
    log_survey_result,
    queue_log_line,
    safe_field,
)
from models.base import utcnow
from models.calls import record_call_start
from models.dispatch import dispatch_ticket
from models.entities import Evaluation, SubService, Ticket, User, Worker, WorkerSkill
from models.enums import Channel, EvaluationParty, TicketStatus, WorkerStatus
from models.tickets import TicketRequest, open_ticket, open_ticket_for_call
from tests.plugins.db import Database

HOSTILE = 'x|y\r\nAction: Originate\r\n<script>"$(rm -rf /)"; DROP'


class RecordingAmi:
    """Answers every action with Success (or fails from the ``fail_at``-th QueueLog on)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.actions: list[dict[str, object]] = []
        self.fail_at = fail_at

    def action(self, action: str, **fields: object) -> dict[str, str]:
        if self.fail_at is not None and len(self.actions) >= self.fail_at:
            raise AmiError("AMI connection lost")
        encode_action(action, "1", fields)  # what the real client would put on the wire
        self.actions.append({"Action": action, **fields})
        return {"Response": "Success", "Message": "Event added successfully"}


def test_values_are_reduced_to_a_safe_alphabet() -> None:
    assert safe_field(HOSTILE) == "XYACTIONORIGINATESCRIPTRM-RFDROP"[:32]
    assert safe_field("appl-tv") == "APPL-TV" and safe_field("") == "-" and safe_field(None) == "-"
    line = queue_log_line("DISPATCH", "1772000000.15", (HOSTILE, "APPL-TV", "W00001"), queue="general",
                          agent=HOSTILE)
    fields = line.fields()
    assert fields["Queue"] == "hotline-general" and fields["Event"] == "DISPATCH"
    assert all("\r" not in str(v) and "\n" not in str(v) for v in fields.values())
    assert str(fields["Message"]).count("|") == 2 and str(fields["Interface"]).isupper()
    assert queue_log_line("SURVEY", "1772000000.15", (1,), queue="Gen|eral").queue == "NONE"


@pytest.mark.parametrize(("event", "uniqueid"), [("ENTERQUEUE", "1772000000.1"), ("DISPATCH", "1.1|x"),
                                                 ("DISPATCH", ""), ("SURVEY", "1" * 65), ("dispatch", "1.1")])
def test_unknown_events_and_bad_call_ids_are_refused(event: str, uniqueid: str) -> None:
    with pytest.raises(ValueError):
        queue_log_line(event, uniqueid, ())


def test_log_functions_send_one_queue_log_action() -> None:
    ami = RecordingAmi()
    log_dispatch(ami, uniqueid="1772000000.15", queue="elderly", ticket_number="2612040001",
                 sub_service_code="ELDR-MED", worker_code="W00012")
    log_survey_result(ami, uniqueid="1772000000.15", queue="elderly", ticket_number="2612040001", score=4,
                      solved=True)
    assert ami.actions == [
        {"Action": "QueueLog", "Queue": "hotline-elderly", "UniqueId": "1772000000.15", "Interface": "W00012",
         "Event": "DISPATCH", "Message": "2612040001|ELDR-MED|W00012"},
        {"Action": "QueueLog", "Queue": "hotline-elderly", "UniqueId": "1772000000.15", "Interface": "NONE",
         "Event": "SURVEY", "Message": "2612040001|4|Y"}]
    for score in (0, 6, True, "5"):
        with pytest.raises(ValueError):
            log_survey_result(ami, uniqueid="1772000000.15", queue=None, ticket_number="1", score=score)  # type: ignore[arg-type]

    class Refusing:
        def action(self, action: str, **fields: object) -> dict[str, str]:
            return {"Response": "Error", "Message": "Permission denied"}

    with pytest.raises(QueueLogRefused):
        log_survey_result(Refusing(), uniqueid="1772000000.15", queue=None, ticket_number="1", score=3)
    assert set(CUSTOM_EVENTS) >= {"IVRCHOICE", "DISPATCH", "SURVEY", "CALLBACKMSG", "DEGRADED"}


def _worker_for(database: Database) -> tuple[int, str, str]:
    """worker00001, on duty, and a sub-service they do: (worker id, worker code, sub-service code)."""
    with database.sessions.begin() as session:
        worker_id = session.scalars(select(User.worker_id).where(User.username == "worker00001")).one()
        session.execute(update(Worker).where(Worker.id == worker_id).values(status=WorkerStatus.IDLE))
        code = session.scalars(select(SubService.code).join(WorkerSkill, WorkerSkill.sub_service_id == SubService.id)
                               .where(WorkerSkill.worker_id == worker_id).order_by(SubService.id)).first()
        assert worker_id is not None and code is not None
        return worker_id, session.get_one(Worker, worker_id).code, code


def _call_ticket(database: Database, uniqueid: str, sub_service: str) -> tuple[int, str]:
    with database.sessions.begin() as session:
        call = record_call_start(session, uniqueid=uniqueid, caller_number="13800000001")
        call.queue = "general"
        ticket = open_ticket_for_call(session, uniqueid=uniqueid,
                                      request=TicketRequest(channel=Channel.PHONE, sub_service_code=sub_service))
        return ticket.id, ticket.number


def _dispatch(database: Database, ticket_id: int, worker_id: int) -> None:
    with database.sessions.begin() as session:
        dispatch_ticket(session, session.get_one(Ticket, ticket_id), worker_id, actor="user:1", offer_seconds=60)


def test_dispatches_and_surveys_of_calls_tickets_are_written_once(db: Database) -> None:
    worker_id, worker_code, sub_service = _worker_for(db)
    old_id, _ = _call_ticket(db, "1772000000.1", sub_service)
    _dispatch(db, old_id, worker_id)  # before the story existed: history, never replayed
    story = QueueLogStory(db.sessions, settle=dt.timedelta(0))
    ami = RecordingAmi()
    assert story.write_pending(ami) == 0 and ami.actions == []

    ticket_id, number = _call_ticket(db, "1772000000.2", sub_service)
    with db.sessions.begin() as session:  # a ticket from the web: no call, no queue_log line
        web = open_ticket(session, TicketRequest(channel=Channel.WEB, sub_service_code=sub_service), actor="api")
        web_id = web.id
    _dispatch(db, ticket_id, worker_id)
    with db.sessions.begin() as session:
        session.execute(update(Worker).where(Worker.id == worker_id).values(status=WorkerStatus.IDLE))
    _dispatch(db, web_id, worker_id)
    with db.sessions.begin() as session:
        ticket = session.get_one(Ticket, ticket_id)
        ticket.status = TicketStatus.COMPLETED
        session.add(Evaluation(ticket_id=ticket_id, party=EvaluationParty.RESIDENT, score=2, solved=False,
                               actor="survey", source_key="survey:1", created_at=utcnow()))
        session.add(Evaluation(ticket_id=ticket_id, party=EvaluationParty.PROVIDER, score=5, actor="worker:1",
                               source_key="provider:1", created_at=utcnow()))
    assert story.write_pending(ami) == 2
    assert [(a["Event"], a["UniqueId"], a["Message"]) for a in ami.actions] == [
        ("DISPATCH", "1772000000.2", f"{number}|{sub_service}|{worker_code}"),
        ("SURVEY", "1772000000.2", f"{number}|2|N")]
    assert story.write_pending(ami) == 0 and len(ami.actions) == 2  # once each
    assert QueueLogStory(db.sessions, settle=dt.timedelta(0)).write_pending(ami) == 0  # restarted: still once


def test_a_lost_connection_resumes_where_it_stopped(db: Database) -> None:
    worker_id, _code, sub_service = _worker_for(db)
    story = QueueLogStory(db.sessions, settle=dt.timedelta(0))
    story.write_pending(RecordingAmi())  # the marks start here
    tickets = [_call_ticket(db, f"1772000001.{n}", sub_service)[0] for n in range(3)]
    for ticket_id in tickets:
        _dispatch(db, ticket_id, worker_id)
        with db.sessions.begin() as session:
            session.execute(update(Worker).where(Worker.id == worker_id).values(status=WorkerStatus.IDLE))
    failing = RecordingAmi(fail_at=1)
    with pytest.raises(AmiError):
        story.write_pending(failing)
    again = RecordingAmi()
    assert story.write_pending(again) == 2
    sent = [a["UniqueId"] for a in failing.actions + again.actions]
    assert sent == ["1772000001.0", "1772000001.1", "1772000001.2"]


def test_fresh_and_old_rows_wait_or_are_passed_over(db: Database) -> None:
    worker_id, _code, sub_service = _worker_for(db)
    story = QueueLogStory(db.sessions, settle=dt.timedelta(seconds=30), max_age=dt.timedelta(hours=1))
    story.write_pending(RecordingAmi())
    ticket_id, _ = _call_ticket(db, "1772000002.1", sub_service)
    _dispatch(db, ticket_id, worker_id)
    ami = RecordingAmi()
    assert story.write_pending(ami) == 0  # too fresh: a transaction with a lower id may be open
    assert story.write_pending(ami, now=utcnow() + dt.timedelta(minutes=1)) == 1
    with db.sessions.begin() as session:
        session.execute(update(Worker).where(Worker.id == worker_id).values(status=WorkerStatus.IDLE))
    other, _ = _call_ticket(db, "1772000002.2", sub_service)
    _dispatch(db, other, worker_id)
    assert story.write_pending(ami, now=utcnow() + dt.timedelta(days=1)) == 0  # too old: passed over
    assert story.write_pending(ami, now=utcnow() + dt.timedelta(days=1)) == 0 and len(ami.actions) == 1
