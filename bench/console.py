"""Console benchmark: dispatch ranking, and 50 simulated agents against one ``hotline web``.

1. Ranking: the ranked candidate list of a ticket (skill, distance, status, stars/points, load,
   coverage) over the full demo provider set (480 companies, ~2,000 workers), per request p50/p99.
2. Load: ``hotline web`` runs as its own server (waitress), once per serving configuration
   (``servings``, processes x threads: one process of 16 threads, and ``--workers 4`` of 4
   threads each sharing the port); 50 agent threads each log in and then do what the workspace
   page does: every 1.5 s one live poll carrying the versions of the parts it shows (state,
   waiting calls, waiting / my / providers' tickets: 204 when none changed, else the changed
   parts), the screen-pop post when the poll announces one; and every third poll a round of
   claim a ticket, open it, read its candidates, dispatch it and reopen the workspace.  The
   agents log in first (timed as "login": password hashing, 50 at once); the shift starts when
   all of them are in.  "lockstep": every agent's round falls on its 3rd, 6th, ... poll, so all
   50 rounds (250 of the heaviest requests) come within the same 1.5 s every 4.5 s; "spread":
   each agent starts its rounds at a random one of its first three polls (the same work per
   agent, not all at once, as real agents work).  Each run gets its own fresh database.
   p95 latency per kind of request and errors (any non-2xx/3xx answer or failed request); for
   the shift, the server's CPU (all its processes, % of one core), the load generator's CPU and
   how busy the whole machine was (both cores, whatever else ran), with the load average before.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import select

from bench.claims import bench_database
from bench.common import Result, percentile
from callcenter.candidates import ranked_candidates
from callcenter.scope import StationTree
from models import make_engine, make_session_factory
from models.entities import Station, SubService, User, Worker
from models.enums import Channel, Role, WorkerStatus
from models.schema import upgrade_to_head
from models.seed import seed_all
from models.tickets import TicketRequest, open_ticket
from models.users import hash_password

PASSWORD = "bench-password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LEASE = re.compile(r'name="lease_token" value="([^"]+)"')
WORKER = re.compile(r'name="worker_id" value="(\d+)"')
VERSION = re.compile(r'id="v-(\w+)" name="v_\w+" value="([^"]*)"')
POLL_SECONDS = 1.5  # the console's POLL_SECONDS default


def prepare(url: str, agents: int, tickets_per_agent: int) -> tuple[list[int], dict[str, list[int]]]:
    """Seed 480 companies, ``agents`` agent accounts and their tickets; returns sub-services and tickets."""
    engine = make_engine(url)
    upgrade_to_head(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        seed_all(session, companies=480)
        session.query(Worker).filter(Worker.status == WorkerStatus.OFF_DUTY).update({"status": WorkerStatus.IDLE})
        city = session.scalars(select(Station).where(Station.code == "PH")).one()
        communities = list(session.scalars(select(Station.id).where(Station.level == "community")))
        subs = list(session.scalars(select(SubService).where(SubService.needs_provider.is_(True))))
        shared = hash_password(PASSWORD)
        tickets: dict[str, list[int]] = {}
        rng = random.Random(7)
        for index in range(agents):
            name = f"bench{index:02d}"
            session.add(User(username=name, password_hash=shared, display_name=name, role=Role.AGENT,
                             station_id=city.id))
            tickets[name] = [open_ticket(session, TicketRequest(
                channel=Channel.PHONE, sub_service_code=rng.choice(subs).code, station_id=rng.choice(communities),
                description="bench"), actor="bench").id for _ in range(tickets_per_agent)]
        sub_ids = [s.id for s in subs]
    engine.dispose()
    return sub_ids, tickets


def bench_ranking(url: str, requests_count: int = 400) -> tuple[float, float, int]:
    """p50 and p99 (ms) of one ranked candidate list, and the number of workers."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    timings: list[float] = []
    with sessions() as session:
        tree = StationTree.load(session)
        workers = session.query(Worker).count()
        stations = [s.id for s in tree.communities()]
        subs = list(session.scalars(select(SubService.id).where(SubService.needs_provider.is_(True))))
        rng = random.Random(1)
        from models.entities import Ticket

        for _ in range(requests_count):
            ticket = Ticket(id=0, sub_service_id=rng.choice(subs), station_id=rng.choice(stations), lat=None,
                            lon=None)
            started = time.perf_counter()
            ranked_candidates(session, ticket, tree)
            timings.append((time.perf_counter() - started) * 1000)
            session.rollback()
    engine.dispose()
    return percentile(timings, 50), percentile(timings, 99), workers


class Agent(threading.Thread):
    """One simulated agent: live-list polling and claim → open → candidates → dispatch."""

    def __init__(self, base: str, username: str, tickets: list[int], seconds: float, start: threading.Barrier,
                 timings: dict[str, list[float]], errors: list[str], lockstep: bool = True) -> None:
        super().__init__(daemon=True)
        self.lockstep = lockstep
        self.base, self.username, self.tickets = base, username, tickets
        self.seconds, self.start_together = seconds, start
        self.timings, self.errors = timings, errors
        self.http = requests.Session()
        self.csrf = ""
        self.versions: dict[str, str] = {}

    def call(self, kind: str, method: str, path: str, **kwargs: object) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = self.http.request(method, self.base + path, timeout=10, allow_redirects=False,
                                         **kwargs)  # type: ignore[arg-type]
        except requests.RequestException as exc:
            self.errors.append(f"{kind}: {exc}")
            return None
        self.timings[kind].append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            self.errors.append(f"{kind}: HTTP {response.status_code}")
        return response

    def login(self) -> None:
        page = self.http.get(self.base + "/login", timeout=10).text
        self.csrf = CSRF.search(page).group(1)  # type: ignore[union-attr]
        self.call("login", "POST", "/login", data={"csrf_token": self.csrf, "username": self.username,
                                                  "password": PASSWORD})
        self.open_workspace("login")
        self.http.headers["X-CSRFToken"] = self.csrf

    def open_workspace(self, kind: str = "workspace") -> None:
        """Load the workspace page as a browser does: its CSRF token and the versions it shows."""
        page = self.call(kind, "GET", "/agent")
        if page is None:
            return
        self.csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        self.versions = dict(VERSION.findall(page.text))

    def poll(self) -> None:
        """What the workspace page does every POLL_SECONDS: one live poll with the versions it shows
        (every part: state, waiting calls, the three ticket lists), and the screen-pop post when
        the poll announces one."""
        response = self.call("live poll", "GET", "/agent/live", headers={"HX-Request": "true"},
                             params={f"v_{name}": value for name, value in self.versions.items()})
        if response is None:
            return
        if response.status_code == 200:
            self.versions.update(VERSION.findall(response.text))
        if response.headers.get("HX-Trigger") == "hotline-pop":
            self.call("screen pop", "POST", "/agent/pop")

    def dispatch_one(self) -> None:
        if not self.tickets:
            return
        ticket_id = self.tickets.pop()
        self.call("claim", "POST", f"/tickets/{ticket_id}/claim")
        page = self.call("ticket page", "GET", f"/tickets/{ticket_id}")
        found = LEASE.search(page.text) if page is not None else None
        if found is None:
            self.errors.append("ticket page: no lease token")
            return
        fragment = self.call("candidates", "GET", f"/tickets/{ticket_id}/candidates",
                             params={"lease_token": found.group(1)})
        worker = WORKER.search(fragment.text) if fragment is not None else None
        if worker is None:
            return  # no candidate for this service: nothing to dispatch
        self.call("dispatch", "POST", f"/tickets/{ticket_id}/dispatch",
                  data={"lease_token": found.group(1), "worker_id": worker.group(1)})
        self.open_workspace()  # the dispatch redirects to the ticket; the agent goes back to the workspace

    def run(self) -> None:
        try:
            self.login()
        except Exception as exc:  # counted as an error
            self.errors.append(f"login: {exc}")
            self.start_together.abort()
            return
        try:
            self.start_together.wait(timeout=120)  # the shift starts when everyone is logged in
        except threading.BrokenBarrierError:
            return
        until = time.monotonic() + self.seconds
        rng = random.Random(self.username)
        time.sleep(rng.random() * POLL_SECONDS)
        # In lockstep every agent's claim-to-dispatch round falls on its 3rd, 6th, ... poll: all 50
        # within the same 1.5 s.  Otherwise each agent starts at a random one of its first three polls.
        cycle = 0 if self.lockstep else rng.randrange(3)
        while time.monotonic() < until:
            started = time.monotonic()
            self.poll()
            cycle += 1
            if cycle % 3 == 0:
                self.dispatch_one()
            time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))


@dataclass(frozen=True)
class Serving:
    """How ``hotline web`` serves: processes (``--workers``) x threads (``web_threads``)."""

    workers: int
    threads: int

    def label(self) -> str:
        """E.g. ``2 x 8``: processes x threads."""
        return f"{self.workers} x {self.threads}"


def start_web(url: str, data_dir: Path, serving: Serving) -> tuple[subprocess.Popen[str], str]:
    """``hotline web`` on a free port; returns the process and its address."""
    command = [str(Path(sys.executable).with_name("hotline")), "--data-dir", str(data_dir), "--database-url", url,
               "--set", "web_ami=false", "--set", "web_offer_sweep_seconds=0",
               "--set", f"web_threads={serving.threads}", "web", "--port", "0", "--workers", str(serving.workers)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("console: "):
            return process, line.split(" ", 1)[1].strip().rstrip("/")
    raise RuntimeError("hotline web did not start")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (the workers), from /proc."""
    def own(one: int) -> float:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(k) for k in children.read_text().split()] if children.exists() else []
    return own(pid) + sum(own(k) for k in kids)


def machine_ticks() -> tuple[int, int]:
    """(all, idle) CPU ticks of the machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values), values[3] + values[4]


def process_times() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds so far (from /proc; processes that vanish are skipped)."""
    found: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        found[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return found


def others_busy(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], ours: set[int],
                wall: float) -> str:
    """The processes besides the benchmark and its server that used CPU during the run, busiest first."""
    used: dict[str, float] = defaultdict(float)
    for pid, (name, seconds) in after.items():
        if pid in ours:
            continue
        used[name] += seconds - before.get(pid, (name, 0.0))[1]
    busiest = sorted(((v, k) for k, v in used.items() if v / wall >= 0.01), reverse=True)[:5]
    return ", ".join(f"{name} {100 * seconds / wall:.0f}%" for seconds, name in busiest) or "nothing over 1%"


@dataclass
class Load:
    """What one load run measured."""

    timings: dict[str, list[float]]
    errors: list[str]
    server_cpu_percent: float
    client_cpu_percent: float
    machine_busy_percent: float
    load_average: float
    others: str = ""  # what else used the CPU during the run (postgres: the database's backends)


def bench_load(url: str, tickets: dict[str, list[int]], seconds: float, serving: Serving = Serving(1, 16),
               lockstep: bool = True) -> Load:
    """Run the simulated agents for ``seconds`` against one ``hotline web``."""
    with tempfile.TemporaryDirectory() as folder:
        load_average = os.getloadavg()[0]
        process, base = start_web(url, Path(folder), serving)
        try:
            timings: dict[str, list[float]] = defaultdict(list)
            errors: list[str] = []
            start = threading.Barrier(len(tickets) + 1)
            agents = [Agent(base, name, list(ids), seconds, start, timings, errors, lockstep)
                      for name, ids in tickets.items()]
            for agent in agents:
                agent.start()
            with contextlib.suppress(threading.BrokenBarrierError):
                start.wait(timeout=180)  # everyone logged in: the shift starts
            server0, client0, machine0, wall0 = process_cpu_seconds(process.pid), time.process_time(), \
                machine_ticks(), time.monotonic()
            everyone0 = process_times()
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
            ours = {os.getpid(), process.pid, *(int(k) for k in children.read_text().split())}
            for agent in agents:
                agent.join()
            wall = time.monotonic() - wall0
            server1, client1, machine1 = process_cpu_seconds(process.pid), time.process_time(), machine_ticks()
            others = others_busy(everyone0, process_times(), ours, wall)
            busy = 1 - (machine1[1] - machine0[1]) / max(1, machine1[0] - machine0[0])
            return Load(timings, errors, 100 * (server1 - server0) / wall, 100 * (client1 - client0) / wall,
                        100 * busy, load_average, others)
        finally:
            process.terminate()
            process.wait(timeout=30)


SERVINGS = (Serving(1, 16), Serving(4, 4))
ROUNDS = ("lockstep", "spread")


def run(backends: tuple[str, ...] = ("sqlite", "postgresql"), agents: int = 50, seconds: float = 20.0,
        servings: tuple[str, ...] = tuple(s.label() for s in SERVINGS), rounds: tuple[str, ...] = ROUNDS) -> Result:
    """Both parts on each backend, the load once per serving configuration and kind of rounds.

    ``servings``: ``"processes x threads"`` labels, e.g. ``--set servings=1x16,2x8,4x4``;
    ``rounds``: ``lockstep`` and/or ``spread``.
    """
    chosen = [Serving(*(int(n) for n in label.replace(" ", "").split("x"))) for label in servings]
    unknown = set(rounds) - set(ROUNDS)
    if unknown:
        raise ValueError(f"rounds: {sorted(unknown)}; choose from {', '.join(ROUNDS)}")
    result = Result(
        name="console", title=f"Console: dispatch ranking and {agents} concurrent agents",
        method=(__doc__ or "").split("\n\n", 1)[1].strip(),
        headers=["backend", "serving", "rounds", "measure", "requests", "p50 ms", "p95 ms", "p99 ms", "errors"])
    for backend in backends:
        with bench_database(backend) as url:
            prepare(url, agents, tickets_per_agent=2)
            p50, p99, workers = bench_ranking(url)
        result.rows.append([backend, "-", "-", f"ranking ({workers} workers)", "400", f"{p50:.2f}", "-",
                            f"{p99:.2f}", "0"])
        for serving in chosen:
            for kind in rounds:
                with bench_database(backend) as url:
                    _subs, tickets = prepare(url, agents, tickets_per_agent=max(4, int(seconds / 4.5) + 2))
                    load = bench_load(url, tickets, seconds, serving, lockstep=kind == "lockstep")
                _load_rows(result, backend, serving, kind, load, agents, seconds)
    result.notes.append("The load generator runs on the same machine as the server (2 cores shared); other "
                        "sessions' tests may be running too: see each run's machine figures.")
    return result


def _load_rows(result: Result, backend: str, serving: Serving, kind: str, load: Load, agents: int,
               seconds: float) -> None:
    timings, errors = load.timings, load.errors
    everything = [t for name, values in timings.items() if name != "login" for t in values]
    for name in sorted(timings):
        values = timings[name]
        result.rows.append([backend, serving.label(), kind, name, str(len(values)), f"{percentile(values, 50):.1f}",
                            f"{percentile(values, 95):.1f}", f"{percentile(values, 99):.1f}",
                            str(sum(1 for e in errors if e.startswith(name + ":")))])
    result.rows.append([backend, serving.label(), kind, f"all but login ({agents} agents, {seconds:.0f} s)",
                        str(len(everything)), f"{percentile(everything, 50):.1f}",
                        f"{percentile(everything, 95):.1f}", f"{percentile(everything, 99):.1f}", str(len(errors))])
    result.notes.append(
        f"{backend}, {serving.label()}, {kind}: server CPU {load.server_cpu_percent:.0f}% of one core, load "
        f"generator {load.client_cpu_percent:.0f}%, machine {load.machine_busy_percent:.0f}% busy (both cores), "
        f"load average {load.load_average:.2f} before the run; other processes' CPU (% of one core): {load.others}")
    if errors:
        result.notes.append(f"{backend}, {serving.label()}, {kind}: first errors: {errors[:3]}")


if __name__ == "__main__":
    print(run().text())
