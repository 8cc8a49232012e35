"""Layout and dependency rules of DESIGN.md §3, and lint, checked in every test run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["models", "ivr", "agi_scripts", "callcenter", "hotline"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_import_contracts_hold() -> None:
    result = _run(str(Path(sys.executable).with_name("lint-imports")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_config_module_reads_the_environment() -> None:
    pattern = re.compile(r"os\.environ\[|os\.environ\.get|os\.getenv|getenv\(")  # passing it on to a child is fine
    offenders = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8")) and path.relative_to(ROOT).as_posix() not in {
            "hotline/config.py",
        }
    ]
    assert offenders == [], f"environment read outside hotline/config.py: {offenders}"


def test_only_agi_scripts_imports_pyst2() -> None:
    pattern = re.compile(r"^\s*(from asterisk|import asterisk)\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for package in PACKAGES if package != "agi_scripts"
        for path in (ROOT / package).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


IMPORT_EVERYTHING = """
import importlib, pkgutil, signal, sys, threading
before = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
for name in sys.argv[1:]:
    package = importlib.import_module(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
after = {s: signal.getsignal(s) for s in before}
assert before == after, "a module installed a signal handler at import time"
assert threading.active_count() == 1, [t.name for t in threading.enumerate()]
print("ok")
"""


def test_nothing_runs_at_import_time() -> None:
    result = _run(sys.executable, "-c", IMPORT_EVERYTHING, *PACKAGES)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr
