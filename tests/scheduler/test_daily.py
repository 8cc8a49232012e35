"""Housekeeping deletes only old files of the hotline's own kinds, only inside its two folders."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from callcenter.scheduler.daily import DailySettings, housekeeping
from callcenter.scheduler.jobs import JOBS_BY_ID, JobContext, daily_statistics, housekeep_files
from tests.plugins.db import Database

NOW = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)
HEX = "ab" * 32


def _file(path: Path, days_old: float) -> Path:
    path.write_bytes(b"RIFF")
    stamp = (NOW - dt.timedelta(days=days_old)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_old_cache_files_and_recordings_go_nothing_else(tmp_path: Path) -> None:
    cache, recordings, outside = tmp_path / "cache", tmp_path / "rec", tmp_path / "outside"
    for folder in (cache, recordings, outside):
        folder.mkdir()
    old_cache = _file(cache / f"{HEX}.wav", 100)
    old_part = _file(cache / f"{HEX}.1234.part.wav", 100)
    new_cache = _file(cache / f"{'cd' * 32}.wav", 10)
    stranger = _file(cache / "notes.wav", 100)  # not a cache name
    old_call = _file(recordings / "1700000000.12.wav", 400)
    old_message = _file(recordings / "msg-1700000000.13.wav", 400)
    old_callback = _file(recordings / "hotline-ob-7.wav", 400)
    young_call = _file(recordings / "1700000000.14.wav", 30)
    hidden = _file(recordings / ".hidden.wav", 400)
    precious = _file(outside / "1700000000.99.wav", 400)
    (recordings / "link.wav").symlink_to(precious)  # a link to a file outside: never followed
    nested = recordings / "sub"
    nested.mkdir()
    deep = _file(nested / "1700000000.15.wav", 400)
    os.utime(nested, ((NOW - dt.timedelta(days=400)).timestamp(),) * 2)

    settings = DailySettings(prompt_cache_dir=cache, prompt_cache_days=90, recordings_dir=recordings,
                             recordings_days=365)
    assert housekeeping(settings, NOW) == {"prompt_cache": 2, "recordings": 3}
    gone = {old_cache, old_part, old_call, old_message, old_callback}
    kept = {new_cache, stranger, young_call, hidden, precious, deep, recordings / "link.wav"}
    assert not any(p.exists() for p in gone)
    assert all(p.exists() or p.is_symlink() for p in kept)
    assert housekeeping(settings, NOW) == {"prompt_cache": 0, "recordings": 0}


def test_retention_zero_keeps_everything_and_missing_folders_are_fine(tmp_path: Path) -> None:
    recordings = tmp_path / "rec"
    recordings.mkdir()
    old = _file(recordings / "1700000000.12.wav", 4000)
    assert housekeeping(DailySettings(recordings_dir=recordings, recordings_days=0), NOW)["recordings"] == 0
    assert old.exists()
    assert housekeeping(DailySettings(prompt_cache_dir=tmp_path / "absent", recordings_dir=tmp_path / "absent",
                                      recordings_days=1), NOW) == {"prompt_cache": 0, "recordings": 0}


def test_daily_jobs_are_in_the_job_table_and_idempotent(db: Database, tmp_path: Path) -> None:
    assert JOBS_BY_ID["stats.daily"].seconds == 3600 and JOBS_BY_ID["housekeeping.files"].seconds == 6 * 3600
    ctx = JobContext(sessions=db.sessions, holder="t", clock=lambda: NOW,
                     daily=DailySettings(statistics_days_back=3, recordings_dir=tmp_path, recordings_days=30))
    _file(tmp_path / "1700000000.1.wav", 40)
    assert daily_statistics(ctx) == 3 and daily_statistics(ctx) == 0
    assert housekeep_files(ctx) == 1 and housekeep_files(ctx) == 0
