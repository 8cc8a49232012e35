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
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.base import utcnow
from models.calls import call_by_uniqueid, record_call_start
from models.entities import Call, User
from models.enums import CallOutcome
from models.errors import ValidationError

log = logging.getLogger("hotline.callrecords")

Message = dict[str, str]
CDR_COLUMNS = ("start", "answer", "end", "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp",
               "disposition", "duration", "billsec", "amaflags", "accountcode", "uniqueid", "linkedid",
               "userfield", "peeraccount", "sequence")
INBOUND_CONTEXTS = frozenset({"from-carrier"})
# Contexts only a 96345 call reaches after the IVR (a CDR row's dcontext is the last context run).
AFTER_IVR_CONTEXTS = frozenset({"hotline-route", "hotline-queues", "hotline-hangup"})
MAX_WAIT = 86400


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
        if flags.message and call.recording is None:
            call.recording = f"msg-{call.uniqueid}.wav"
        close_call(call, final_outcome(call, abandoned=flags.abandoned, message_left=flags.message,
                                       degraded=flags.degraded), event_time(message))

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
    skipped: list[str] = field(default_factory=list)


def _apply_queue_story(session: Session, call: Call, entries: list[QueueLogEntry], config: RecorderConfig) -> _Flags:
    flags = _Flags()
    for entry in entries:
        if entry.event == "ENTERQUEUE":
            call.queue = call.queue or queue_name(entry.queue, config)
            call.queue_entered_at = call.queue_entered_at or entry.at
            call.recording = call.recording or f"{call.uniqueid}.wav"
        elif entry.event == "CONNECT":
            call.answered_at = call.answered_at or entry.at
            call.queue_wait_seconds = _seconds(entry.data[0] if entry.data else None)
            call.agent_id = call.agent_id or agent_for_interface(session, entry.agent)
        elif entry.event in ("ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"):
            call.queue_wait_seconds = _seconds(entry.data[2] if len(entry.data) > 2 else None)
            flags.abandoned = True
        elif entry.event == "CALLBACKMSG":
            flags.message = True
            name = entry.data[0] if entry.data else ""
            if name == f"msg-{call.uniqueid}.wav":
                call.recording = call.recording or name
    return flags


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
    call = call_by_uniqueid(session, uniqueid)
    if call is not None and call.outcome != CallOutcome.IN_PROGRESS and call.ended_at is not None:
        report.unchanged += 1
        return
    started = _cdr_time(row.get("start"), zone) or utcnow()
    if call is None:
        call = record_call_start(session, uniqueid=uniqueid, linkedid=row["linkedid"], caller_number=row.get("src"),
                                 caller_name=None, dialed=row.get("dst"), now=started, region=config.region)
        report.created += 1
    else:
        report.finished += 1
    flags = _apply_queue_story(session, call, entries, config)
    userfield = row.get("userfield", "")
    flags.degraded = flags.degraded or userfield == "degraded"
    ended = _cdr_time(row.get("end"), zone) or started
    if userfield == "ivr:status" and call.queue_entered_at is None:
        close_call(call, CallOutcome.STATUS_QUERY, ended)
        return
    if flags.message or userfield == "callback-message":
        flags.message = True
    close_call(call, final_outcome(call, abandoned=flags.abandoned, message_left=flags.message,
                                   degraded=flags.degraded), ended)


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
    ``after_connect`` runs after every (re)connection — the reconcile of calls missed meanwhile.
    """

    def __init__(self, recorder: CallRecorder, connect: Callable[[Callable[[Message], None]], object],
                 *, after_connect: Callable[[], object] | None = None, max_backoff: float = 30.0) -> None:
        self.recorder, self.connect, self.after_connect = recorder, connect, after_connect
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
            connected = getattr(client, "connected", None)
            while not self.stop_event.is_set() and (connected is None or connected.is_set()):
                self.stop_event.wait(0.2)
            close = getattr(client, "close", None)
            if close is not None:
                close()

    def stop(self) -> None:
        """End :meth:`run`."""
        self.stop_event.set()
