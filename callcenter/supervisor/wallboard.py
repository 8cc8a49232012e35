"""The live wallboard: queues, agents, service level, abandon rate, open emergencies and the open
alerts (SLA breaches, low follow-up ratings, residents not reached) — polled JSON."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from flask_login import current_user

from callcenter.db import db
from callcenter.supervisor import bp
from callcenter.supervisor.filters import zone
from callcenter.telephony import telephony
from models.alerts import count_open_alerts, open_alerts
from models.base import utcnow
from models.supervision import QueueFigures, wallboard


@bp.get("/wallboard")
def wallboard_page() -> str:
    """The wallboard page; its figures refresh by themselves every few seconds."""
    return render_template("supervisor/wallboard.html",
                           poll_ms=int(float(current_app.config["POLL_SECONDS"]) * 2000))


def _live_queues(figures: dict[str, QueueFigures]) -> dict[str, QueueFigures]:
    """Waiting calls as Asterisk reports them over AMI, when connected (else the call records)."""
    phone = telephony()
    if not phone.connected:
        return figures
    now = utcnow()
    live: dict[str, QueueFigures] = {}
    for queue, calls in phone.waiting_calls().items():
        waits = [int((now - call.since).total_seconds()) for call in calls]
        live[queue] = QueueFigures(len(calls), max(waits, default=0))
    return live or figures


@bp.get("/wallboard/data")
def wallboard_data() -> dict[str, Any]:
    """Today's wallboard figures as JSON."""
    board = wallboard(db(), zone=zone(), scope=current_user.scope)
    board.queues = _live_queues(board.queues)
    data = board.as_dict()
    data["alerts"] = {"open": count_open_alerts(db(), scope=current_user.scope),
                      "latest": [a.as_dict() for a in open_alerts(db(), scope=current_user.scope, limit=8)]}
    return data
