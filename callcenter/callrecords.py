"""Call records from Asterisk: an AMI listener, and a reconcile from the CDR and ``queue_log``.

:class:`CallRecorder` turns channel, queue and bridge events of one inbound call (the channel whose
``Uniqueid`` is its ``Linkedid``) into its single ``calls`` row: created on the first event seen
(``record_call_start`` is idempotent by uniqueid, so a replayed or duplicated event, or the IVR
having written the row first, never makes a second one), then queue joined and wait, answering
agent, recording, end and outcome.  Each event is applied in its own short transaction.

:class:`CallRecordListener` keeps an AMI connection open, reconnecting with back-off after Asterisk
or the network goes away, and runs a reconcile after every (re)connection so that calls which
ended while nobody listened still get their record.

Calls Asterisk lost -- it was killed, crashed or the host lost power while they were up -- get no
Hangup event and no CDR row.  :class:`LostCalls` finishes them: on every (re)connection and
periodically it asks Asterisk which channels are up (AMI ``Status``) and finishes each open record
that started before that list and whose channel is not in it (:func:`models.calls.finish_lost_call`:
ended at the last moment it was known alive, a ticket outcome kept, else ``degraded``, and a
``lost`` step in its IVR path).  When Asterisk is known to have started again after the call began
(``FullyBooted``'s ``Uptime`` on login, or ``CoreStatus``' startup time changing -- when the AMI user
may read them) the call is finished at once; otherwise it must be missing from two lists at least
``grace`` seconds apart, so that a Hangup still on its way wins.  ``hotline calls reconcile
--close-lost`` applies the same rule once.

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
from models.calls import (
    LOST_ASTERISK_RESTARTED,
    LOST_CHANNEL_GONE,
    OpenCall,
    append_ivr_step,
    call_by_uniqueid,
    finish_lost_call,
    open_calls,
    record_call_start,
)
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
        self.lock = threading.Lock()  # held while an event (or a lost call's close) is applied
        self._last_seen: dict[str, dt.datetime] = {}  # caller channel -> time of its latest event
        self._seen_lock = threading.Lock()
        self.applied = 0

    def handle(self, message: Message) -> None:
        """Apply one event (unknown events and other channels' events are ignored).

        Channel variables reach us as ``VarSet`` events (AMI ``dialplan`` class) or, with
        manager.conf ``channelvars = HOTLINE_DEGRADED,HOTLINE_MESSAGE``, on every channel event.
        """
        self._note_channel_variables(message)
        self._note_seen(message)
        handler = self._HANDLERS.get(message.get("Event", ""))
        if handler is None:
            return
        with self.lock, self.sessions.begin() as session:
            try:
                handler(self, session, message)
                self.applied += 1
            except ValidationError as exc:  # a malformed id from the wire: skip the event, keep going
                log.warning("skipped %s event: %s", message.get("Event"), exc.message)

    def last_seen(self, uniqueid: str) -> dt.datetime | None:
        """When the latest event of a caller's channel still up was seen (None when unknown)."""
        return self._last_seen.get(uniqueid)

    def forget_seen(self, keep: Callable[[str, dt.datetime], bool]) -> None:
        """Drop the last-seen times ``keep(uniqueid, seen)`` refuses (channels whose Hangup was missed)."""
        with self._seen_lock:
            for uniqueid in [u for u, seen in self._last_seen.items() if not keep(u, seen)]:
                del self._last_seen[uniqueid]

    # -- helpers --------------------------------------------------------------------------------
    def _note_seen(self, message: Message) -> None:
        uniqueid = message.get("Uniqueid", "")
        if not uniqueid or uniqueid != (message.get("Linkedid") or uniqueid):
            return
        with self._seen_lock:
            if message.get("Event") == "Hangup":
                self._last_seen.pop(uniqueid, None)
            else:
                self._last_seen[uniqueid] = event_time(message)

    def _note_channel_variables(self, message: Message) -> None:
        uniqueid = message.get("Uniqueid", "")
        if not uniqueid:
            return
        if message.get("var:HOTLINE_DEGRADED") == "1":
            self._flags[uniqueid].degraded = True
        if message.get("var:HOTLINE_MESSAGE"):
            self._flags[uniqueid].message = True

    def _caller_call(self, session: Session, message: Message, *, create: bool, lock: bool = False) -> Call | None:
        uniqueid, linkedid = message.get("Uniqueid", ""), message.get("Linkedid") or message.get("Uniqueid", "")
        if not uniqueid or uniqueid != linkedid:
            return call_by_uniqueid(session, uniqueid, for_update=lock) if uniqueid else None
        found = call_by_uniqueid(session, uniqueid, for_update=lock)
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
        # Locked: a lost-call close of the same record (another process) finishes first or waits.
        call = self._caller_call(session, message, create=False, lock=True)
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


# --- calls Asterisk lost ---------------------------------------------------------------------------

LIST_ITEM_EVENTS = frozenset({"Status", "CoreShowChannel"})
LIST_COMPLETE_EVENTS = frozenset({"StatusComplete", "CoreShowChannelsComplete"})
BOOT_TOLERANCE = dt.timedelta(seconds=2)  # FullyBooted's Uptime is whole seconds
_SYSTEM_NAME = re.compile(r"^[A-Za-z0-9._-]{0,64}$")


class PbxQueryError(RuntimeError):
    """Asterisk refused or did not finish answering a question over AMI."""


class ListCollector:
    """The events an AMI list action answers with (``Status`` … ``StatusComplete``), by ActionID.

    Fed with every event on the AMI reader thread (:meth:`offer`); :meth:`run` sends the action
    and waits for its completion event.  The items may arrive before the caller knows the ActionID
    (they follow the response on the wire), so they are kept by ActionID until collected.
    """

    def __init__(self, max_lists: int = 8) -> None:
        self._lists: dict[str, list[Message]] = {}
        self._complete: set[str] = set()
        self._changed = threading.Condition()
        self.max_lists = max_lists

    def offer(self, message: Message) -> bool:
        """Keep a list event (True), or leave any other event to the caller (False)."""
        kind, action_id = message.get("Event", ""), message.get("ActionID", "")
        if not action_id or kind not in LIST_ITEM_EVENTS | LIST_COMPLETE_EVENTS:
            return False
        with self._changed:
            if action_id not in self._lists and len(self._lists) >= self.max_lists:
                oldest = next(iter(self._lists))  # a list nobody waits for any more
                self._lists.pop(oldest)
                self._complete.discard(oldest)
            self._lists.setdefault(action_id, []).append(message)
            if kind in LIST_COMPLETE_EVENTS:
                self._complete.add(action_id)
                self._changed.notify_all()
        return True

    def run(self, client: object, action: str, *, timeout: float = 10.0) -> list[Message]:
        """Send a list action over ``client`` (an ``AmiClient``) and return its item events."""
        reply: Message = client.action(action)  # type: ignore[attr-defined]
        if reply.get("Response") != "Success":
            raise PbxQueryError(f"AMI {action} refused: {reply.get('Message', '')}")
        action_id = reply.get("ActionID", "")
        with self._changed:
            done = self._changed.wait_for(lambda: action_id in self._complete, timeout)
            items = self._lists.pop(action_id, [])
            self._complete.discard(action_id)
        if not done:
            raise PbxQueryError(f"AMI {action}: the list did not complete within {timeout:.0f} s")
        return [item for item in items if item.get("Event") in LIST_ITEM_EVENTS]


@dataclass(frozen=True)
class BootMark:
    """Which run of Asterisk answered: when it booted (from ``FullyBooted``'s ``Uptime``) and/or
    the startup stamp of ``CoreStatus`` (Asterisk's local date and time, compared as text)."""

    at: dt.datetime | None = None
    stamp: str = ""

    def same_run(self, other: BootMark) -> bool | None:
        """Whether both marks are of the same run of Asterisk; None when they cannot tell.

        Stamps tell to the second; boot times only beyond :data:`BOOT_TOLERANCE` (a quicker
        restart looks like the same run, and its lost calls are finished after the grace time).
        """
        if self.stamp and other.stamp:
            return self.stamp == other.stamp
        if self.at is not None and other.at is not None:
            return abs(self.at - other.at) <= BOOT_TOLERANCE
        return None

    def merged(self, other: BootMark | None) -> BootMark:
        """This mark completed with what ``other`` knows."""
        if other is None:
            return self
        return BootMark(self.at or other.at, self.stamp or other.stamp)


def boot_from_fully_booted(message: Message, received: dt.datetime | None = None) -> BootMark | None:
    """The boot time a ``FullyBooted`` event tells (sent on login to users who may read ``system``)."""
    uptime = _seconds(message.get("Uptime"))
    if uptime is None:
        return None
    return BootMark(at=(received or utcnow()) - dt.timedelta(seconds=uptime))


def boot_from_core_status(reply: Message) -> BootMark | None:
    """The startup stamp of a ``CoreStatus`` response (None when refused or malformed)."""
    if reply.get("Response") != "Success":
        return None
    stamp = f"{reply.get('CoreStartupDate', '')} {reply.get('CoreStartupTime', '')}".strip()[:40]
    return BootMark(stamp=stamp) if stamp else None  # only ever compared with another stamp


@dataclass(frozen=True)
class PbxSnapshot:
    """What Asterisk said at ``taken_at``: the ids (Uniqueid and Linkedid) of its live channels,
    its system name (the prefix of its uniqueids) and which run of it this is."""

    taken_at: dt.datetime
    channels: frozenset[str]
    system_name: str = ""
    boot: BootMark | None = None


def uniqueid_system(uniqueid: str) -> str:
    """The Asterisk system name a uniqueid carries (``pbx1-1700000000.12`` → ``pbx1``; none → "")."""
    return uniqueid.rsplit("-", 1)[0] if "-" in uniqueid else ""


def read_pbx_snapshot(client: object, lists: ListCollector, *,
                      fully_booted: Callable[[], BootMark | None] = lambda: None,
                      timeout: float = 10.0) -> PbxSnapshot:
    """Ask Asterisk over AMI which channels are up (``Status``, allowed with the ``call`` right),
    its ``SYSTEMNAME`` and, when the AMI user may ask, its ``CoreStatus`` startup time.

    ``fully_booted`` gives the mark of the connection's ``FullyBooted`` event, if one came: it is
    asked after the first answer, by when an event sent on login has been read.
    """
    action = client.action  # type: ignore[attr-defined]
    name_reply: Message = action("Getvar", Variable="SYSTEMNAME")
    system_name = name_reply.get("Value", "") if name_reply.get("Response") == "Success" else ""
    if system_name == "(null)" or not _SYSTEM_NAME.match(system_name):
        system_name = ""
    boot = boot_from_core_status(action("CoreStatus"))  # "Permission denied" without `reporting`
    boot = boot.merged(fully_booted()) if boot is not None else fully_booted()
    taken_at = utcnow()
    items = lists.run(client, "Status", timeout=timeout)
    channels = frozenset(value for item in items for value in (item.get("Uniqueid"), item.get("Linkedid")) if value)
    return PbxSnapshot(taken_at, channels, system_name, boot)


@dataclass
class LostCallsReport:
    """What one look at Asterisk's channels did."""

    open: int = 0  # open records of this Asterisk that started before the list
    alive: int = 0
    pending: int = 0  # missing once; finished if still missing after the grace time
    finished: list[str] = field(default_factory=list)  # uniqueids finished now
    raced: int = 0  # finished meanwhile by a Hangup or another process


class LostCalls:
    """Finishes the records of calls Asterisk no longer has (DESIGN.md §6, promise 1).

    :meth:`sweep` takes a :class:`PbxSnapshot`.  An open record of this Asterisk (same system
    name) that started before the snapshot and whose channel is not in it is finished at once when
    it started before ``dead_before`` (Asterisk started again since), otherwise once it has been
    missing for ``grace`` seconds (so that a Hangup on its way arrives first).  Each record is
    finished in its own transaction under ``lock`` (the recorder's), at the last moment it was known
    alive: its last stored event, its last event seen by the recorder (``last_event``) or the last
    snapshot that listed it.  ``lookback`` bounds the search to recent starts (None: all).
    """

    def __init__(self, sessions: sessionmaker[Session], *, grace: float = 5.0,
                 lookback: dt.timedelta | None = dt.timedelta(days=1), lock: threading.Lock | None = None,
                 last_event: Callable[[str], dt.datetime | None] | None = None) -> None:
        self.sessions, self.grace, self.lookback = sessions, dt.timedelta(seconds=grace), lookback
        self.lock = lock or threading.Lock()
        self.last_event = last_event or (lambda _uniqueid: None)
        self._missing_since: dict[str, dt.datetime] = {}
        self._listed_at: dict[str, dt.datetime] = {}

    def attach(self, recorder: CallRecorder) -> None:
        """Work with a listener's recorder: finish records under its lock, know its last events."""
        self.lock, self.last_event = recorder.lock, recorder.last_seen

    def is_missing(self, uniqueid: str) -> bool:
        """Whether an open record's channel was missing from the last list (finished if it stays so)."""
        return uniqueid in self._missing_since

    def sweep(self, snapshot: PbxSnapshot, *, dead_before: dt.datetime | None = None) -> LostCallsReport:
        """Finish the open records ``snapshot`` shows lost; returns what it did."""
        report = LostCallsReport()
        after = snapshot.taken_at - self.lookback if self.lookback is not None else None
        with self.sessions() as session:
            candidates = [call for call in open_calls(session, started_before=snapshot.taken_at, started_after=after)
                          if uniqueid_system(call.uniqueid) == snapshot.system_name]
        report.open = len(candidates)
        for call in candidates:
            if call.uniqueid in snapshot.channels:
                report.alive += 1
                self._listed_at[call.uniqueid] = snapshot.taken_at
                self._missing_since.pop(call.uniqueid, None)
                continue
            restarted = dead_before is not None and call.started_at < dead_before
            missing_since = self._missing_since.setdefault(call.uniqueid, snapshot.taken_at)
            if not restarted and snapshot.taken_at - missing_since < self.grace:
                report.pending += 1
                continue
            self._finish(call, LOST_ASTERISK_RESTARTED if restarted else LOST_CHANNEL_GONE, snapshot, report)
        still_open = {call.uniqueid for call in candidates} - set(report.finished)
        for known in (self._missing_since, self._listed_at):
            for uniqueid in [u for u in known if u not in still_open]:
                del known[uniqueid]
        return report

    def _finish(self, call: OpenCall, reason: str, snapshot: PbxSnapshot, report: LostCallsReport) -> None:
        moments = [call.last_event_at, self.last_event(call.uniqueid), self._listed_at.get(call.uniqueid)]
        last_alive = max(moment for moment in moments if moment is not None)
        with self.lock, self.sessions.begin() as session:
            finished = finish_lost_call(session, call.id, last_alive=last_alive, reason=reason,
                                        now=snapshot.taken_at)
        if finished is None:
            report.raced += 1
            return
        report.finished.append(call.uniqueid)
        log.warning("call %s finished as lost (%s): Asterisk no longer has it; last known alive %s",
                    call.uniqueid, reason, last_alive.isoformat(timespec="seconds"))


def close_lost_calls(sessions: sessionmaker[Session], client: object, lists: ListCollector, *,
                     grace: float = 5.0, fully_booted: Callable[[], BootMark | None] = lambda: None,
                     wait: Callable[[float], object] = time.sleep) -> LostCallsReport:
    """Finish, once, the records of calls a connected Asterisk no longer has (``hotline calls
    reconcile --close-lost``): two looks at its channels ``grace`` seconds apart, all starts."""
    lost = LostCalls(sessions, grace=grace, lookback=None)
    first = read_pbx_snapshot(client, lists, fully_booted=fully_booted)
    dead_before = first.boot.at - BOOT_TOLERANCE if first.boot is not None and first.boot.at else None
    report = lost.sweep(first, dead_before=dead_before)
    if report.pending:
        wait(grace)
        second = lost.sweep(read_pbx_snapshot(client, lists, fully_booted=fully_booted), dead_before=dead_before)
        second.finished[:0] = report.finished
        second.raced += report.raced
        report = second
    return report


# --- the listener ----------------------------------------------------------------------------------

class CallRecordListener:
    """An AMI connection feeding a :class:`CallRecorder`, reconnecting with back-off.

    ``connect`` builds a connected client given the event callback (an ``AmiClient`` in production);
    ``after_connect`` runs after every (re)connection — the reconcile of calls missed meanwhile;
    ``while_connected`` is called with the client about every ``tick`` seconds while connected (the
    :class:`callcenter.queuelog.QueueLogStory` writing dispatches and survey results).

    With ``lost_calls`` it also finishes the records of calls Asterisk no longer has: after every
    (re)connection (after ``after_connect``) and every ``sweep_every`` seconds while connected (every
    ``lost_calls.grace`` seconds while a call is missing once).  A restart of Asterisk is recognised
    from ``FullyBooted`` (on login) or ``CoreStatus`` when the AMI user may read them; the calls of
    the run before are then finished at once.
    """

    def __init__(self, recorder: CallRecorder, connect: Callable[[Callable[[Message], None]], object],
                 *, after_connect: Callable[[], object] | None = None,
                 while_connected: Callable[[object], object] | None = None, tick: float = 1.0,
                 max_backoff: float = 30.0, lost_calls: LostCalls | None = None,
                 sweep_every: float = 60.0) -> None:
        self.recorder, self.connect, self.after_connect = recorder, connect, after_connect
        self.while_connected, self.tick = while_connected, tick
        self.max_backoff = max_backoff
        self.lost_calls, self.sweep_every = lost_calls, sweep_every
        if lost_calls is not None:
            lost_calls.attach(recorder)
        self.lists = ListCollector()
        self.stop_event = threading.Event()
        self.connections = 0
        self.restarts = 0  # restarts of Asterisk recognised between connections
        self.lost_finished: list[str] = []  # uniqueids of records finished as lost, in order
        self._boot: BootMark | None = None  # the run of Asterisk last connected to
        self._fully_booted: BootMark | None = None  # told by this connection's FullyBooted
        self._alive_at: dt.datetime | None = None  # the last moment a connection was known up
        self._dead_before: dt.datetime | None = None  # calls started before: of a run that is gone
        self._alive_before: dt.datetime | None = None  # when the previous connection was last known up
        self._run_noted = False  # whether this connection's run of Asterisk was compared with the last

    def run(self) -> None:
        """Listen until :meth:`stop` (each lost connection is retried, 0.5 s doubling to the maximum)."""
        backoff = 0.5
        while not self.stop_event.is_set():
            self._fully_booted = None
            try:
                client = self.connect(self._on_event)
            except Exception as exc:  # Asterisk down, refused login, network: try again later
                log.warning("AMI connect failed (%s); retrying in %.1f s", exc, backoff)
                self.stop_event.wait(backoff)
                backoff = min(self.max_backoff, backoff * 2)
                continue
            backoff = 0.5
            self.connections += 1
            self._alive_before, self._alive_at, self._run_noted = self._alive_at, utcnow(), False
            if self.after_connect is not None:
                try:
                    self.after_connect()
                except Exception:
                    log.exception("reconcile after connect failed")
            self._stay_connected(client)
            close = getattr(client, "close", None)
            if close is not None:
                close()

    def _on_event(self, message: Message) -> None:
        if self.lists.offer(message):
            return
        self._alive_at = utcnow()
        if message.get("Event") == "FullyBooted":
            self._fully_booted = boot_from_fully_booted(message, self._alive_at)
        self.recorder.handle(message)

    def _stay_connected(self, client: object) -> None:
        connected = getattr(client, "connected", None)
        next_tick = 0.0
        next_sweep = 0.0 if self.lost_calls is not None else float("inf")
        while not self.stop_event.is_set() and (connected is None or connected.is_set()):
            now = time.monotonic()
            if self.lost_calls is not None and now >= next_sweep:
                pending = self._sweep(client)
                again = self.sweep_every if pending == 0 else self.lost_calls.grace.total_seconds()
                next_sweep = time.monotonic() + again  # soon again while a call is missing once or it failed
            if self.while_connected is not None and now >= next_tick:
                try:
                    self.while_connected(client)
                except Exception:  # AMI dropped mid-way, database busy: try again next tick
                    log.exception("periodic work while connected failed")
                next_tick = time.monotonic() + self.tick
            if connected is None or connected.is_set():
                self._alive_at = utcnow()
            self.stop_event.wait(0.2)

    def _sweep(self, client: object) -> int | None:
        """One look at Asterisk's channels; the number of calls missing once (None: it failed)."""
        lost = self.lost_calls
        if lost is None:
            return 0
        try:
            snapshot = read_pbx_snapshot(client, self.lists, fully_booted=lambda: self._fully_booted)
        except Exception:  # AMI dropped or slow: try again soon
            log.exception("asking Asterisk for its channels failed")
            return None
        if not self._run_noted:
            self._note_run(snapshot.boot, self._alive_before)
            self._run_noted = True
        try:
            report = lost.sweep(snapshot, dead_before=self._dead_before)
        except Exception:  # database busy or away: try again soon
            log.exception("finishing the calls Asterisk lost failed")
            return None
        self.recorder.forget_seen(lambda uniqueid, seen: seen >= snapshot.taken_at or uniqueid in snapshot.channels
                                  or lost.is_missing(uniqueid))
        self.lost_finished += report.finished
        return report.pending

    def _note_run(self, boot: BootMark | None, alive_before: dt.datetime | None) -> None:
        """Recognise a restart of Asterisk and say which calls belong to a run that is gone."""
        restarted = self._boot is not None and boot is not None and self._boot.same_run(boot) is False
        if restarted:
            self.restarts += 1
            log.warning("Asterisk restarted since the last connection (booted %s)",
                        boot.at.isoformat(timespec="seconds") if boot and boot.at else boot and boot.stamp)
        if boot is not None and boot.at is not None:
            self._dead_before = boot.at - BOOT_TOLERANCE
        elif restarted:
            self._dead_before = alive_before  # the old run was up until then; none of its calls survive
        else:
            self._dead_before = None
        self._boot = boot if boot is not None else self._boot

    def stop(self) -> None:
        """End :meth:`run`."""
        self.stop_event.set()
