"""The hotline's custom ``queue_log`` events, so standard queue_log readers see a call's whole story.

Asterisk's app_queue writes the standard events (``ENTERQUEUE``, ``CONNECT``, ``ABANDON``,
``EXITWITHTIMEOUT``, ``COMPLETECALLER``, …).  The hotline adds these, each on the inbound call's
``UNIQUEID`` (the queue_log ``callid``) so a reader groups them with the queue events of the call.
Every value is reduced to a fixed alphabet first (``[A-Z0-9-]``, or digits), so no caller- or
user-controlled text reaches the file, an AMI header or a ``|`` field boundary::

    event        written by                           queue      agent     data (|-separated)
    DID          dialplan, on arrival                 NONE       NONE      the number dialled
    IVRCHOICE    dialplan, after the FastAGI IVR      NONE       NONE      outcome|category|ticket
    DEGRADED     dialplan, IVR unreachable or failed  NONE       NONE      AGISTATUS
    CALLBACKMSG  dialplan hangup handler              the queue  NONE      msg-<uniqueid>.wav|RECORD_STATUS
    DISPATCH     AMI QueueLog (:class:`QueueLogStory`) the queue  worker    ticket|sub-service|worker
    SURVEY       AMI QueueLog (:func:`log_survey_result`) the queue  NONE   ticket|score|solved (Y/N/-)

:class:`QueueLogStory` runs in the call-record listener (``hotline calls listen``): whenever it is
connected it writes the dispatches and resident survey results of tickets opened from a call, from
the database, and keeps a mark per stream (``queue_log_marks``) so each is written once, also for
work done while it was not running.  A new database starts its marks at the newest row: generated
history is never replayed into queue_log.  :func:`callcenter.callrecords.reconcile` reads ``DID``,
``IVRCHOICE``, ``DEGRADED`` and ``CALLBACKMSG`` and passes over the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from callcenter.ami import AmiError
from models.base import utcnow
from models.calllog import STORY_STREAMS, StoryItem, advance_story_mark, pending_story, settled_id, story_mark

log = logging.getLogger("hotline.queuelog")

CUSTOM_EVENTS = ("DID", "IVRCHOICE", "DEGRADED", "CALLBACKMSG", "DISPATCH", "SURVEY")
_UNSAFE = re.compile(r"[^A-Z0-9-]")
_UNIQUEID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # 1700000000.12, or systemname-1700000000.12
_QUEUE = re.compile(r"^[a-z0-9-]{1,32}$")
MAX_FIELD = 32


class AmiActions(Protocol):
    """Anything that sends an AMI action and returns its response (``AmiClient``)."""

    def action(self, action: str, **fields: object) -> dict[str, str]:
        """Send ``action`` with ``fields``; the response headers."""


class QueueLogRefused(Exception):
    """Asterisk did not write the queue_log line."""


def safe_field(value: object, limit: int = MAX_FIELD) -> str:
    """A value reduced to ``[A-Z0-9-]`` (upper-cased, other characters dropped), or ``-``."""
    text = _UNSAFE.sub("", str(value if value is not None else "").upper())[:limit]
    return text or "-"


@dataclass(frozen=True)
class QueueLogLine:
    """One custom queue_log line, checked: ready to send as an AMI ``QueueLog`` action."""

    queue: str
    uniqueid: str
    agent: str
    event: str
    data: tuple[str, ...]

    def fields(self) -> dict[str, object]:
        """The AMI ``QueueLog`` action's headers."""
        return {"Queue": self.queue, "UniqueId": self.uniqueid, "Interface": self.agent, "Event": self.event,
                "Message": "|".join(self.data)}


def queue_log_line(event: str, uniqueid: str, values: tuple[object, ...], *, queue: str | None = None,
                   agent: object = None, queue_prefix: str = "hotline-") -> QueueLogLine:
    """Build one of :data:`CUSTOM_EVENTS` for a call; ``ValueError`` for an unknown event or a
    uniqueid that is not Asterisk's (``1700000000.12``).  ``queue`` is our queue name (``general``)."""
    if event not in CUSTOM_EVENTS:
        raise ValueError(f"queue_log event {event!r} is not one of {', '.join(CUSTOM_EVENTS)}")
    if not _UNIQUEID.match(uniqueid or ""):
        raise ValueError(f"queue_log callid {uniqueid[:40]!r} is not an Asterisk uniqueid")
    name = f"{queue_prefix}{queue}" if queue and _QUEUE.match(queue) else "NONE"
    return QueueLogLine(name, uniqueid, safe_field(agent) if agent else "NONE", event,
                        tuple(safe_field(v) for v in values))


def write_line(ami: AmiActions, line: QueueLogLine) -> None:
    """Send the line to Asterisk (AMI ``QueueLog``, write class ``agent``); QueueLogRefused if refused."""
    reply = ami.action("QueueLog", **line.fields())
    if reply.get("Response") != "Success":
        raise QueueLogRefused(f"QueueLog {line.event} refused: {reply.get('Message', '')[:200]}")


def log_dispatch(ami: AmiActions, *, uniqueid: str, queue: str | None, ticket_number: str,
                 sub_service_code: str | None, worker_code: str | None) -> QueueLogLine:
    """Write ``DISPATCH`` for the call a ticket came from: ticket, sub-service and worker."""
    line = queue_log_line("DISPATCH", uniqueid, (ticket_number, sub_service_code, worker_code), queue=queue,
                          agent=worker_code)
    write_line(ami, line)
    return line


def log_survey_result(ami: AmiActions, *, uniqueid: str, queue: str | None, ticket_number: str, score: int,
                      solved: bool | None = None) -> QueueLogLine:
    """Write ``SURVEY`` for the call a ticket came from: ticket, score 1-5 and solved (Y/N/-)."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ValueError(f"survey score {score!r}: 1 to 5")
    answer = "-" if solved is None else ("Y" if solved else "N")
    line = queue_log_line("SURVEY", uniqueid, (ticket_number, score, answer), queue=queue)
    write_line(ami, line)
    return line


def line_for(item: StoryItem) -> QueueLogLine:
    """The queue_log line of a stored dispatch or survey result."""
    if item.stream == "dispatch":
        sub_service, worker = item.values
        return queue_log_line("DISPATCH", item.uniqueid, (item.ticket_number, sub_service, worker),
                              queue=item.queue, agent=worker or None)
    score, solved = item.values
    return queue_log_line("SURVEY", item.uniqueid, (item.ticket_number, score, solved or "-"), queue=item.queue)


class QueueLogStory:
    """Writes the stored dispatches and survey results of calls' tickets to queue_log, once each.

    Each look reads a batch in a short transaction, sends the lines over AMI with no transaction
    open, then moves the stream's mark past what was sent.  Rows newer than ``settle`` are left
    for the next look (a transaction that took a lower id may not have committed yet); rows older
    than ``max_age`` (history loaded by ``hotline demo-data``) are passed over unwritten.
    """

    def __init__(self, sessions: sessionmaker[Session], *, settle: dt.timedelta = dt.timedelta(seconds=2),
                 max_age: dt.timedelta = dt.timedelta(days=2), batch: int = 200) -> None:
        self.sessions = sessions
        self.settle, self.max_age, self.batch = settle, max_age, batch
        self.written = 0

    def write_pending(self, ami: AmiActions, now: dt.datetime | None = None) -> int:
        """Write what is due in every stream; the number of lines written."""
        now = now or utcnow()
        total = 0
        for stream in STORY_STREAMS:
            total += self._write_stream(ami, stream, now)
        self.written += total
        return total

    def _write_stream(self, ami: AmiActions, stream: str, now: dt.datetime) -> int:
        with self.sessions.begin() as session:
            after = story_mark(session, stream)
            up_to = settled_id(session, stream, after, now - self.settle, limit=self.batch)
            items = pending_story(session, stream, after, up_to) if up_to > after else []
        written = 0
        for item in items:
            if item.at < now - self.max_age:
                continue
            try:
                write_line(ami, line_for(item))
            except ValueError as exc:  # a row that cannot be a queue_log line: pass over it
                log.warning("queue_log %s %s not written: %s", stream, item.source_id, exc)
                continue
            except (AmiError, QueueLogRefused, OSError):
                self._advance(stream, item.source_id - 1)  # written so far; retry from this one
                raise
            written += 1
        if up_to > after:
            self._advance(stream, up_to)
        return written

    def _advance(self, stream: str, last_id: int) -> None:
        with self.sessions.begin() as session:
            advance_story_mark(session, stream, last_id)
