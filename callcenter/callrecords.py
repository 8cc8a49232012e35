"""Call records from Asterisk: an AMI listener, and a reconcile from the CDR and ``queue_log``.

:class:`CallRecorder` turns channel, queue and bridge events of one inbound call (the channel whose
``Uniqueid`` is its ``Linkedid``) into its single ``calls`` row: created on the first event seen
(``record_call_start`` is idempotent by uniqueid, so a replayed or duplicated event, or the IVR
having written the row first, never makes a second one), then queue joined and wait, answering
agent, recording, end and outcome.  Each event is applied in its own short transaction.

:class:`CallRecordListener` keeps an AMI connection open, reconnecting with back-off after Asterisk
or the network goes away, and runs a reconcile after every (re)connection so that calls which
ended while nobody listened still get their record.

:func:`reconcile` reads Asterisk's own records — ``cdr-custom/Master.csv`` (columns of
``asterisk_conf/cdr_custom.conf``) and the ``queue_log`` file — and makes every inbound call of the
CDR end as exactly one record (DESIGN.md §6, promise 1): missing rows are created, unfinished ones
finished; finished rows are left as they are.

A caller who left a message (the dialplan's ``message`` extension: ``HOTLINE_MESSAGE`` live, a
``CALLBACKMSG`` queue_log line or ``callback-message`` in the CDR's userfield afterwards) gets a
callback ticket (:func:`ticket_for_message`): the ticket the IVR opened for the call, else a new one,
marked ``callback_requested`` with the message recording ``msg-<uniqueid>.wav`` — one per call,
from the listener and from reconcile alike.  A call the dialplan carried without the IVR is
recorded as degraded (``HOTLINE_DEGRADED`` live; the ``DEGRADED`` queue_log line or ``degraded`` in
the userfield afterwards).  The custom queue_log events are listed in :mod:`callcenter.queuelog`;
reconcile reads ``DEGRADED``, ``CALLBACKMSG`` and ``IVRCHOICE`` and passes over the others.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.base import utcnow
from models.calls import append_ivr_step, call_by_uniqueid, record_call_start
from models.entities import Call, Ticket, TicketEvent, User
from models.enums import CallOutcome, Channel, EventKind
from models.errors import DomainError, ValidationError
from models.tickets import TicketRequest, append_event, open_ticket_for_call, request_callback

log = logging.getLogger("hotline.callrecords")

Message = dict[str, str]
CDR_COLUMNS = ("start", "answer", "end", "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp",
               "disposition", "duration", "billsec", "amaflags", "accountcode", "uniqueid", "linkedid",
               "userfield", "peeraccount", "sequence")
INBOUND_CONTEXTS = frozenset({"from-carrier"})
# Contexts only a 96345 call reaches after the IVR (a CDR row's dcontext is the last context run).
AFTER_IVR_CONTEXTS = frozenset({"hotline-route", "hotline-queues", "hotline-hangup"})
MAX_WAIT = 86400
MAX_POSITION = 10000
MESSAGE_ACTOR = "callrecords"
MESSAGE_DESCRIPTION = "来电留言：无坐席接听，来电人留言等待回电（录音见通话记录）。"
USERFIELD_SEPARATORS = re.compile(r"[+;,\s]+")
CALLBACK_QUEUE = re.compile(r"^[a-z0-9-]{1,32}$")


@dataclass(frozen=True)
class RecorderConfig:
    """How Asterisk names things on this site."""

    queue_prefix: str = "hotline-"  # app_queue name = prefix + our queue name
    inbound_contexts: frozenset[str] = INBOUND_CONTEXTS
    after_ivr_contexts: frozenset[str] = AFTER_IVR_CONTEXTS
    region: str = "CN"


def event_time(message: Message) -> dt.datetime:
    """The event's ``Timestamp`` (manager.conf ``timestampevents = yes``), else now."""
    try:
        return dt.datetime.fromtimestamp(float(message["Timestamp"]), dt.UTC)
    except (KeyError, ValueError, OverflowError):
        return utcnow()


def _seconds(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    return min(int(text.strip()), MAX_WAIT)


def queue_position(text: str | None) -> int | None:
    """A queue position from the wire (1 = first in line); anything else is None."""
    if text is None or not text.strip().isdigit():
        return None
    value = int(text.strip())
    return value if 1 <= value <= MAX_POSITION else None


def userfield_marks(userfield: str | None) -> frozenset[str]:
    """The markers of a CDR userfield (``degraded+callback-message`` → both)."""
    return frozenset(part for part in USERFIELD_SEPARATORS.split(userfield or "") if part)


def message_recording(call: Call) -> str:
    """The file the dialplan records a message into: ``msg-<UNIQUEID>.wav`` (never caller data)."""
    return f"msg-{call.uniqueid}.wav"


def _message_noted(session: Session, ticket: Ticket, recording: str) -> bool:
    details = session.scalars(select(TicketEvent.detail).where(TicketEvent.ticket_id == ticket.id,
                                                               TicketEvent.kind == EventKind.CALL))
    return any(dict(detail or {}).get("message") == recording for detail in details)


def record_message(session: Session, call: Call, at: dt.datetime) -> bool:
    """:func:`ticket_for_message` in a savepoint: a refusal is logged and leaves the rest of the
    call's record as it is (reconcile tries again).  True when the ticket changed."""
    try:
        with session.begin_nested():
            return ticket_for_message(session, call, at)[1]
    except DomainError as exc:
        log.warning("no callback ticket for the message on %s: %s", call.uniqueid, exc.message)
        return False


def ticket_for_message(session: Session, call: Call, at: dt.datetime) -> tuple[Ticket, bool]:
    """The callback ticket of a call on which the caller left a message; True when this changed it.

    The ticket the IVR opened for the call is marked for a callback, else a phone ticket is opened
    for the call's number (one per call: the call's unique ticket); the message recording is
    referenced on the ticket (``description_recording`` when it has none, and a timeline entry) and,
    when no agent answered, is the call's recording.  Applying it again changes nothing.
    """
    recording = message_recording(call)
    had_ticket = call.ticket_id is not None
    ticket = open_ticket_for_call(session, uniqueid=call.uniqueid, actor=MESSAGE_ACTOR, now=at,
                                  request=TicketRequest(channel=Channel.PHONE, description=MESSAGE_DESCRIPTION))
    changed = not had_ticket
    if ticket.description_recording is None:
        ticket.description_recording = recording
        changed = True
    if not _message_noted(session, ticket, recording):
        append_event(session, ticket, EventKind.CALL, MESSAGE_ACTOR, now=at, text="message left",
                     detail={"message": recording, "uniqueid": call.uniqueid})
        changed = True
    if not ticket.callback_requested:
        queue = f"hotline-{call.queue}" if call.queue and call.queue_entered_at else None
        waited = queue is not None and CALLBACK_QUEUE.match(queue) is not None
        request_callback(session, ticket, actor=MESSAGE_ACTOR, now=at, queue=queue if waited else None,
                         queue_entered_at=call.queue_entered_at if waited else None)
        changed = True
    if call.answered_at is None:
        call.recording = recording
    if call.answered_at is None and call.outcome in (CallOutcome.IN_PROGRESS, CallOutcome.TICKET,
                                                     CallOutcome.ABANDONED_QUEUE, CallOutcome.DEGRADED):
        call.outcome = CallOutcome.VOICEMAIL
    call.ended_at = call.ended_at or at
    session.flush()
    return ticket, changed


def queue_name(raw: str | None, config: RecorderConfig) -> str | None:
    """Our queue name from app_queue's (``hotline-general`` → ``general``); odd names kept capped."""
    if not raw:
        return None
    name = raw[len(config.queue_prefix):] if raw.startswith(config.queue_prefix) else raw
    return "".join(ch for ch in name if ch.isalnum() or ch in "-_")[:32] or None


def agent_for_interface(session: Session, interface: str | None) -> int | None:
    """The console account whose seat is the queue member (``PJSIP/agent01`` or ``agent01``)."""
    if not interface:
        return None
    seat = interface.rsplit("/", 1)[-1].split("-", 1)[0][:32]
    return session.scalars(select(User.id).where(User.seat == seat)).first()


def final_outcome(call: Call, *, abandoned: bool = False, message_left: bool = False,
                  degraded: bool = False) -> CallOutcome:
    """How a call that just ended is recorded, from what we know of it."""
    if message_left:
        return CallOutcome.VOICEMAIL
    if degraded:
        return CallOutcome.DEGRADED
    if call.answered_at is not None:
        return CallOutcome.TICKET if call.ticket_id else CallOutcome.ANSWERED
    if abandoned or call.queue_entered_at is not None:
        return CallOutcome.ABANDONED_QUEUE
    return CallOutcome.ABANDONED_IVR


def close_call(call: Call, outcome: CallOutcome, ended: dt.datetime) -> None:
    """End a call once: the first outcome stays, only a missing end time is filled in."""
    if call.outcome == CallOutcome.IN_PROGRESS:
        call.outcome = outcome
    if call.ended_at is None:
        call.ended_at = ended


@dataclass
class _Flags:
    abandoned: bool = False
    message: bool = False
    degraded: bool = False


class CallRecorder:
    """Applies AMI events to call records (thread-safe; one transaction per event)."""

    def __init__(self, sessions: sessionmaker[Session], config: RecorderConfig | None = None) -> None:
        self.sessions = sessions
        self.config = config or RecorderConfig()
        self._flags: dict[str, _Flags] = defaultdict(_Flags)
        self._lock = threading.Lock()
        self.applied = 0

    def handle(self, message: Message) -> None:
        """Apply one event (unknown events and other channels' events are ignored).

        Channel variables reach us as ``VarSet`` events (AMI ``dialplan`` class) or, with
        manager.conf ``channelvars = HOTLINE_DEGRADED,HOTLINE_MESSAGE``, on every channel event.
        """
        self._note_channel_variables(message)
        handler = self._HANDLERS.get(message.get("Event", ""))
        if handler is None:
            return
        with self._lock, self.sessions.begin() as session:
            try:
                handler(self, session, message)
                self.applied += 1
            except ValidationError as exc:  # a malformed id from the wire: skip the event, keep going
                log.warning("skipped %s event: %s", message.get("Event"), exc.message)

    # -- helpers --------------------------------------------------------------------------------
    def _note_channel_variables(self, message: Message) -> None:
        uniqueid = message.get("Uniqueid", "")
        if not uniqueid:
            return
        if message.get("var:HOTLINE_DEGRADED") == "1":
            self._flags[uniqueid].degraded = True
        if message.get("var:HOTLINE_MESSAGE"):
            self._flags[uniqueid].message = True

    def _caller_call(self, session: Session, message: Message, *, create: bool) -> Call | None:
        uniqueid, linkedid = message.get("Uniqueid", ""), message.get("Linkedid") or message.get("Uniqueid", "")
        if not uniqueid or uniqueid != linkedid:
            return call_by_uniqueid(session, uniqueid) if uniqueid else None
        found = call_by_uniqueid(session, uniqueid)
        if found is not None or not create:
            return found
        if message.get("Context") not in self.config.inbound_contexts and message.get("Event") == "Newchannel":
            return None
        return record_call_start(session, uniqueid=uniqueid, linkedid=linkedid,
                                 caller_number=message.get("CallerIDNum"), caller_name=message.get("CallerIDName"),
                                 dialed=message.get("Exten"), now=event_time(message), region=self.config.region)

    # -- events ---------------------------------------------------------------------------------
    def _newchannel(self, session: Session, message: Message) -> None:
        if message.get("Context") in self.config.inbound_contexts:
            self._caller_call(session, message, create=True)

    def _queue_join(self, session: Session, message: Message) -> None:
        call = self._caller_call(session, message, create=True)
        if call is None:
            return
        call.queue = queue_name(message.get("Queue"), self.config)
        if call.queue_entered_at is None:
            call.queue_entered_at = event_time(message)
        if call.queue_position is None:
            call.queue_position = queue_position(message.get("Position"))
        if call.recording is None:
            call.recording = f"{call.uniqueid}.wav"  # MixMonitor(${UNIQUEID}.wav) starts before Queue()

    def _agent_connect(self, session: Session, message: Message) -> None:
        call = self._caller_call(session, message, create=True)
        if call is None:
            return
        if call.answered_at is None:
            call.answered_at = event_time(message)
        call.queue_wait_seconds = _seconds(message.get("HoldTime"))
        call.agent_id = call.agent_id or agent_for_interface(session, message.get("Interface")
                                                             or message.get("MemberName"))
        call.queue = call.queue or queue_name(message.get("Queue"), self.config)

    def _queue_abandon(self, session: Session, message: Message) -> None:
        call = self._caller_call(session, message, create=True)
        if call is None:
            return
        call.queue_wait_seconds = _seconds(message.get("HoldTime"))
        self._flags[call.uniqueid].abandoned = True

    def _var_set(self, session: Session, message: Message) -> None:
        variable, value = message.get("Variable", ""), message.get("Value", "")
        uniqueid = message.get("Uniqueid", "")
        if variable == "HOTLINE_DEGRADED" and value == "1":
            self._flags[uniqueid].degraded = True
        elif variable == "HOTLINE_MESSAGE" and value:
            self._flags[uniqueid].message = True

    def _hangup(self, session: Session, message: Message) -> None:
        call = self._caller_call(session, message, create=False)
        if call is None:
            return
        flags = self._flags.pop(call.uniqueid, _Flags())
        ended = event_time(message)
        close_call(call, final_outcome(call, abandoned=flags.abandoned, message_left=flags.message,
                                       degraded=flags.degraded), ended)
        if flags.message:
            record_message(session, call, ended)

    _HANDLERS: ClassVar[dict[str, Callable[[CallRecorder, Session, Message], None]]] = {
        "Newchannel": _newchannel,
        "QueueCallerJoin": _queue_join,
        "AgentConnect": _agent_connect,
        "QueueCallerAbandon": _queue_abandon,
        "VarSet": _var_set,
        "Hangup": _hangup,
    }


# --- reconcile -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueLogEntry:
    """One ``queue_log`` line: ``time|callid|queue|agent|event|data…``."""

    at: dt.datetime
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]


def read_queue_log(lines: Iterable[str]) -> list[QueueLogEntry]:
    """Parse queue_log lines (malformed lines are skipped)."""
    entries = []
    for line in lines:
        parts = line.rstrip("\r\n").split("|")
        if len(parts) < 5:
            continue
        try:
            at = dt.datetime.fromtimestamp(float(parts[0]), dt.UTC)
        except (ValueError, OverflowError):
            continue
        entries.append(QueueLogEntry(at, parts[1], parts[2], parts[3], parts[4], tuple(parts[5:])))
    return entries


def read_cdr(lines: Iterable[str]) -> list[dict[str, str]]:
    """Parse CDR CSV lines into dicts keyed by :data:`CDR_COLUMNS`."""
    return [dict(zip(CDR_COLUMNS, row, strict=False)) for row in csv.reader(lines) if row]


def _cdr_time(text: str | None, zone: dt.tzinfo) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(dt.UTC)


@dataclass
class ReconcileReport:
    """What a reconcile did."""

    seen: int = 0
    created: int = 0
    finished: int = 0
    unchanged: int = 0
    callbacks: int = 0  # message tickets opened or marked
    skipped: list[str] = field(default_factory=list)


def story_flags(entries: list[QueueLogEntry], marks: frozenset[str]) -> _Flags:
    """What the queue_log lines and the CDR userfield markers say about how a call ended."""
    flags = _Flags()
    flags.message = "callback-message" in marks or any(e.event == "CALLBACKMSG" for e in entries)
    flags.degraded = "degraded" in marks or any(e.event == "DEGRADED" for e in entries)
    flags.abandoned = any(e.event in ("ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY") for e in entries)
    return flags


def _ivr_choice(call: Call, entry: QueueLogEntry) -> None:
    """An ``IVRCHOICE`` line on a call whose IVR path was never stored (the FastAGI side lost it)."""
    if call.ivr_path:
        return
    names = ("outcome", "category", "ticket")
    append_ivr_step(call, {"source": "queue_log", **{n: v[:32] for n, v in zip(names, entry.data, strict=False)}})


def _apply_queue_story(session: Session, call: Call, entries: list[QueueLogEntry], config: RecorderConfig) -> None:
    for entry in entries:
        if entry.event == "ENTERQUEUE":
            call.queue = call.queue or queue_name(entry.queue, config)
            call.queue_entered_at = call.queue_entered_at or entry.at
            call.recording = call.recording or f"{call.uniqueid}.wav"
            if call.queue_position is None:
                call.queue_position = queue_position(entry.data[2] if len(entry.data) > 2 else None)
        elif entry.event == "IVRCHOICE":
            _ivr_choice(call, entry)
        elif entry.event == "CONNECT":
            call.answered_at = call.answered_at or entry.at
            call.queue_wait_seconds = _seconds(entry.data[0] if entry.data else None)
            call.agent_id = call.agent_id or agent_for_interface(session, entry.agent)
        elif entry.event in ("ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"):
            call.queue_wait_seconds = _seconds(entry.data[2] if len(entry.data) > 2 else None)
        # DID, DEGRADED, CALLBACKMSG: read by story_flags; DISPATCH, SURVEY and any other event
        # (standard or custom) say nothing about how the call ended and are passed over.


def is_hotline_call(row: dict[str, str], story: dict[str, list[QueueLogEntry]], config: RecorderConfig) -> bool:
    """An inbound 96345 call's own leg: its queue_log has the ``DID`` line the dialplan writes on
    arrival, or its last context is one only such calls reach.  Agent legs, simulator or outbound
    legs and calls to other numbers are not."""
    uniqueid = row.get("uniqueid", "")
    if not uniqueid or uniqueid != row.get("linkedid"):
        return False
    arrived = any(entry.event == "DID" for entry in story.get(uniqueid, ()))
    return arrived or row.get("dcontext") in config.after_ivr_contexts


def reconcile(session: Session, cdr_rows: list[dict[str, str]], queue_log: list[QueueLogEntry], *,
              config: RecorderConfig | None = None, cdr_zone: dt.tzinfo = dt.UTC) -> ReconcileReport:
    """Make every inbound call of the CDR exactly one finished record (the caller commits)."""
    config = config or RecorderConfig()
    story: dict[str, list[QueueLogEntry]] = defaultdict(list)
    for entry in queue_log:
        story[entry.callid].append(entry)
    report = ReconcileReport()
    for row in cdr_rows:
        if not is_hotline_call(row, story, config):
            continue
        uniqueid = row["uniqueid"]
        report.seen += 1
        try:
            _reconcile_one(session, row, story.get(uniqueid, []), config, cdr_zone, report)
        except ValidationError as exc:
            report.skipped.append(f"{uniqueid[:64]}: {exc.message}")
    session.flush()
    return report


def _reconcile_one(session: Session, row: dict[str, str], entries: list[QueueLogEntry], config: RecorderConfig,
                   zone: dt.tzinfo, report: ReconcileReport) -> None:
    uniqueid = row["uniqueid"]
    marks = userfield_marks(row.get("userfield"))
    flags = story_flags(entries, marks)
    started = _cdr_time(row.get("start"), zone) or utcnow()
    ended = _cdr_time(row.get("end"), zone) or started
    call = call_by_uniqueid(session, uniqueid)
    if call is not None and call.outcome != CallOutcome.IN_PROGRESS and call.ended_at is not None:
        report.unchanged += 1
    else:
        if call is None:
            call = record_call_start(session, uniqueid=uniqueid, linkedid=row["linkedid"],
                                     caller_number=row.get("src"), caller_name=None, dialed=row.get("dst"),
                                     now=started, region=config.region)
            report.created += 1
        else:
            report.finished += 1
        _apply_queue_story(session, call, entries, config)
        if "ivr:status" in marks and call.queue_entered_at is None and not flags.message:
            close_call(call, CallOutcome.STATUS_QUERY, ended)
        else:
            close_call(call, final_outcome(call, abandoned=flags.abandoned, message_left=flags.message,
                                           degraded=flags.degraded), ended)
    if flags.message and record_message(session, call, ended):
        report.callbacks += 1  # also for a call the listener finished without seeing the message


def reconcile_files(sessions: sessionmaker[Session], cdr_csv: Path, queue_log: Path, *,
                    config: RecorderConfig | None = None, cdr_zone: dt.tzinfo = dt.UTC) -> ReconcileReport:
    """Reconcile from the files Asterisk writes (absent files read as empty)."""
    cdr_rows = read_cdr(cdr_csv.read_text(encoding="utf-8", errors="replace").splitlines()) \
        if cdr_csv.exists() else []
    entries = read_queue_log(queue_log.read_text(encoding="utf-8", errors="replace").splitlines()) \
        if queue_log.exists() else []
    with sessions.begin() as session:
        return reconcile(session, cdr_rows, entries, config=config, cdr_zone=cdr_zone)


# --- the listener ----------------------------------------------------------------------------------

class CallRecordListener:
    """An AMI connection feeding a :class:`CallRecorder`, reconnecting with back-off.

    ``connect`` builds a connected client given the event callback (an ``AmiClient`` in production);
    ``after_connect`` runs after every (re)connection — the reconcile of calls missed meanwhile;
    ``while_connected`` is called with the client about every ``tick`` seconds while connected (the
    :class:`callcenter.queuelog.QueueLogStory` writing dispatches and survey results).
    """

    def __init__(self, recorder: CallRecorder, connect: Callable[[Callable[[Message], None]], object],
                 *, after_connect: Callable[[], object] | None = None,
                 while_connected: Callable[[object], object] | None = None, tick: float = 1.0,
                 max_backoff: float = 30.0) -> None:
        self.recorder, self.connect, self.after_connect = recorder, connect, after_connect
        self.while_connected, self.tick = while_connected, tick
        self.max_backoff = max_backoff
        self.stop_event = threading.Event()
        self.connections = 0

    def run(self) -> None:
        """Listen until :meth:`stop` (each lost connection is retried, 0.5 s doubling to the maximum)."""
        backoff = 0.5
        while not self.stop_event.is_set():
            try:
                client = self.connect(self.recorder.handle)
            except Exception as exc:  # Asterisk down, refused login, network: try again later
                log.warning("AMI connect failed (%s); retrying in %.1f s", exc, backoff)
                self.stop_event.wait(backoff)
                backoff = min(self.max_backoff, backoff * 2)
                continue
            backoff = 0.5
            self.connections += 1
            if self.after_connect is not None:
                try:
                    self.after_connect()
                except Exception:
                    log.exception("reconcile after connect failed")
            self._stay_connected(client)
            close = getattr(client, "close", None)
            if close is not None:
                close()

    def _stay_connected(self, client: object) -> None:
        connected = getattr(client, "connected", None)
        next_tick = 0.0
        while not self.stop_event.is_set() and (connected is None or connected.is_set()):
            if self.while_connected is not None and time.monotonic() >= next_tick:
                try:
                    self.while_connected(client)
                except Exception:  # AMI dropped mid-way, database busy: try again next tick
                    log.exception("periodic work while connected failed")
                next_tick = time.monotonic() + self.tick
            self.stop_event.wait(0.2)

    def stop(self) -> None:
        """End :meth:`run`."""
        self.stop_event.set()
