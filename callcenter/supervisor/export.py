"""CSV and XLSX exports of the call log, streamed in constant memory, safe to open in a spreadsheet.

Every text cell that a spreadsheet would read as a formula (starting with ``= + - @``, TAB or CR) is
prefixed with ``'`` (OWASP's CSV-injection advice), so ``+8613800000001`` stays readable as
``'+8613800000001`` and ``=HYPERLINK(...)`` is shown, never run.  CSV rows are produced one at a
time from a streamed query; XLSX rows go through xlsxwriter's ``constant_memory`` mode into a
temporary file that is then streamed and removed.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import xlsxwriter

from models.calllog import CallRow

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 64 * 1024
COLUMNS = ("call_id", "started", "answered", "ended", "caller_number", "caller_number_raw", "caller_name",
           "queue", "wait_seconds", "talk_seconds", "agent", "outcome", "ticket", "linkedid")


def neutralise_cell(value: object) -> str:
    """A cell's text, prefixed with ``'`` when a spreadsheet would take it for a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def row_values(row: CallRow, local: Callable[[Any], str]) -> list[object]:
    """The export's columns of one call (times in local time, numbers in full)."""
    return [row.id, local(row.started_at), local(row.answered_at), local(row.ended_at), row.caller_number,
            row.caller_number_raw, row.caller_name, row.queue, row.queue_wait_seconds, row.talk_seconds,
            row.agent_name, row.outcome, row.ticket_number, row.linkedid]


def csv_lines(rows: Iterable[CallRow], local: Callable[[Any], str]) -> Iterator[str]:
    """The CSV text (UTF-8 BOM and header first), a few hundred rows per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(COLUMNS)
    for count, row in enumerate(rows, 1):
        writer.writerow([neutralise_cell(v) for v in row_values(row, local)])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def build_xlsx(rows: Iterable[CallRow], local: Callable[[Any], str], folder: str | None = None) -> str:
    """Write the workbook to a temporary file (constant memory) and return its path."""
    handle, path = tempfile.mkstemp(suffix=".xlsx", dir=folder)
    os.close(handle)
    workbook = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": folder or tempfile.gettempdir(),
                                          "strings_to_formulas": False, "strings_to_urls": False,
                                          "strings_to_numbers": False})
    try:
        sheet = workbook.add_worksheet("calls")
        for col, name in enumerate(COLUMNS):
            sheet.write_string(0, col, name)
        for line, row in enumerate(rows, 1):
            for col, value in enumerate(row_values(row, local)):
                if isinstance(value, int) and not isinstance(value, bool):
                    sheet.write_number(line, col, value)
                elif value is not None:
                    sheet.write_string(line, col, neutralise_cell(value))
    finally:
        workbook.close()
    return path


def file_chunks(path: str) -> Iterator[bytes]:
    """A file's bytes in chunks; the file is removed when done (or when the client goes away)."""
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
    finally:
        os.unlink(path)
