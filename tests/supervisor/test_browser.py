"""Headless Chromium (Debian's package, Playwright): call log and recording playback, wallboard,
the big screen at 1920×1080, and a report built with its progress bar.  Screenshots go to
``test-artifacts/supervisor-*.png``.
"""

from __future__ import annotations

import datetime as dt
import threading
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from models.base import utcnow
from models.calls import record_call_start
from models.entities import Worker
from models.enums import WorkerStatus
from models.history import generate_history
from tests.callcenter.conftest import make_app
from tests.plugins.db import Database
from tests.supervisor.conftest import add_call, sub_service_of

pytestmark = pytest.mark.browser
ZONE = ZoneInfo("Asia/Shanghai")
COLOURS = {"#d62728", "#e6b800", "#2ca02c", "#1f77b4"}
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (make system-deps installs it)", pytrace=False)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield chromium
        chromium.close()


def _wav(path: Path, seconds: float = 2.0) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))


@pytest.fixture
def site(sqlite_db: Database, tmp_path: Path) -> Iterator[tuple[str, Database, Path]]:
    """The console on a threaded waitress server, with a recordings folder."""
    from waitress import create_server

    recordings = tmp_path / "recordings"
    recordings.mkdir()
    app = make_app(sqlite_db, POLL_SECONDS=0.5, RECORDINGS_DIR=str(recordings))
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}", sqlite_db, recordings
    server.close()
    thread.join(timeout=5)


def _login(context, base: str, username: str = "supervisor"):  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo96345")
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    return page


def test_call_log_and_recording_playback(site, browser) -> None:
    base, database, recordings = site
    code, _ = sub_service_of(database, "APPL")
    _wav(recordings / "1772000000.b1.wav")
    call_id = add_call(database, "b1", minutes=0, number="13800000001", station="DH-JSHT", sub_service=code,
                       agent="agent01", recording="1772000000.b1.wav")
    add_call(database, "b2", minutes=5, number="13800000002", station="LD-XJD", sub_service=code, agent="ld-agent")
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = _login(context, base)
    page.goto(f"{base}/supervisor/calls")
    assert page.locator("#call-table tbody tr").count() == 2
    page.screenshot(path=str(ARTIFACTS / "supervisor-01-call-log.png"), full_page=True)
    page.fill("input[name=number]", "138 0000 0001")
    page.click("#search")
    page.wait_for_load_state()
    assert page.locator("#call-table tbody tr").count() == 1
    page.click("a.detail")
    page.wait_for_selector("#recording")
    page.wait_for_function("() => document.querySelector('#recording').readyState >= 1", timeout=5000)
    duration = page.evaluate("() => document.querySelector('#recording').duration")
    assert 1.9 <= duration <= 2.1
    page.evaluate("() => { const a = document.querySelector('#recording'); a.muted = true; return a.play(); }")
    page.wait_for_function("() => document.querySelector('#recording').currentTime > 0.2", timeout=5000)
    assert page.url.endswith(f"/supervisor/calls/{call_id}")
    page.screenshot(path=str(ARTIFACTS / "supervisor-02-call-detail.png"), full_page=True)
    context.close()


def test_wallboard_updates_by_itself(site, browser) -> None:
    base, database, _ = site
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = _login(context, base)
    page.goto(f"{base}/supervisor/wallboard")
    page.wait_for_function("() => document.getElementById('wb-waiting').textContent === '0'", timeout=5000)
    now = utcnow()
    with database.sessions.begin() as session:
        call = record_call_start(session, uniqueid="9.1", caller_number="13800000009", now=now)
        call.queue, call.queue_entered_at = "general", now - dt.timedelta(seconds=30)
    page.wait_for_function("() => document.getElementById('wb-waiting').textContent === '1'", timeout=5000)
    assert page.locator("#wb-queues tr[data-queue=general]").count() == 1
    page.screenshot(path=str(ARTIFACTS / "supervisor-03-wallboard.png"), full_page=True)
    context.close()


def _spread_worker_statuses(database: Database) -> None:
    statuses = [WorkerStatus.BUSY, WorkerStatus.DISPATCHED, WorkerStatus.IDLE, WorkerStatus.OFF_DUTY]
    with database.sessions.begin() as session:
        ids = list(session.scalars(select(Worker.id).where(Worker.lat.is_not(None)).order_by(Worker.id)))
        for index, worker_id in enumerate(ids):
            session.execute(update(Worker).where(Worker.id == worker_id).values(status=statuses[index % 4]))


def test_big_screen_at_1920_by_1080(site, browser) -> None:
    base, database, _ = site
    today = dt.datetime.now(ZONE).date()
    generate_history(database.engine, calls=4000, years=0.1, until=today + dt.timedelta(days=1), batch=2000)
    _spread_worker_statuses(database)
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = _login(context, base)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{base}/supervisor/bigscreen")
    page.wait_for_function("() => document.getElementById('bigscreen').dataset.updated", timeout=8000)
    page.wait_for_function("() => document.getElementById('provider-map').dataset.updated", timeout=8000)
    for chart in ("chart-demand", "chart-top", "chart-trend", "chart-satisfaction"):
        assert page.locator(f"#{chart} canvas").count() >= 1, chart
    fills = set(page.eval_on_selector_all("path.worker", "ps => ps.map(p => p.getAttribute('fill'))"))
    assert fills >= COLOURS
    assert int(page.text_content("#bs-calls") or 0) > 0
    box = page.eval_on_selector("#bigscreen", "e => [e.scrollWidth, e.scrollHeight]")
    assert box == [1920, 1080]
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "supervisor-04-bigscreen.png"))
    assert errors == []
    context.close()


def test_report_builds_with_progress(site, browser) -> None:
    base, database, _ = site
    generate_history(database.engine, calls=1500, years=0.3, until=dt.date(2026, 3, 1), batch=2000)
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = _login(context, base)
    page.goto(f"{base}/supervisor/reports?build=1&period=weekly&by=category&from=2025-11-01&to=2026-02-28")
    page.wait_for_function("() => document.getElementById('report-table').dataset.done === '1'", timeout=15000)
    assert page.get_attribute("#report-progress", "value") == "4"
    assert page.locator("#report-table tbody tr").count() > 14
    assert page.locator("#report-chart canvas").count() == 1
    page.screenshot(path=str(ARTIFACTS / "supervisor-05-report.png"), full_page=True)
    context.close()
