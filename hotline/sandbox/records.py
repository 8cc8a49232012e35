"""Read the call records Asterisk writes: queue_log lines and the CDR CSV (cdr_custom.conf)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

# The columns of asterisk_conf/cdr_custom.conf, in order.
CDR_COLUMNS = ("start", "answer", "end", "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp",
               "disposition", "duration", "billsec", "amaflags", "accountcode", "uniqueid", "linkedid",
               "userfield", "peeraccount", "sequence")


@dataclass(frozen=True)
class QueueLogRow:
    """One queue_log line: time|callid|queue|agent|event|data..."""

    time: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]


def read_queue_log(path: Path) -> list[QueueLogRow]:
    """Every row of a queue_log file (missing file: none)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("|")
        if len(parts) >= 5 and parts[0].isdigit():
            rows.append(QueueLogRow(int(parts[0]), parts[1], parts[2], parts[3], parts[4], tuple(parts[5:])))
    return rows


def read_cdr(path: Path) -> list[dict[str, str]]:
    """Every CDR row of the CSV, as dicts keyed by :data:`CDR_COLUMNS` (missing file: none)."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return [dict(zip(CDR_COLUMNS, row, strict=False)) for row in csv.reader(handle)]
