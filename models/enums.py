"""Enumerations of the domain, stored as their string values."""

from __future__ import annotations

from enum import StrEnum


class StationLevel(StrEnum):
    CITY = "city"  # 市中心
    TOWN = "town"  # 镇/街道分站
    COMMUNITY = "community"  # 村/社区


class Role(StrEnum):
    AGENT = "agent"  # 话务员
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    PROVIDER = "provider"  # 加盟商人员
    API = "api"  # an online-channel client (掌上下单: app / mini-program backend); no console login


class Channel(StrEnum):
    PHONE = "phone"
    WEB = "web"
    WALK_IN = "walk_in"
    API = "api"


class Priority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        """Higher is more urgent (also the app_queue priority offset)."""
        return list(Priority).index(self)


class TicketStatus(StrEnum):
    ACCEPTED = "accepted"  # 受理
    DISPATCHED = "dispatched"  # 派单
    PROVIDER_ACCEPTED = "provider_accepted"  # 接单
    IN_SERVICE = "in_service"  # 服务中
    COMPLETED = "completed"  # 完工
    FOLLOWED_UP = "followed_up"  # 回访
    CLOSED = "closed"  # 办结
    CANCELLED = "cancelled"
    ESCALATED = "escalated"
    REOPENED = "reopened"


class WorkerStatus(StrEnum):
    BUSY = "busy"  # 服务中 red
    DISPATCHED = "dispatched"  # 已派单 yellow
    IDLE = "idle"  # 空闲 green
    OFF_DUTY = "off_duty"  # 离线 blue


class OfferState(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class EvaluationParty(StrEnum):
    RESIDENT = "resident"
    PROVIDER = "provider"
    PLATFORM = "platform"


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class CallOutcome(StrEnum):
    IN_PROGRESS = "in_progress"
    TICKET = "ticket"  # a ticket was opened or found for the call
    ABANDONED_IVR = "abandoned_ivr"
    ABANDONED_QUEUE = "abandoned_queue"
    VOICEMAIL = "voicemail"  # a message left: becomes a callback ticket
    STATUS_QUERY = "status_query"
    DEGRADED = "degraded"  # the IVR failed; the dialplan fallback carried the call
    ANSWERED = "answered"  # answered by an agent without a ticket (e.g. enquiry)
    OUTBOUND_DONE = "outbound_done"
    OUTBOUND_FAILED = "outbound_failed"


class EventKind(StrEnum):
    CREATED = "created"
    STATUS = "status"
    NOTE = "note"
    CLAIM = "claim"
    RELEASE = "release"
    EDIT = "edit"
    DISPATCH = "dispatch"
    OFFER = "offer"
    EVALUATION = "evaluation"
    CALL = "call"
    ESCALATION = "escalation"
