"""Wallboard, big screen and reports: their figures, scoping and refusals."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from models.base import utcnow
from models.calls import record_call_start
from models.entities import Call, Ticket
from models.enums import CallOutcome, Priority
from models.history import generate_history
from models.reports import Dimension, Period, ReportCell, build_report, report_chunks
from models.supervision import big_screen, wallboard
from tests.callcenter.conftest import ticket_maker
from tests.plugins.db import Database

ZONE = ZoneInfo("Asia/Shanghai")


def _today_calls(database: Database) -> None:
    now = utcnow()
    with database.sessions.begin() as session:
        for n, (wait, answered, outcome) in enumerate([(5, True, CallOutcome.TICKET), (15, True, CallOutcome.ANSWERED),
                                                       (45, True, CallOutcome.TICKET),
                                                       (60, False, CallOutcome.ABANDONED_QUEUE)]):
            call = record_call_start(session, uniqueid=f"1.{n}", caller_number="13800000001",
                                     now=now - dt.timedelta(minutes=5))
            call.queue, call.queue_wait_seconds, call.outcome = "general", wait, outcome
            call.queue_entered_at = now - dt.timedelta(minutes=4)
            call.answered_at = now - dt.timedelta(minutes=3) if answered else None
            call.ended_at = now - dt.timedelta(minutes=1)
        waiting = record_call_start(session, uniqueid="1.w", caller_number="13800000002",
                                    now=now - dt.timedelta(seconds=50))
        waiting.queue, waiting.queue_entered_at = "elderly", now - dt.timedelta(seconds=30)


def test_wallboard_figures(db: Database) -> None:
    _today_calls(db)
    with db.sessions() as session:
        board = wallboard(session, zone=ZONE)
    assert board.queues["elderly"].waiting == 1 and 29 <= board.queues["elderly"].longest_wait_seconds <= 40
    assert (board.offered, board.answered, board.answered_in_time, board.abandoned) == (4, 3, 2, 1)
    assert board.service_level == 50.0 and board.abandon_rate == 25.0
    assert board.agents.get("logged_out", 0) >= 4


def test_wallboard_and_bigscreen_json(as_user, db: Database) -> None:
    _today_calls(db)
    ticket_maker(db)("DH-JSHT", "APPL-TV", priority=Priority.EMERGENCY)
    browser = as_user("supervisor")
    data = browser.get("/supervisor/wallboard/data").get_json()
    assert data["open_emergencies"] == 1 and data["service_level"] == 50.0
    assert "wallboard" in browser.get("/supervisor/wallboard").get_data(as_text=True)
    screen = browser.get("/supervisor/bigscreen/data").get_json()
    assert screen["calls_today"] == 5 and screen["tickets_today"] == 1
    assert screen["top_sub_services"][0]["value"] == 1
    assert as_user("ld-supervisor").get("/supervisor/wallboard/data").get_json()["open_emergencies"] == 0


def test_big_screen_on_history(db: Database) -> None:
    today = dt.datetime.now(ZONE).date()
    generate_history(db.engine, calls=3000, years=0.1, until=today + dt.timedelta(days=1), batch=1000)
    with db.sessions() as session:
        data = big_screen(session, zone=ZONE)
    assert data["calls_today"] > 0 and data["tickets_today"] > 0
    assert len(data["demand"]) == 14 and data["top_sub_services"]
    assert len(data["trend"]["last_week"]) == 7 and sum(data["trend"]["last_week"]) > 0
    assert data["satisfaction"]["rated"] > 0 and 1 <= data["satisfaction"]["average"] <= 5


def test_report_chunks_cut_at_months() -> None:
    chunks = report_chunks(dt.date(2026, 1, 20), dt.date(2026, 3, 5))
    assert chunks == [(dt.date(2026, 1, 20), dt.date(2026, 1, 31)), (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
                      (dt.date(2026, 3, 1), dt.date(2026, 3, 5))]


@pytest.mark.parametrize("dimension", list(Dimension))
def test_reports_add_up_to_the_tickets(db: Database, dimension: Dimension) -> None:
    until = dt.date(2026, 3, 1)
    generate_history(db.engine, calls=1500, years=0.25, until=until, batch=1000)
    first, last = until - dt.timedelta(days=92), until
    with db.sessions() as session:
        *_, (done, total, lines) = build_report(session, first=first, last=last, period=Period.WEEKLY,
                                                dimension=dimension, zone=ZONE)
        tickets = session.scalar(select(func.count()).select_from(Ticket))
    assert done == total == 5  # Nov (2 days), Dec, Jan, Feb, Mar (1 day)
    total_cell = ReportCell()
    for line in lines:
        total_cell.add(line.cell)
        assert dt.date.fromisoformat(line.period).weekday() == 0
    assert total_cell.volume == tickets
    assert total_cell.sla_known > 0 and total_cell.score_count > 0 and total_cell.repeats > 0
    assert 1 <= (total_cell.satisfaction or 0) <= 5


def test_report_pages(as_user, db: Database) -> None:
    generate_history(db.engine, calls=600, years=0.1, until=dt.date(2026, 3, 1), batch=1000)
    browser = as_user("supervisor")
    page = browser.get("/supervisor/reports?build=1&period=monthly&by=station&from=2026-01-01&to=2026-02-28")
    assert page.status_code == 200 and "report-progress" in page.get_data(as_text=True)
    chunk = browser.get("/supervisor/reports/chunk?period=monthly&by=station&from=2026-02-01&to=2026-02-28")
    assert chunk.status_code == 200 and sum(c["volume"] for c in chunk.get_json()["cells"]) > 0
    assert browser.get("/supervisor/reports/chunk?period=monthly&by=station&from=2026-01-01&to=2026-02-28"
                       ).status_code == 400
    download = browser.get("/supervisor/reports/download.csv?period=monthly&by=category&from=2026-01-01"
                           "&to=2026-02-28")
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert download.status_code == 200 and rows and {r["period"] for r in rows} <= {"2026-01-01", "2026-02-01"}
    for bad in ("period=hourly", "by=users;--", "from=2026-02-30", "from=2026-03-01&to=2026-01-01",
                "from=2020-01-01&to=2026-01-01"):
        assert browser.get(f"/supervisor/reports?build=1&{bad}").status_code == 400, bad
    ld = as_user("ld-supervisor").get("/supervisor/reports/chunk?period=monthly&by=station&from=2026-02-01"
                                      "&to=2026-02-28").get_json()
    assert sum(c["volume"] for c in ld["cells"]) < sum(c["volume"] for c in chunk.get_json()["cells"])
    with db.sessions() as session:
        assert session.scalar(select(Call.id).limit(1)) is not None


def test_big_screen_trend_reads_finished_days_from_the_daily_snapshots(db: Database) -> None:
    from models.entities import DailyStatistics
    from models.statistics import snapshot_days

    today = dt.datetime.now(ZONE).date()
    generate_history(db.engine, calls=1500, years=0.05, until=today + dt.timedelta(days=1), batch=1000)
    with db.sessions() as session:
        live = big_screen(session, zone=ZONE)["trend"]
    with db.sessions.begin() as session:
        snapshot_days(session, zone=ZONE, days_back=14)
    with db.sessions() as session:
        assert big_screen(session, zone=ZONE)["trend"] == live  # the snapshots hold the same counts
    monday_last_week = today - dt.timedelta(days=today.weekday() + 7)
    with db.sessions.begin() as session:  # a snapshot is what the city-wide trend shows for its day
        session.get_one(DailyStatistics, monday_last_week).tickets_opened = 777
    with db.sessions() as session:
        city = big_screen(session, zone=ZONE)["trend"]["last_week"]
        station = big_screen(session, zone=ZONE, scope=frozenset({1}))["trend"]["last_week"]
    assert city[0] == 777 and city[1:] == live["last_week"][1:]
    assert station[0] != 777  # a station's view is counted from its tickets
