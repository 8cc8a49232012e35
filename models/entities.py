"""The ticket store's entities (SQLAlchemy 2.0 typed mappings).

Stations → users; the service catalogue; residents and their phones; calls; tickets and their
append-only timeline; provider companies, workers, skills, dispatch offers, evaluations and the
points ledger.  Domain operations live in the sibling modules and take a ``Session``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.enums import (
    CallDirection,
    CallOutcome,
    Channel,
    EvaluationParty,
    EventKind,
    OfferState,
    Priority,
    Role,
    StationLevel,
    TicketStatus,
    WorkerStatus,
)


def _enum(kind: type, length: int = 24) -> Enum:
    return Enum(kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e],
                validate_strings=True)


class Station(Base):
    """A service station: the city centre, a town/sub-district substation, or a community."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(96))
    level: Mapped[StationLevel] = mapped_column(_enum(StationLevel))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)

    parent: Mapped[Station | None] = relationship(remote_side="Station.id")


class User(Base):
    """A console account: agent, supervisor, admin or provider worker, scoped to a station."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(_enum(Role))
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), unique=True)
    seat: Mapped[str | None] = mapped_column(String(32), unique=True)  # agent phone endpoint
    language: Mapped[str] = mapped_column(String(8), default="zh")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    station: Mapped[Station] = relationship()


class ServiceCategory(Base):
    """One of the 14 service categories (家电维修, 开锁, 水电维修, ...)."""

    __tablename__ = "service_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)  # order in the IVR menu and the console
    queue: Mapped[str] = mapped_column(String(32), default="general")  # app_queue name
    keywords_zh: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords_en: Mapped[list[str]] = mapped_column(JSON, default=list)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)

    sub_services: Mapped[list[SubService]] = relationship(back_populates="category",
                                                          order_by="SubService.position")


class SubService(Base):
    """A sub-service (服务项目) with its stable code, keypad position, keywords, SLA and priority."""

    __tablename__ = "sub_services"
    __table_args__ = (UniqueConstraint("category_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("service_categories.id"), index=True)
    name_zh: Mapped[str] = mapped_column(String(48))
    name_en: Mapped[str] = mapped_column(String(96))
    position: Mapped[int] = mapped_column(Integer)  # keypad position inside the category menu
    keywords_zh: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords_en: Mapped[list[str]] = mapped_column(JSON, default=list)
    sla_dispatch_minutes: Mapped[int] = mapped_column(Integer)
    sla_complete_minutes: Mapped[int] = mapped_column(Integer)
    default_priority: Mapped[Priority] = mapped_column(_enum(Priority), default=Priority.NORMAL)
    queue: Mapped[str | None] = mapped_column(String(32))  # overrides the category's queue
    needs_provider: Mapped[bool] = mapped_column(Boolean, default=True)  # False: hotline answers itself
    retired: Mapped[bool] = mapped_column(Boolean, default=False)

    category: Mapped[ServiceCategory] = relationship(back_populates="sub_services")

    @property
    def queue_name(self) -> str:
        """The app_queue a call for this sub-service waits in."""
        return self.queue or self.category.queue


class Resident(Base):
    """A resident known to the hotline, with vulnerable-group flags and consent."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(256))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    elderly_alone: Mapped[bool] = mapped_column(Boolean, default=False)  # 独居老人
    left_behind_child: Mapped[bool] = mapped_column(Boolean, default=False)  # 留守儿童
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    consent_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    phones: Mapped[list[ResidentPhone]] = relationship(back_populates="resident",
                                                       cascade="all, delete-orphan")

    @property
    def vulnerable(self) -> bool:
        """Registered in a vulnerable group (priority and the emergency key in the IVR)."""
        return self.elderly_alone or self.left_behind_child or self.disabled


class ResidentPhone(Base):
    """One of a resident's phone numbers, normalised (E.164) and as first received."""

    __tablename__ = "resident_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)  # E.164 when valid, else as received
    raw: Mapped[str] = mapped_column(String(64))
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    foreign: Mapped[bool] = mapped_column(Boolean, default=False)

    resident: Mapped[Resident] = relationship(back_populates="phones")


class Call(Base):
    """One call leg as Asterisk saw it (uniqueid/linkedid), and what happened to it."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    direction: Mapped[CallDirection] = mapped_column(_enum(CallDirection), default=CallDirection.INBOUND)
    caller_number_raw: Mapped[str | None] = mapped_column(String(64))  # as received
    caller_number: Mapped[str | None] = mapped_column(String(64), index=True)  # E.164 when it parses
    caller_number_flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    caller_name: Mapped[str | None] = mapped_column(String(256))  # as received, neutralised
    dialed: Mapped[str | None] = mapped_column(String(32))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    ivr_path: Mapped[list[Any]] = mapped_column(JSON, default=list)  # steps: menu, key/speech, choice
    language: Mapped[str] = mapped_column(String(8), default="zh")
    queue: Mapped[str | None] = mapped_column(String(32))
    queue_entered_at: Mapped[dt.datetime | None] = mapped_column()
    queue_wait_seconds: Mapped[int | None] = mapped_column(Integer)
    queue_position: Mapped[int | None] = mapped_column(Integer)  # position on joining (1 = first)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    recording: Mapped[str | None] = mapped_column(String(128))  # file name (from uniqueid only)
    outcome: Mapped[CallOutcome] = mapped_column(_enum(CallOutcome), default=CallOutcome.IN_PROGRESS,
                                                 index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", use_alter=True), index=True)


class TicketCounter(Base):
    """Per-day sequence behind readable ticket numbers (YYMMDD + 4 digits, Asia/Shanghai date)."""

    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(6), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    """A request (工单) from any channel, through the lifecycle of DESIGN.md §1."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_priority", "status", "priority"),
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_callback_turn", "callback_requested", "callback_queue_entered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    origin_call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), unique=True)
    external_key: Mapped[str | None] = mapped_column(String(64), unique=True)  # API idempotency key
    category_id: Mapped[int | None] = mapped_column(ForeignKey("service_categories.id"), index=True)
    sub_service_id: Mapped[int | None] = mapped_column(ForeignKey("sub_services.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    description_recording: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(256))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    contact_number: Mapped[str | None] = mapped_column(String(64), index=True)
    priority: Mapped[Priority] = mapped_column(_enum(Priority), default=Priority.NORMAL)
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus), default=TicketStatus.ACCEPTED)
    callback_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The turn a caller gave up by asking for a callback while waiting (the scheduler calls back in
    # serving order: priority, then when they entered the queue).
    callback_requested_at: Mapped[dt.datetime | None] = mapped_column()
    callback_queue: Mapped[str | None] = mapped_column(String(32))
    callback_queue_entered_at: Mapped[dt.datetime | None] = mapped_column()
    claim_holder_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claim_expires_at: Mapped[dt.datetime | None] = mapped_column()
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    sub_service: Mapped[SubService | None] = relationship()
    category: Mapped[ServiceCategory | None] = relationship()
    events: Mapped[list[TicketEvent]] = relationship(order_by="TicketEvent.id", back_populates="ticket",
                                                     viewonly=True)


class TicketEvent(Base):
    """One entry of a ticket's append-only timeline: who, when, what."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind))
    actor: Mapped[str] = mapped_column(String(64))  # "user:12", "ivr", "worker:7", "scheduler", "api:..."
    from_status: Mapped[TicketStatus | None] = mapped_column(_enum(TicketStatus))
    to_status: Mapped[TicketStatus | None] = mapped_column(_enum(TicketStatus))
    text: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class ProviderCompany(Base):
    """A franchised provider company (加盟商)."""

    __tablename__ = "provider_companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(96))
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(64))
    stars: Mapped[int] = mapped_column(Integer, default=3)
    points: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    workers: Mapped[list[Worker]] = relationship(back_populates="company")


class Worker(Base):
    """A provider's worker (师傅): skills, live position and status, stars and points."""

    __tablename__ = "workers"
    __table_args__ = (CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("provider_companies.id"), index=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    status: Mapped[WorkerStatus] = mapped_column(_enum(WorkerStatus), default=WorkerStatus.OFF_DUTY,
                                                 index=True)
    stars: Mapped[int] = mapped_column(Integer, default=3)
    points: Mapped[int] = mapped_column(Integer, default=0)
    volunteer: Mapped[bool] = mapped_column(Boolean, default=False)
    position_at: Mapped[dt.datetime | None] = mapped_column()

    company: Mapped[ProviderCompany] = relationship(back_populates="workers")
    skills: Mapped[list[SubService]] = relationship(secondary="worker_skills")


class WorkerSkill(Base):
    """A worker can do a sub-service."""

    __tablename__ = "worker_skills"

    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True)
    sub_service_id: Mapped[int] = mapped_column(ForeignKey("sub_services.id"), primary_key=True,
                                                index=True)


class DispatchOffer(Base):
    """A job offered to a worker, answered by accept/decline or expiring."""

    __tablename__ = "dispatch_offers"
    __table_args__ = (Index("ix_dispatch_offers_state_expires", "state", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), index=True)
    offered_by: Mapped[str] = mapped_column(String(64))
    offered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    state: Mapped[OfferState] = mapped_column(_enum(OfferState), default=OfferState.OFFERED)
    responded_at: Mapped[dt.datetime | None] = mapped_column()
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # why this candidate

    worker: Mapped[Worker] = relationship()


class Evaluation(Base):
    """One party's evaluation of a job (resident, provider or platform)."""

    __tablename__ = "evaluations"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), index=True)
    party: Mapped[EvaluationParty] = mapped_column(_enum(EvaluationParty))
    score: Mapped[int] = mapped_column(Integer)
    solved: Mapped[bool | None] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    source_key: Mapped[str] = mapped_column(String(96), unique=True)  # idempotency (survey call, form)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PointsEntry(Base):
    """The points ledger: one signed entry per award or redemption, idempotent by ``ref``."""

    __tablename__ = "points_ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("provider_companies.id"), index=True)
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str] = mapped_column(String(96), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --- follow-ups, callbacks, alerts, daily statistics (issue 7) --------------------------------------

class OutboundState(StrEnum):
    """Where one outbound call attempt (a follow-up survey or a callback) is."""

    PLACING = "placing"  # stored; the Originate is being sent
    RINGING = "ringing"  # Asterisk accepted the Originate; the resident's phone rings
    ANSWERED = "answered"  # the resident answered (OriginateResponse Success)
    SURVEYED = "surveyed"  # follow-up: the rating was recorded
    AGENT = "agent"  # follow-up: the resident pressed 0 and went to the agents' queue
    INCOMPLETE = "incomplete"  # follow-up: answered, hung up before rating
    CONNECTED = "connected"  # callback: an agent took the call
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # the carrier or Asterisk could not place it
    LOST = "lost"  # no result by its deadline (e.g. the scheduler was restarted mid-call)


class OutboundCall(Base):
    """One outbound call attempt of a follow-up or callback task, stored before it is placed.

    Unique by (task, attempt): a restarted scheduler finds the attempt and never places it twice.
    Its Asterisk uniqueid is ``hotline-ob-<id>`` (set by the Originate), so AMI events find it.
    """

    __tablename__ = "outbound_calls"
    __table_args__ = (UniqueConstraint("task_id", "attempt"),
                      Index("ix_outbound_calls_purpose_state", "purpose", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("scheduled_tasks.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # followup | callback
    attempt: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(64))  # E.164
    state: Mapped[OutboundState] = mapped_column(_enum(OutboundState, 16), default=OutboundState.PLACING)
    queue: Mapped[str | None] = mapped_column(String(32))  # callback: the queue short name
    language: Mapped[str] = mapped_column(String(8), default="zh")
    action_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(64))  # originate reason, hangup cause, failure
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # follow-up: rating, solved
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[dt.datetime] = mapped_column()  # no result by then: lost
    originated_at: Mapped[dt.datetime | None] = mapped_column()
    answered_at: Mapped[dt.datetime | None] = mapped_column()
    connected_at: Mapped[dt.datetime | None] = mapped_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column()


class Alert(Base):
    """Something a supervisor or agent must look at (an SLA breach, a low rating, an unreachable
    resident…), raised once per cause (``key``) and shown until someone resolves it."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_resolved_created", "resolved_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    audience: Mapped[str] = mapped_column(String(16), default="supervisor")  # supervisor | agent
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    text: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(64))


class DailyStatistics(Base):
    """The figures of one local day (Asia/Shanghai), written once after the day is over."""

    __tablename__ = "daily_statistics"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    calls_offered: Mapped[int] = mapped_column(Integer, default=0)
    calls_answered: Mapped[int] = mapped_column(Integer, default=0)
    calls_abandoned_ivr: Mapped[int] = mapped_column(Integer, default=0)
    calls_abandoned_queue: Mapped[int] = mapped_column(Integer, default=0)
    tickets_opened: Mapped[int] = mapped_column(Integer, default=0)
    tickets_completed: Mapped[int] = mapped_column(Integer, default=0)
    surveys: Mapped[int] = mapped_column(Integer, default=0)
    rating_mean: Mapped[float | None] = mapped_column(Float)
    followups_unreachable: Mapped[int] = mapped_column(Integer, default=0)
    callbacks_placed: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    by_category: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # category code → tickets
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
