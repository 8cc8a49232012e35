"""The IVR's ports over the ticket store: :class:`ModelsTicketSink` and the catalogue loader.

Each operation is one short transaction of its own (``sessionmaker.begin()``): a call holds no
database connection while prompts play, so hundreds of calls share a small pool.  Operations that
only read (who is calling, a ticket's status, the catalogue) use read sessions, which on SQLite
neither take nor queue for the one writer's lock (:mod:`models.readers`); a call writes twice: its
ticket, and its IVR path at the end (the call record is made by whichever comes first, with the
time the call reached the IVR).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from agi_scripts.callbacks import CallbackRequest
from ivr.catalogue import Catalogue, MenuCategory, MenuService
from ivr.ports import (
    CallerProfile,
    CallInfo,
    IvrPath,
    Outcome,
    ServiceRequest,
    TicketRef,
    TicketStatus,
)
from ivr.survey import SurveyAnswers
from models.base import utcnow
from models.calls import append_ivr_step, call_by_uniqueid, finish_call, record_call_start
from models.catalogue import active_categories, active_sub_services, sub_service_by_code
from models.entities import Call, Resident, Ticket
from models.enums import CallOutcome, Channel, EventKind, Priority
from models.errors import NotFound, ValidationError
from models.phone import parse_phone
from models.readers import read_sessions_for
from models.residents import find_resident_by_phone
from models.surveys import (
    LOW_RATING_MAX,
    SurveyOutcome,
    SurveyTarget,
    parse_followup_id,
    record_survey,
    survey_target,
)
from models.tickets import (
    TicketRequest,
    append_event,
    latest_open_ticket_for_number,
    latest_ticket_for_number,
    open_ticket_for_call,
    request_callback,
    ticket_by_number,
)

CALLBACK_ONLY_DESCRIPTION = "来电在排队时请求回电（未经语音导航）"
PRIORITY_STEP = 10  # HOTLINE_PRIORITY = rank * 10: normal 0, high 10, urgent 20, emergency 30
GENERAL_QUEUE = "general"
EMERGENCY_QUEUE = "emergency"
_NEXT_PRIORITY = {Priority.NORMAL: Priority.HIGH, Priority.HIGH: Priority.URGENT,
                  Priority.URGENT: Priority.URGENT, Priority.EMERGENCY: Priority.EMERGENCY}

log = logging.getLogger("hotline.agi")


def queue_priority(priority: Priority) -> int:
    """The app_queue priority of a ticket priority (higher is answered first)."""
    return priority.rank * PRIORITY_STEP


def is_vulnerable(resident: Resident) -> bool:
    """Registered for priority care: elderly living alone, left-behind child, disabled."""
    return bool(resident.elderly_alone or resident.left_behind_child or resident.disabled)


class ModelsTicketSink:
    """:class:`ivr.ports.TicketSink` over ``models``, one transaction per operation."""

    def __init__(self, sessions: sessionmaker[Session], region: str = "CN",
                 read_sessions: sessionmaker[Session] | None = None) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions or read_sessions_for(sessions)
        self.region = region

    def _call_record(self, session: Session, call: CallInfo) -> Call:
        return call_by_uniqueid(session, call.uniqueid) or record_call_start(
            session, uniqueid=call.uniqueid, linkedid=call.linkedid or None,
            caller_number=call.caller_number or None, caller_name=call.caller_name or None,
            dialed=call.dialed_number or None, region=self.region, now=call.reached_at)

    def lookup_caller(self, call: CallInfo) -> CallerProfile:
        """Say who is calling (a read: the call record is written with the ticket or the IVR path)."""
        with self.read_sessions() as session:
            phone = parse_phone(call.caller_number, self.region)
            if phone.e164 is None:
                return CallerProfile(anonymous=True)
            resident = find_resident_by_phone(session, call.caller_number, self.region)
            open_ticket = latest_open_ticket_for_number(session, phone.e164)
            return CallerProfile(
                known=resident is not None or open_ticket is not None,
                resident_id=resident.id if resident else None,
                name=(resident.name or "") if resident else "",
                vulnerable=is_vulnerable(resident) if resident else False,
                open_ticket=open_ticket.number if open_ticket else None,
            )

    def open_ticket(self, call: CallInfo, request: ServiceRequest) -> TicketRef:
        """Open (or find again) the one ticket of this call, with its queue and priority."""
        with self.sessions.begin() as session:
            record = self._call_record(session, call)
            already = record.ticket_id is not None
            priority = self._priority(session, request)
            ticket = open_ticket_for_call(
                session, uniqueid=call.uniqueid, linkedid=call.linkedid or None,
                caller_number=call.caller_number or None, caller_name=call.caller_name or None,
                request=TicketRequest(
                    channel=Channel.PHONE, sub_service_code=request.service_code,
                    category_code=request.category_code or None, priority=priority,
                    description=_description(request)),
            )
            return TicketRef(number=ticket.number, queue=self._queue(ticket, request),
                             priority=queue_priority(ticket.priority),
                             category_code=ticket.category.code if ticket.category else "",
                             created=not already)

    def _priority(self, session: Session, request: ServiceRequest) -> Priority:
        if request.emergency:
            return Priority.EMERGENCY
        if request.service_code:
            base = sub_service_by_code(session, request.service_code).default_priority
        else:
            base = Priority.NORMAL
        return _NEXT_PRIORITY[base] if request.priority_boost else base

    @staticmethod
    def _queue(ticket: Ticket, request: ServiceRequest) -> str:
        if request.emergency:
            return EMERGENCY_QUEUE
        if ticket.sub_service is not None and ticket.sub_service.queue:
            return ticket.sub_service.queue
        return ticket.category.queue if ticket.category is not None else GENERAL_QUEUE

    def attach_description(self, call: CallInfo, ticket_number: str, recording: str) -> None:
        """Link the recorded description (a file name made from the call id) to the ticket."""
        with self.sessions.begin() as session:
            ticket = ticket_by_number(session, ticket_number)
            if ticket is None or ticket.description_recording == recording:
                return
            ticket.description_recording = recording
            append_event(session, ticket, EventKind.CALL, "ivr", now=utcnow(),
                         text="description recorded", detail={"recording": recording})

    def finish_ivr(self, call: CallInfo, path: IvrPath, outcome: Outcome) -> None:
        """Store the IVR path on the call; abandoned and status calls end here."""
        with self.sessions.begin() as session:
            record = self._call_record(session, call)
            append_ivr_step(record, {"steps": ">".join(path.steps), "digits": path.digits,
                                     "speech": " | ".join(path.speech), "outcome": outcome.value})
            if outcome is Outcome.ABANDONED and record.ticket_id is None:
                finish_call(session, record, CallOutcome.ABANDONED_IVR)
            elif outcome is Outcome.STATUS and record.ticket_id is None:
                finish_call(session, record, CallOutcome.STATUS_QUERY)
            elif outcome is Outcome.ERROR and record.ticket_id is None:
                finish_call(session, record, CallOutcome.DEGRADED)

    def ticket_status(self, call: CallInfo, ticket_number: str | None) -> TicketStatus | None:
        """A keyed-in ticket, or the caller's latest one."""
        with self.read_sessions() as session:
            if ticket_number:
                ticket = ticket_by_number(session, ticket_number)
            else:
                phone = parse_phone(call.caller_number, self.region)
                ticket = latest_ticket_for_number(session, phone.e164) if phone.e164 else None
            if ticket is None:
                return None
            return TicketStatus(number=ticket.number, state=ticket.status.value,
                                provider_kind=ticket.category.code if ticket.category else "")

    def book_callback(self, call: CallInfo, request: CallbackRequest) -> str | None:
        """Record that the waiting caller asked to be called back, keeping their turn (idempotent).

        The ticket is the call's own: the one ``HOTLINE_TICKET`` names when it belongs to this call,
        else the one the call record points at, else -- a caller who reached the queue without the
        IVR -- a new general ticket for the call.  Returns its number, or None when the call is
        unknown to Asterisk's identifiers (nothing is stored then).
        """
        if not call.uniqueid:
            return None
        with self.sessions.begin() as session:
            record = self._call_record(session, call)
            ticket = ticket_by_number(session, request.ticket_number) if request.ticket_number else None
            if ticket is not None and ticket.id != record.ticket_id and ticket.origin_call_id != record.id:
                ticket = None  # not this call's ticket: never book a callback on someone else's
            if ticket is None and record.ticket_id is not None:
                ticket = session.get(Ticket, record.ticket_id)
            if ticket is None:
                ticket = open_ticket_for_call(
                    session, uniqueid=call.uniqueid, linkedid=call.linkedid or None,
                    caller_number=call.caller_number or None, caller_name=call.caller_name or None,
                    request=TicketRequest(channel=Channel.PHONE, description=CALLBACK_ONLY_DESCRIPTION))
            request_callback(session, ticket, actor="ivr", queue=request.queue,
                             queue_entered_at=request.entered_at)
            append_ivr_step(record, {"steps": "queue>callback", "digits": request.key, "speech": "",
                                     "outcome": "callback"})
            return ticket.number

    # --- follow-up survey (回访): the ``survey`` route's store -----------------------------------------

    def survey_target(self, followup_id: str | None) -> SurveyTarget | None:
        """The follow-up a survey call answers; None when the id is malformed or names no follow-up."""
        try:
            call_id = parse_followup_id(followup_id)
        except ValidationError:
            return None
        with self.sessions.begin() as session:
            try:
                return survey_target(session, call_id)
            except NotFound:
                return None

    def record_survey(self, target: SurveyTarget, answers: SurveyAnswers) -> SurveyOutcome:
        """Store the resident's answers once (evaluation, followed up, reopened + alert when low)."""
        with self.sessions.begin() as session:
            return record_survey(session, target.call_id, rating=answers.rating, solved=answers.solved,
                                 agent=answers.agent, low_rating_max=LOW_RATING_MAX)


def _description(request: ServiceRequest) -> str | None:
    if not request.recognised_text:
        return None
    return f"[语音] {request.recognised_text}"[:500]


def load_catalogue(sessions: sessionmaker[Session]) -> Catalogue:
    """The active catalogue from the database, in menu order."""
    with sessions.begin() as session:
        return Catalogue(tuple(
            MenuCategory(
                code=category.code, names={"zh": category.name_zh, "en": category.name_en},
                keywords={"zh": tuple(category.keywords_zh or ()), "en": tuple(category.keywords_en or ())},
                services=tuple(
                    MenuService(code=sub.code, names={"zh": sub.name_zh, "en": sub.name_en},
                                keywords={"zh": tuple(sub.keywords_zh or ()),
                                          "en": tuple(sub.keywords_en or ())})
                    for sub in active_sub_services(category)),
            )
            for category in active_categories(session)
        ))


class CachedCatalogue:
    """The catalogue, reloaded at most every ``ttl_seconds`` (a new sub-service shows up by itself).

    Once loaded, a stale catalogue is reloaded in the background while calls go on with the one
    they have: under load the store can be seconds away, and a caller must hear the welcome, not
    silence while hundreds of calls wait for one reload.  A failed reload keeps the old one (and
    is tried again on the next call); only the very first load makes a call wait.
    """

    def __init__(self, loader: Callable[[], Catalogue], ttl_seconds: float = 30.0) -> None:
        self._loader = loader
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._value: Catalogue | None = None
        self._loaded_at = 0.0

    def __call__(self) -> Catalogue:
        value = self._value
        if value is None:
            with self._lock:  # nothing loaded yet: every call needs it
                if self._value is None:
                    self._value, self._loaded_at = self._loader(), time.monotonic()
                return self._value
        if time.monotonic() - self._loaded_at > self._ttl and self._lock.acquire(blocking=False):
            threading.Thread(target=self._reload, name="catalogue-reload", daemon=True).start()
        return value

    def _reload(self) -> None:
        """Load the catalogue again (the lock is held by the call that started this)."""
        try:
            self._value, self._loaded_at = self._loader(), time.monotonic()
        except Exception:
            log.warning("catalogue reload failed; calls go on with the one loaded before", exc_info=True)
        finally:
            self._lock.release()
