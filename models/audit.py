"""The supervisors' audit trail: who looked at which call record, recording or export, and when.

Rows are only ever added (DESIGN.md §6, promise 7: recordings and exports are audited).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, utcnow
from models.text import neutralise_received_text

ACTIONS = frozenset({"call_log", "call_detail", "recording", "export_csv", "export_xlsx", "report",
                     "report_download"})


class AuditEntry(Base):
    """One access by a console account to supervised data."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(24))
    target_id: Mapped[int | None] = mapped_column(Integer)  # the call id, when there is one
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # filters of a search or export
    remote_addr: Mapped[str | None] = mapped_column(String(64))


def record_access(session: Session, *, user_id: int, action: str, target_id: int | None = None,
                  detail: dict[str, Any] | None = None, remote_addr: str | None = None,
                  now: dt.datetime | None = None) -> AuditEntry:
    """Append an audit entry (the caller commits)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    safe = {str(k)[:32]: neutralise_received_text(str(v), 256) for k, v in (detail or {}).items()
            if v not in (None, "")}
    entry = AuditEntry(at=now or utcnow(), user_id=user_id, action=action, target_id=target_id, detail=safe,
                       remote_addr=(remote_addr or "")[:64] or None)
    session.add(entry)
    session.flush()
    return entry


def audit_entries(session: Session, *, action: str | None = None, target_id: int | None = None,
                  limit: int = 100) -> list[AuditEntry]:
    """The latest audit entries, newest first, optionally of one action or target."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if target_id is not None:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    return list(session.scalars(stmt))
