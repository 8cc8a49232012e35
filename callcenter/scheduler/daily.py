"""The daily jobs: statistics snapshots and housekeeping of old files.

* ``stats.daily`` stores one row of figures per finished local day (``models.statistics``) for
  the big screen and reports; a stored day is never rewritten, so running it hourly (to catch up
  after downtime) has the effect of once per day.
* ``housekeeping.files`` deletes rendered prompt-cache files and recordings older than their
  retention (``prompt_cache_retention_days``, ``recordings_retention_days``; 0 keeps for ever).
  It only lists the two configured folders themselves — never a path read from the database —
  and deletes only regular files (not symbolic links, not folders) whose *name* matches the
  pattern of files the hotline writes there, so nothing outside them can be reached.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from models.statistics import snapshot_days

log = logging.getLogger("hotline.scheduler.daily")

PROMPT_CACHE_NAME = re.compile(r"^[0-9a-f]{64}(\.\d{1,10}\.part)?\.wav$")  # ivr.prompt_build's cache
RECORDING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.(wav|WAV|gsm|ogg|opus|mp3)$")  # MixMonitor, Record


@dataclass(frozen=True)
class DailySettings:
    """Where the daily jobs look and how long files are kept."""

    zone: str = "Asia/Shanghai"
    statistics_days_back: int = 7
    prompt_cache_dir: Path | None = None
    prompt_cache_days: int = 90
    recordings_dir: Path | None = None
    recordings_days: int = 0  # 0: keep recordings for ever


def snapshot_statistics(sessions: sessionmaker[Session], settings: DailySettings, now: dt.datetime) -> int:
    """Store the missing daily snapshots; returns how many days were stored."""
    with sessions.begin() as session:
        return len(snapshot_days(session, zone=ZoneInfo(settings.zone), days_back=settings.statistics_days_back,
                                 now=now))


def remove_old_files(folder: Path, pattern: re.Pattern[str], older_than: dt.datetime, *, limit: int = 10_000) -> int:
    """Delete regular files directly in ``folder`` named like ``pattern`` and last changed before ``older_than``."""
    if not folder.is_dir():
        return 0
    cutoff = older_than.timestamp()
    removed = 0
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                if removed >= limit:
                    break
                if not pattern.match(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                    continue
                try:
                    os.unlink(entry.name, dir_fd=fd)
                    removed += 1
                except FileNotFoundError:
                    continue
    finally:
        os.close(fd)
    return removed


def housekeeping(settings: DailySettings, now: dt.datetime) -> dict[str, int]:
    """Old prompt-cache files and recordings past retention, deleted; counts per folder."""
    removed = {"prompt_cache": 0, "recordings": 0}
    if settings.prompt_cache_dir is not None and settings.prompt_cache_days > 0:
        removed["prompt_cache"] = remove_old_files(settings.prompt_cache_dir, PROMPT_CACHE_NAME,
                                                   now - dt.timedelta(days=settings.prompt_cache_days))
    if settings.recordings_dir is not None and settings.recordings_days > 0:
        removed["recordings"] = remove_old_files(settings.recordings_dir, RECORDING_NAME,
                                                 now - dt.timedelta(days=settings.recordings_days))
    if any(removed.values()):
        log.info("housekeeping removed %s", removed)
    return removed
