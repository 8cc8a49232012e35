"""Helpers of the follow-up and callback tests: finished jobs, fake telephone systems."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.scheduler.dialer import DialError, OriginateRequest, originate_fields
from models.base import utcnow
from models.dispatch import accept_offer, complete_service, dispatch_ticket, start_service
from models.entities import OutboundCall, SubService, Worker, WorkerSkill
from models.enums import Channel, WorkerStatus
from models.tickets import TicketRequest, open_ticket


def completed_job(session: Session, number: str, *, code: str = "DRAIN-SEWER",
                  now: dt.datetime | None = None) -> tuple[int, int]:
    """A ticket for ``number`` dispatched to a skilled worker and completed: (ticket id, worker id)."""
    now = now or utcnow()
    sub = session.scalars(select(SubService).where(SubService.code == code)).one()
    worker = session.scalars(select(Worker).join(WorkerSkill, WorkerSkill.worker_id == Worker.id)
                             .where(WorkerSkill.sub_service_id == sub.id).order_by(Worker.id)).first()
    assert worker is not None, f"no worker has {code}"
    worker.status = WorkerStatus.IDLE
    ticket = open_ticket(session, TicketRequest(channel=Channel.PHONE, sub_service_code=code, contact_number=number),
                         actor="test", now=now)
    offer = dispatch_ticket(session, ticket, worker.id, actor="test", offer_seconds=300, now=now)
    accept_offer(session, offer.id, worker.id, now=now)
    start_service(session, ticket.id, worker.id, now=now)
    complete_service(session, ticket.id, worker.id, report="done", now=now)
    return ticket.id, worker.id


@dataclass
class FakeDialer:
    """A telephone system that records Originates (checking each header as the AMI dialer would)."""

    sessions: sessionmaker[Session] | None = None
    connected: bool = True
    free: dict[str, int] | None = field(default_factory=dict)
    placed: list[OriginateRequest] = field(default_factory=list)
    stored_before_originate: list[bool] = field(default_factory=list)
    refuse: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def originate(self, request: OriginateRequest) -> str:
        originate_fields(request)
        if self.sessions is not None:  # the attempt must be committed before the call is placed
            with self.sessions() as session:
                self.stored_before_originate.append(session.get(OutboundCall, request.call_id) is not None)
        if self.refuse:
            raise DialError("refused")
        with self.lock:
            self.placed.append(request)
            return f"fake-{len(self.placed)}"

    def free_agents(self) -> dict[str, int] | None:
        return None if self.free is None else dict(self.free)
