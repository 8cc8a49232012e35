"""Shared benchmark helpers: percentiles, machine description, BENCHMARKS.md sections."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
PG_BENCH_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass
class Result:
    """One benchmark's outcome: a title, a method paragraph and rows of figures."""

    name: str
    title: str
    method: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """The section of BENCHMARKS.md for this result."""
        lines = [f"<!-- bench:{self.name} -->", f"## {self.title}", "", f"*{machine()} — {today()}*", "",
                 self.method, "", "| " + " | ".join(self.headers) + " |",
                 "|" + "|".join("---" for _ in self.headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines += [""] + [f"- {note}" for note in self.notes]
        lines.append(f"<!-- /bench:{self.name} -->")
        return "\n".join(lines)

    def text(self) -> str:
        """The figures for a terminal."""
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) for i, h in enumerate(self.headers)]
        out = [self.title, "  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True))]
        out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in self.rows]
        return "\n".join(out + self.notes)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, min(998, round(q * 10) - 1))]


def machine() -> str:
    """A one-line description of this machine."""
    cpu = platform.processor() or "unknown CPU"
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"model name\s*:\s*(.+)", text)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    try:
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        memory = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        memory = "? GiB"
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, {memory}, " \
           f"Python {platform.python_version()}"


def today() -> str:
    """The date of the run (UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_section(result: Result, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or add) this benchmark's section in BENCHMARKS.md, keeping the others."""
    header = "# Benchmarks\n\nFigures written by `python -m bench.run NAME` (see `bench/`); each section " \
             "says the machine and date of its run.\n"
    text = path.read_text(encoding="utf-8") if path.exists() else header
    pattern = re.compile(rf"<!-- bench:{re.escape(result.name)} -->.*?<!-- /bench:{re.escape(result.name)} -->",
                         re.DOTALL)
    section = result.markdown()
    text = pattern.sub(lambda _m: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
