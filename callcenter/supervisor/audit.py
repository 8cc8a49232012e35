"""Recording supervised accesses in the audit log (committed before any data leaves)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_login import current_user

from callcenter.db import db
from models.audit import record_access


def audit(action: str, *, target_id: int | None = None, detail: dict[str, Any] | None = None) -> None:
    """Append and commit one audit entry for the current account."""
    record_access(db(), user_id=current_user.id, action=action, target_id=target_id, detail=detail,
                  remote_addr=request.remote_addr)
    db().commit()
