"""Reading the call log's query string into typed filters; a malformed value is a 400 naming it."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from flask import current_app, request
from flask_login import current_user

from models.calllog import CallFilters, Sort, day_bounds, normalise_number, parse_sort
from models.enums import CallOutcome
from models.errors import ValidationError

QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")


def zone() -> ZoneInfo:
    """The console's time zone (Asia/Shanghai)."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def _arg(name: str, max_length: int = 64) -> str | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    if len(value) > max_length:
        raise ValidationError(f"{name}: too long")
    return value


def int_arg(name: str, max_length: int = 9) -> int | None:
    """A whole number from the query string, or None when absent."""
    value = _arg(name, max_length)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise ValidationError(f"{name}: a whole number is required")
    return int(value)


def local_instant(name: str, *, end: bool = False) -> dt.datetime | None:
    """``YYYY-MM-DD`` (a whole local day; as an end, the day is included) or ``YYYY-MM-DDTHH:MM``."""
    value = _arg(name, 16)
    if value is None:
        return None
    try:
        if DATE.match(value):
            start, next_day = day_bounds(dt.date.fromisoformat(value), zone())
            return next_day if end else start
        if DATETIME.match(value):
            return dt.datetime.fromisoformat(value).replace(tzinfo=zone()).astimezone(dt.UTC)
    except ValueError:
        pass
    raise ValidationError(f"{name}: a date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM) is required")


def outcome_arg() -> CallOutcome | None:
    """A call outcome by its value."""
    value = _arg("outcome", 24)
    if value is None:
        return None
    try:
        return CallOutcome(value)
    except ValueError:
        raise ValidationError("outcome: not a call outcome") from None


def queue_arg() -> str | None:
    """A queue name (letters, digits, - and _ only)."""
    value = _arg("queue", 32)
    if value is not None and not QUEUE_NAME.match(value):
        raise ValidationError("queue: not a queue name")
    return value


def call_filters() -> CallFilters:
    """The request's filters, scoped to the account's stations."""
    number = _arg("number", 32)
    return CallFilters(
        start=local_instant("from"), end=local_instant("to", end=True),
        number=normalise_number(number, current_app.config["PHONE_REGION"]) if number else None,
        agent_id=int_arg("agent"), queue=queue_arg(), category_id=int_arg("category"), outcome=outcome_arg(),
        min_wait=int_arg("min_wait", 5), max_wait=int_arg("max_wait", 5), scope=current_user.scope,
    )


def call_sort() -> Sort:
    """The request's sort (allow-listed keys only)."""
    return parse_sort(_arg("sort", 16))


def page_limit(default: int = 50) -> int:
    """Rows per page."""
    return int_arg("limit", 3) or default


FILTER_ARGS = ("from", "to", "number", "agent", "queue", "category", "outcome", "min_wait", "max_wait", "sort")


def filter_args() -> dict[str, str]:
    """The filter values of the request, to carry into the next page's and the export's links."""
    return {name: request.args[name] for name in FILTER_ARGS if request.args.get(name)}
