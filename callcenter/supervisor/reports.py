"""Reports by period and dimension: a page that builds month by month with a progress bar, chunk
JSON for it, and the whole report as a CSV download (built and streamed chunk by chunk)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

from flask import Response, render_template, request, stream_with_context, url_for
from flask_login import current_user

from callcenter.db import db
from callcenter.i18n import current_language
from callcenter.supervisor import bp
from callcenter.supervisor.audit import audit
from callcenter.supervisor.export import neutralise_cell
from callcenter.supervisor.filters import zone
from models.errors import ValidationError
from models.reports import Dimension, Period, ReportLine, build_chunk, build_report, key_labels, report_chunks

CSV_COLUMNS = ("period", "key", "name", "volume", "sla_met_percent", "satisfaction", "repeat_calls")


def _choice(name: str, kind: type[Period] | type[Dimension], default: str) -> Any:
    value = request.args.get(name) or default
    try:
        return kind(value)
    except ValueError:
        raise ValidationError(f"{name}: one of {', '.join(m.value for m in kind)}") from None


def _day(name: str, default: dt.date) -> dt.date:
    value = request.args.get(name)
    if not value:
        return default
    try:
        if len(value) != 10:
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name}: a date (YYYY-MM-DD) is required") from None


def report_request() -> tuple[Period, Dimension, dt.date, dt.date]:
    """The report asked for: period, dimension, first and last day (default: the last 30 days)."""
    today = dt.datetime.now(zone()).date()
    first = _day("from", today - dt.timedelta(days=30))
    last = _day("to", today)
    report_chunks(first, last)  # validates the range
    return (_choice("period", Period, "daily"), _choice("by", Dimension, "category"), first, last)


@bp.get("/reports")
def reports_page() -> str:
    """The report form; the chosen report builds chunk by chunk in the page with a progress bar."""
    period, dimension, first, last = report_request()
    chunks = [{"url": url_for("supervisor.report_chunk", period=period.value, by=dimension.value,
                              **{"from": a.isoformat(), "to": b.isoformat()})}
              for a, b in report_chunks(first, last)] if request.args.get("build") else []
    if chunks:
        audit("report", detail={"period": period, "by": dimension, "from": first, "to": last})
    return render_template("supervisor/reports.html", period=period, dimension=dimension, first=first, last=last,
                           chunks=chunks, periods=list(Period), dimensions=list(Dimension),
                           labels=key_labels(db(), dimension, current_language()) if chunks else {})


@bp.get("/reports/chunk")
def report_chunk() -> dict[str, Any]:
    """One month's additive sums per (period, key), for the page to merge."""
    period, dimension, first, last = report_request()
    if len(report_chunks(first, last)) != 1:
        raise ValidationError("range: a chunk is at most one calendar month")
    cells = build_chunk(db(), first=first, last=last, period=period, dimension=dimension, zone=zone(),
                        scope=current_user.scope)
    return {"cells": [{"period": p, "key": k, **c.as_dict()} for (p, k), c in sorted(cells.items(),
                                                                                   key=lambda i: (i[0][0],
                                                                                                  str(i[0][1])))]}


def _csv_text(lines: list[ReportLine]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        cell = line.cell
        writer.writerow([neutralise_cell(v) for v in (line.period, line.key, line.label, cell.volume,
                                                       cell.sla_percent, cell.satisfaction, cell.repeats)])
    yield buffer.getvalue()


@bp.get("/reports/download.csv")
def report_download() -> Response:
    """The report as a CSV file."""
    period, dimension, first, last = report_request()
    audit("report_download", detail={"period": period, "by": dimension, "from": first, "to": last})

    def body() -> Iterator[str]:
        lines: list[ReportLine] = []
        for progress in build_report(db(), first=first, last=last, period=period, dimension=dimension,
                                     zone=zone(), scope=current_user.scope, language=current_language()):
            lines = progress[2]
        yield from _csv_text(lines)

    name = f"report-{period.value}-{dimension.value}-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(stream_with_context(body()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
