"""Call log pages: the filtered, keyset-paged list, a call's detail with its timeline, and exports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Response, current_app, render_template, request, stream_with_context
from flask_login import current_user

from callcenter.db import db
from callcenter.supervisor import bp
from callcenter.supervisor.audit import audit
from callcenter.supervisor.export import build_xlsx, csv_lines, file_chunks
from callcenter.supervisor.filters import call_filters, call_sort, filter_args, page_limit, zone
from models.calllog import (
    agents_for_filter,
    call_detail,
    iter_calls,
    queues_for_filter,
    search_calls,
)
from models.catalogue import active_categories
from models.enums import CallOutcome

EXPORT_LIMIT = 1_000_000


def _local_formatter() -> Callable[[dt.datetime | None], str]:
    tz = zone()

    def local(value: dt.datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    return local


@bp.get("/calls")
def call_log() -> str:
    """The call log: filters, one page of calls (newest first by default), the next-page link."""
    filters, sort = call_filters(), call_sort()
    page = search_calls(db(), filters, sort=sort, cursor=request.args.get("cursor") or None, limit=page_limit())
    audit("call_log", detail=filters.described())
    return render_template("supervisor/calls.html", page=page, args=filter_args(),
                           agents=agents_for_filter(db()), queues=queues_for_filter(db()),
                           categories=active_categories(db()), outcomes=[o.value for o in CallOutcome],
                           category_names={c.id: c for c in active_categories(db())})


@bp.get("/calls/<int:call_id>")
def call_page(call_id: int) -> str:
    """One call: who, when, the IVR path, queue and agent, the ticket's timeline, the recording."""
    detail = call_detail(db(), call_id, current_user.scope)
    audit("call_detail", target_id=call_id)
    return render_template("supervisor/call.html", detail=detail)


def _export_name(extension: str) -> str:
    stamp = dt.datetime.now(zone()).strftime("%Y%m%d-%H%M%S")
    return f"calls-{stamp}.{extension}"


@bp.get("/calls/export.csv")
def export_csv() -> Response:
    """The filtered call log as CSV, streamed row by row (formula cells neutralised)."""
    filters, sort = call_filters(), call_sort()
    audit("export_csv", detail=filters.described())
    rows = iter_calls(db(), filters, sort=sort, limit=EXPORT_LIMIT)
    body = stream_with_context(line.encode("utf-8") for line in csv_lines(rows, _local_formatter()))
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{_export_name("csv")}"'})


@bp.get("/calls/export.xlsx")
def export_xlsx() -> Response:
    """The filtered call log as an XLSX workbook (built in constant memory, then streamed)."""
    filters, sort = call_filters(), call_sort()
    audit("export_xlsx", detail=filters.described())
    path = build_xlsx(iter_calls(db(), filters, sort=sort, limit=EXPORT_LIMIT), _local_formatter(),
                      current_app.config.get("EXPORT_TMPDIR"))
    return Response(file_chunks(path),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{_export_name("xlsx")}"'})
