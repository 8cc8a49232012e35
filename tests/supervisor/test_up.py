"""``hotline up`` as a user runs it: the demo history on the first start only, and the AMI
call-record listener among the processes it runs (a real subprocess on a temporary data dir; the
parts that need the sandbox Asterisk are left out here, the listener then keeps retrying)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from hotline.commands.up import DEMO_CALLS, SERVICES, SETUP_STEPS, Step, _step_args

WITHOUT = ("--without", "asterisk", "--without", "prompts", "--without", "agi", "--without", "web",
           "--without", "scheduler")


def _calls_in(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "hotline.db") as conn:
        return int(conn.execute("SELECT count(*) FROM calls").fetchone()[0])


def _run_up(data_dir: Path, *extra: str) -> tuple[str, int]:
    """Start ``hotline up``, wait until it runs, stop it with Ctrl-C; its output and exit code."""
    process = subprocess.Popen([sys.executable, "-m", "hotline.cli", "--data-dir", str(data_dir), "up", *WITHOUT,
                                *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "hotline is running" in line:
                time.sleep(1.0)  # the listener is up and trying to reach AMI
                process.send_signal(signal.SIGINT)
                break
        lines += process.stdout.readlines()  # to the end (communicate() would skip what is buffered)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return "".join(lines), process.returncode


def test_up_runs_the_call_record_listener_and_loads_a_demo_history_once(tmp_path: Path) -> None:
    assert Service_names() >= {"agi", "web", "scheduler", "calls"}
    first, code = _run_up(tmp_path, "--demo-calls", "300")
    assert code == 0, first
    assert "demo history" in first and "hotline is running: calls" in first, first
    assert "call records: listening to AMI" in first, first
    loaded = _calls_in(tmp_path)
    assert 200 <= loaded <= 300  # phone requests among the 300 (the rest came in online)
    second, code = _run_up(tmp_path, "--demo-calls", "300")
    assert code == 0 and "already has calls" in second, second
    assert _calls_in(tmp_path) == loaded


def test_up_refuses_a_bad_demo_size_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hotline.cli", "--data-dir", str(tmp_path), "up",
                             "--demo-calls", "0"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "--demo-calls" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "hotline.cli", "--data-dir", str(tmp_path), "up",
                             "--without", "everything"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_the_demo_step_gets_its_size() -> None:
    demo = next(step for step in SETUP_STEPS if step.args[0] == "demo-data")
    assert _step_args(demo, DEMO_CALLS) == ("demo-data", "--if-empty", "--calls", "20000")
    other = Step("x", ("db", "seed"))
    assert _step_args(other, 5) == ("db", "seed")


def Service_names() -> set[str]:
    return {service.name for service in SERVICES}
