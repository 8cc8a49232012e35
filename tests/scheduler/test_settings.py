"""The follow-up, callback and retention settings: checked at load, turned into the jobs' policies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from callcenter.scheduler.outbound import FollowupCalls
from hotline.commands.scheduler import build_dialer, job_context
from hotline.config import ConfigError, load_settings


@pytest.mark.parametrize(("name", "value"), [
    ("followup_attempts", "0"), ("callback_attempts", "11"), ("followup_ring_seconds", "2"),
    ("followup_max_concurrent", "0"), ("callback_retry_minutes", "0"), ("recordings_retention_days", "-1"),
    ("outbound_caller_id", "96345 <1>"), ("outbound_caller_id", "12"), ("followup_attempts", "three"),
    ("callback_abandoned", "maybe"), ("calling_hours_start", "25:00"),
])
def test_bad_values_are_refused_with_the_setting_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name.split("_")[0]):
        load_settings(environ={}, overrides={name: value})


def test_settings_become_the_jobs_policies(tmp_path: Path) -> None:
    settings = load_settings(environ={f"HOTLINE_{k.upper()}": v for k, v in {
        "followup_attempts": "4", "followup_retry_minutes": "45", "followup_ring_seconds": "25",
        "callback_attempts": "2", "callback_retry_minutes": "3", "callback_abandoned": "true",
        "calling_hours_start": "08:30", "calling_hours_end": "21:00", "recordings_retention_days": "180",
    }.items()}, overrides={"data_dir": tmp_path})
    ctx = job_context(settings, object(), "holder", dialer=None)
    follow, back = ctx.outbound.followup, ctx.outbound.callback
    assert (follow.attempts, follow.retry_after, follow.ring_seconds) == (4, dt.timedelta(minutes=45), 25)
    assert follow.hours is not None and follow.hours.start == dt.time(8, 30) and follow.hours.end == dt.time(21)
    assert (back.attempts, back.retry_after, back.hours) == (2, dt.timedelta(minutes=3), None)
    assert ctx.outbound.abandoned_offer and ctx.outbound.caller_id == "96345"
    assert ctx.daily.recordings_days == 180 and ctx.daily.recordings_dir == tmp_path / "recordings"
    assert ctx.daily.prompt_cache_dir == tmp_path / "prompt-cache"
    assert "followup" not in ctx.handlers  # no telephone system: follow-ups wait
    dialer = build_dialer(settings, object())  # type: ignore[arg-type]
    assert dialer is not None and dialer.secret  # the AMI secret kept in the data directory
    assert isinstance(job_context(settings, object(), "h", dialer).handlers["followup"], FollowupCalls)
    off = load_settings(environ={}, overrides={"data_dir": tmp_path, "scheduler_ami": "false"})
    assert build_dialer(off, object()) is None  # type: ignore[arg-type]
