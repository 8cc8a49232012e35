"""Call-load benchmark through the sandbox: the same menu in pure dialplan and over FastAGI.

Each simulated call comes in over SIP from the simulated carrier (both legs in one Asterisk),
hears a prompt, presses a digit (RFC 4733), hears it said back and stays about 30 s; calls start at
a steady rate until the wanted number are up.  Menu 1001 is pure dialplan, menu 1002 the same
steps as a FastAGI route served by the project's FastAGI server (``agi_scripts.server``).  A call
counts as completed when the hotline side reached the end of the menu with the digit
(``UserEvent(BenchDone)``).  CPU is Asterisk's (user+system) over the phase, in % of one core.

``python -m bench.calls [--sizes 200,400] [--rate 22] [--hold 30]`` prints the figures;
``run()`` returns them as a :class:`bench.common.Result` for ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import Result
from hotline.config import Settings, load_settings
from hotline.sandbox.runner import Sandbox
from hotline.simulator.ami import Message
from hotline.simulator.calls import Simulator
from hotline.simulator.script import dtmf, wait

MENUS = {"dialplan": "1001", "agi": "1002"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    """The figures of one menu at one size."""

    menu: str
    size: int
    started: int = 0
    answered: int = 0
    completed: int = 0
    failed: int = 0
    peak_channels: int = 0
    seconds: float = 0.0
    asterisk_cpu_percent: float = 0.0
    bench_cpu_percent: float = 0.0
    start_rate: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


def bench_settings(data_dir: Path) -> Settings:
    """Settings of the benchmark's own sandbox instance (ports apart from the default ones)."""
    return load_settings(environ={}, overrides={
        "data_dir": data_dir, "asterisk_instance": f"bench-{os.getpid()}", "sip_port": 25060,
        "sim_port": 25062, "ami_port": 25038, "agi_port": 24573, "agent_seats": 0,
    })


def _bench_route(call) -> None:  # type: ignore[no-untyped-def]
    """The benchmark menu as a FastAGI route (same steps as context bench-hotline, 1001)."""
    session = call.session
    result, _ = session.command("STREAM FILE", "beep", "0123456789")
    digit = chr(int(result)) if result.isdigit() and int(result) > 0 else ""
    if not digit:
        result, _ = session.command("WAIT FOR DIGIT", 10000)
        digit = chr(int(result)) if result.isdigit() and int(result) > 0 else ""
    if digit:
        session.command("SAY DIGITS", digit, "")
        session.command("EXEC", "Wait", "25")
        session.command("SET VARIABLE", "BENCH_DIGIT", digit)


def _cpu_seconds(pid: int) -> float:
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / CLOCK_TICKS


def _channels(simulator: Simulator) -> int:
    output = simulator.ami.command("core show channels count")
    for line in output.splitlines():
        if "active channel" in line:
            return int(line.split()[0])
    return 0


def _wait_idle(simulator: Simulator, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while _channels(simulator) and time.monotonic() < deadline:
        time.sleep(1)


def load_phase(simulator: Simulator, sandbox: Sandbox, menu: str, size: int, rate: float,
               hold: float) -> Phase:
    """Start ``size`` calls at ``rate`` per second into ``menu`` and wait until they are over."""
    phase = Phase(menu=menu, size=size)
    lock = threading.Lock()
    counts = {"BenchDone": 0, "BenchFailed": 0, "SimAnswered": 0}

    def on_event(event: Message) -> None:
        name = event.get("UserEvent", "")
        if name in counts and (not name.startswith("Bench") or event.get("Menu") == menu):
            with lock:
                counts[name] += 1

    unsubscribe = simulator.ami.subscribe(on_event)
    pid = sandbox.pid()
    assert pid is not None
    cpu_before, bench_before, started = _cpu_seconds(pid), time.process_time(), time.monotonic()
    pending = []
    steps = [wait(1.5), dtmf("5")]
    for n in range(size):
        pending.append(simulator.start_call(number=MENUS[menu], caller=f"1390000{n:04d}",
                                            trunk="to-hotline-bench", steps=steps, hold=max(hold, 28) + 15,
                                            ring=30, timeout=hold + 60))
        if n % 25 == 0:
            phase.peak_channels = max(phase.peak_channels, _channels(simulator))
        delay = started + (n + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    phase.start_rate = round(size / (time.monotonic() - started), 1)
    deadline = time.monotonic() + hold + 60
    while time.monotonic() < deadline:
        with lock:
            if counts["BenchDone"] + counts["BenchFailed"] >= size:
                break
        phase.peak_channels = max(phase.peak_channels, _channels(simulator))
        time.sleep(2)
    phase.seconds = round(time.monotonic() - started, 1)
    phase.asterisk_cpu_percent = round(100 * (_cpu_seconds(pid) - cpu_before) / phase.seconds, 1)
    phase.bench_cpu_percent = round(100 * (time.process_time() - bench_before) / phase.seconds, 1)
    for call in pending:
        call.result(timeout=0.01)
    unsubscribe()
    _wait_idle(simulator)
    phase.started, phase.completed, phase.failed = size, counts["BenchDone"], counts["BenchFailed"]
    phase.answered = counts["SimAnswered"]
    phase.counts = dict(counts)
    return phase


def run_phases(sizes: tuple[int, ...] = (200, 400), rate: float = 22.0, hold: float = 30.0,
               settings: Settings | None = None) -> list[Phase]:
    """Start a sandbox of its own and the project's FastAGI server, run every phase, stop."""
    from agi_scripts.server import FastAgiServer, serve_in_thread

    with tempfile.TemporaryDirectory(prefix="bench-calls-") as data_dir:
        settings = settings or bench_settings(Path(data_dir))
        sandbox = Sandbox(settings)
        server = FastAgiServer((settings.agi_host, settings.agi_port), {"bench": _bench_route})
        thread = serve_in_thread(server)
        try:
            sandbox.start(progress=lambda line: None)
            simulator = Simulator.connect(sandbox, events="user")
            try:
                return [load_phase(simulator, sandbox, menu, size, rate, hold)
                        for size in sizes for menu in MENUS]
            finally:
                simulator.close()
        finally:
            sandbox.stop()
            sandbox.remove_instance()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def run(sizes: tuple[int, ...] = (200, 400), rate: float = 22.0, hold: float = 30.0,
        settings: Settings | None = None) -> Result:
    """The benchmark as a BENCHMARKS.md section."""
    phases = run_phases(sizes, rate, hold, settings)
    result = Result(
        name="calls", title="Call load through the sandbox Asterisk: pure dialplan vs FastAGI",
        method=(f"Sizes {', '.join(map(str, sizes))} concurrent calls started at ~{rate:g}/s over SIP "
                "from the simulated carrier into the sandbox Asterisk 22 (both legs in the same Asterisk: "
                "4 channels per call). Each call: prompt, one RFC 4733 digit after 1.5 s, digit said back, "
                "held 25 s (~30 s per call). Menu 1001 is pure dialplan; 1002 is the same steps as a "
                "FastAGI route on the project's FastAGI server, in the same run. Completed = the hotline "
                "side reached the end of the menu with the digit. CPU: Asterisk process, % of one core over "
                "the phase; bench process (FastAGI server + simulator) likewise."),
        headers=["calls", "menu", "start rate/s", "answered", "completed", "completed %", "peak channels",
                 "Asterisk CPU %", "bench CPU %", "phase s"],
    )
    by_size: dict[int, dict[str, Phase]] = {}
    for phase in phases:
        by_size.setdefault(phase.size, {})[phase.menu] = phase
        result.rows.append([str(phase.size), phase.menu, f"{phase.start_rate:g}", str(phase.answered),
                            str(phase.completed), f"{100 * phase.completed / phase.size:.1f}",
                            str(phase.peak_channels), f"{phase.asterisk_cpu_percent:g}",
                            f"{phase.bench_cpu_percent:g}", f"{phase.seconds:g}"])
    for size, menus in by_size.items():
        if "dialplan" in menus and "agi" in menus and menus["dialplan"].completed:
            ratio = menus["agi"].completed / menus["dialplan"].completed
            result.notes.append(f"{size} calls: FastAGI/dialplan completed ratio {ratio:.3f}")
    return result


def main() -> None:
    """Command line: run and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,400", help="comma-separated concurrent call counts")
    parser.add_argument("--rate", type=float, default=22.0, help="new calls per second")
    parser.add_argument("--hold", type=float, default=30.0,
                        help="seconds a caller stays at most (the menus themselves last ~28 s)")
    args = parser.parse_args()
    result = run(tuple(int(s) for s in args.sizes.split(",")), args.rate, args.hold)
    print(result.text())


if __name__ == "__main__":
    main()
