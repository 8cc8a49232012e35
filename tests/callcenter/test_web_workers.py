"""``hotline web --workers N``: several processes on one port, one database, one login.

The real command runs (waitress, forked workers sharing the listening socket).  A login made
through one connection works on every other (the session rows are in the database), a worker
killed by the system is replaced while the others keep serving, logout is seen by all, and
SIGTERM stops them all.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from models.seed import DEMO_PASSWORD
from tests.plugins.db import Database

HOTLINE = str(Path(sys.executable).with_name("hotline"))
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _wait_for(check, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def served(db: Database, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """``hotline web --workers 2`` over the test database; the process, its address and its first lines."""
    command = [HOTLINE, "--data-dir", str(tmp_path), "--database-url", db.url, "--set", "web_ami=false",
               "--set", "web_offer_sweep_seconds=0", "--set", "web_threads=4", "web", "--port", "0",
               "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    base = ""
    for line in process.stdout:
        lines.append(line.strip())
        if line.startswith("console: "):
            base = line.split(" ", 1)[1].strip().rstrip("/")
        if line.startswith("demo logins"):
            break
    try:
        assert base, lines
        assert _wait_for(lambda: len(_children(process.pid)) == 2)
        yield process, base, lines
    finally:
        if process.poll() is None:
            process.kill()
            for child in _children(process.pid):
                os.kill(child, signal.SIGKILL)
        process.wait(timeout=10)


def _login(base: str) -> requests.Session:
    http = requests.Session()
    token = CSRF.search(http.get(f"{base}/login", timeout=10).text).group(1)  # type: ignore[union-attr]
    response = http.post(f"{base}/login", data={"csrf_token": token, "username": "agent01",
                                                "password": DEMO_PASSWORD}, timeout=10, allow_redirects=False)
    assert response.status_code == 302
    return http


def _fresh_get(base: str, path: str, cookies: requests.cookies.RequestsCookieJar) -> int:
    """A GET on a new connection (so any worker may take it)."""
    response = requests.get(f"{base}{path}", cookies=cookies, headers={"Connection": "close"}, timeout=10,
                            allow_redirects=False)
    return response.status_code


def test_workers_share_logins_replace_a_dead_worker_and_stop_together(
        served: tuple[subprocess.Popen[str], str, list[str]]) -> None:
    process, base, lines = served
    assert "serving: 2 processes x 4 threads" in lines
    agent = _login(base)
    assert {_fresh_get(base, "/agent", agent.cookies) for _ in range(12)} == {200}

    victim = _children(process.pid)[0]
    os.kill(victim, signal.SIGKILL)  # a worker dies (after its start-up time it is replaced)
    assert _wait_for(lambda: len(_children(process.pid)) == 2 and victim not in _children(process.pid))
    assert {_fresh_get(base, "/agent", agent.cookies) for _ in range(12)} == {200}

    token = CSRF.search(agent.get(f"{base}/agent", timeout=10).text).group(1)  # type: ignore[union-attr]
    stolen = agent.cookies.copy()
    assert agent.post(f"{base}/logout", data={"csrf_token": token}, timeout=10,
                      allow_redirects=False).status_code == 302
    assert {_fresh_get(base, "/agent", stolen) for _ in range(8)} == {302}  # refused by every worker

    workers = _children(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
               for pid in workers)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=5)


def test_a_worker_count_out_of_range_is_refused(tmp_path: Path) -> None:
    result = subprocess.run([HOTLINE, "--data-dir", str(tmp_path), "web", "--workers", "0"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "between 1 and 64 processes" in result.stderr


def test_a_worker_that_cannot_start_stops_the_server(tmp_path: Path) -> None:
    from hotline.commands.web import Workers, listening_socket
    from hotline.config import Settings

    sock = listening_socket("127.0.0.1", 0)
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        bad = {"SECRET_KEY": "", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}  # create_app refuses it
        started = time.monotonic()
        assert Workers(2, sock, Settings(data_dir=tmp_path), bad).supervise() == 1
        assert time.monotonic() - started < 10
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
        sock.close()


def _deaf_worker(index: int, sock, settings, config) -> None:  # type: ignore[no-untyped-def]
    """A worker that ignores SIGTERM (stuck), as a hung request or library could leave one."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)
    os._exit(0)


def test_a_worker_that_does_not_stop_is_killed_after_the_grace_time(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from hotline.commands import web
    from hotline.config import Settings

    monkeypatch.setattr(web, "_worker", _deaf_worker)
    monkeypatch.setattr(web, "STOP_GRACE_SECONDS", 1.0)
    sock = web.listening_socket("127.0.0.1", 0)
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        workers = web.Workers(2, sock, Settings(data_dir=tmp_path), {})
        threading.Timer(1.0, workers.stop).start()  # as SIGTERM would
        started = time.monotonic()
        assert workers.supervise() == 0
        assert 1.0 < time.monotonic() - started < 10  # not the deaf workers' 60 s
        assert workers.running == {}
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
        sock.close()


def test_only_the_first_worker_turns_agent_events_into_states_and_pops(sqlite_db: Database) -> None:
    from callcenter import create_app
    from callcenter.telephony import EXTENSION, AmiTelephony

    for handles in (True, False):
        app = create_app({"SECRET_KEY": "x", "SESSION_FACTORY": sqlite_db.sessions, "AMI_ENABLED": True,
                          "AMI_AGENT_EVENTS": handles})
        phone = app.extensions[EXTENSION]
        assert isinstance(phone, AmiTelephony)
        assert (phone.monitor.on_agent_event is not None) is handles  # nothing connects until start()
