"""UI language: Simplified Chinese by default, English available; times in Asia/Shanghai.

Message ids are the English texts; :data:`ZH` holds their Chinese.  A test checks every id used
in the templates and views has a translation.  Flask-Babel selects the locale and time zone and
formats times.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, request, session
from flask_babel import Babel, format_datetime
from flask_login import current_user

from callcenter.i18n_zh import ZH
from models.base import utcnow
from models.enums import TicketStatus, WorkerStatus
from models.lifecycle import LABELS_ZH
from models.phone import mask_phone

LANGUAGES = ("zh", "en")

STATUS_EN: dict[TicketStatus, str] = {
    TicketStatus.ACCEPTED: "Accepted", TicketStatus.DISPATCHED: "Dispatched",
    TicketStatus.PROVIDER_ACCEPTED: "Provider accepted", TicketStatus.IN_SERVICE: "In service",
    TicketStatus.COMPLETED: "Completed", TicketStatus.FOLLOWED_UP: "Followed up", TicketStatus.CLOSED: "Closed",
    TicketStatus.CANCELLED: "Cancelled", TicketStatus.ESCALATED: "Escalated", TicketStatus.REOPENED: "Reopened",
}
WORKER_STATUS: dict[WorkerStatus, tuple[str, str]] = {
    WorkerStatus.BUSY: ("服务中", "Busy"), WorkerStatus.DISPATCHED: ("已派单", "Dispatched"),
    WorkerStatus.IDLE: ("空闲", "Idle"), WorkerStatus.OFF_DUTY: ("离线", "Off duty"),
}
WORKER_COLOURS: dict[WorkerStatus, str] = {
    WorkerStatus.BUSY: "#d62728", WorkerStatus.DISPATCHED: "#e6b800",
    WorkerStatus.IDLE: "#2ca02c", WorkerStatus.OFF_DUTY: "#1f77b4",
}


def current_language() -> str:
    """This request's language: the browser's choice, else the account's, else the default."""
    if "lang" in g:
        return str(g.lang)
    choice = session.get("lang") if request else None
    if choice not in LANGUAGES and current_user and current_user.is_authenticated:
        choice = current_user.language
    if choice not in LANGUAGES:
        choice = current_app.config["DEFAULT_LANGUAGE"]
    g.lang = choice
    return str(choice)


def gettext(text: str, **params: Any) -> str:
    """The message in the current language, with ``%(name)s`` parameters filled in."""
    translated = ZH.get(text, text) if current_language() == "zh" else text
    return translated % params if params else translated


def status_label(status: TicketStatus | str) -> str:
    """A ticket status in the current language."""
    status = TicketStatus(status)
    return LABELS_ZH[status] if current_language() == "zh" else STATUS_EN[status]


def worker_status_label(status: WorkerStatus | str) -> str:
    """A worker status in the current language."""
    zh, en = WORKER_STATUS[WorkerStatus(status)]
    return zh if current_language() == "zh" else en


_PATTERNS = {"yyyy-MM-dd HH:mm:ss": "%Y-%m-%d %H:%M:%S", "HH:mm:ss": "%H:%M:%S", "MM-dd HH:mm:ss": "%m-%d %H:%M:%S",
             "yyyy-MM-dd": "%Y-%m-%d"}


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(value: dt.datetime | None, pattern: str = "yyyy-MM-dd HH:mm:ss") -> str:
    """A stored UTC time shown in the console's time zone (Asia/Shanghai); CLDR patterns."""
    if value is None:
        return "-"
    if pattern in _PATTERNS:  # the common ones without Babel's (slower) formatter
        return value.astimezone(_zone(current_app.config["TIMEZONE"])).strftime(_PATTERNS[pattern])
    return str(format_datetime(value, pattern))


def name_of(obj: Any) -> str:
    """``name_zh`` or ``name_en`` of a catalogue or station object, by language."""
    if obj is None:
        return "-"
    return str(obj.name_zh if current_language() == "zh" else obj.name_en)


def init_i18n(app: Flask) -> None:
    """Flask-Babel (locale and time zone) and the template helpers."""
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["TIMEZONE"])
    Babel(app, locale_selector=current_language, timezone_selector=lambda: current_app.config["TIMEZONE"])
    app.jinja_env.globals.update(_=gettext, lang=current_language, status_label=status_label,
                                 worker_status_label=worker_status_label, name_of=name_of,
                                 worker_colours=WORKER_COLOURS)
    app.jinja_env.globals["now"] = utcnow
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["mask_phone"] = mask_phone
