"""The big screen (智能大屏) for a 1920×1080 wall display: provider map and charts, polled JSON."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from flask_login import current_user

from callcenter.db import db
from callcenter.i18n import current_language
from callcenter.supervisor import bp
from callcenter.supervisor.filters import zone
from models.supervision import big_screen


@bp.get("/bigscreen")
def bigscreen_page() -> str:
    """The big screen page (ECharts charts and the Leaflet provider map update by themselves)."""
    return render_template("supervisor/bigscreen.html",
                           poll_ms=int(float(current_app.config["POLL_SECONDS"]) * 4000))


@bp.get("/bigscreen/data")
def bigscreen_data() -> dict[str, Any]:
    """The big screen's figures as JSON."""
    return big_screen(db(), zone=zone(), scope=current_user.scope, language=current_language())
