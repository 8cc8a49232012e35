"""Recording supervised accesses in the audit log (committed before any data leaves)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_login import current_user

from callcenter.db import sessions
from models.audit import record_access


def audit(action: str, *, target_id: int | None = None, detail: dict[str, Any] | None = None) -> None:
    """Append and commit one audit entry for the current account.

    It is written in a short transaction of its own on the writing sessions (the request may be a
    GET reading through a read-only session: on SQLite a write there would not queue with the
    other writers and could fail with "database is locked" under load)."""
    with sessions().begin() as session:
        record_access(session, user_id=current_user.id, action=action, target_id=target_id, detail=detail,
                      remote_addr=request.remote_addr)
