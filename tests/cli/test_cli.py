"""The ``hotline`` command as a user runs it (a real subprocess on a temporary data dir)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from hotline.cli import SUBCOMMANDS


def hotline(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``hotline ARGS`` as the console script would."""
    return subprocess.run([sys.executable, "-m", "hotline.cli", *args], capture_output=True, text=True,
                          check=False, cwd=cwd, timeout=300)


def test_help_lists_every_subcommand() -> None:
    result = hotline("--help")
    assert result.returncode == 0, result.stderr
    for name in SUBCOMMANDS:
        assert name in result.stdout


def test_db_seed_twice_then_check(tmp_path: Path) -> None:
    first = hotline("--data-dir", str(tmp_path), "db", "seed")
    assert first.returncode == 0, first.stderr
    assert "categories=14" in first.stdout and "companies=480" in first.stdout
    second = hotline("--data-dir", str(tmp_path), "db", "seed")
    assert "companies=0" in second.stdout  # nothing added the second time
    assert hotline("--data-dir", str(tmp_path), "db", "check").returncode == 0
    with sqlite3.connect(tmp_path / "hotline.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM sub_services").fetchone()[0] >= 120


def test_bad_settings_are_usage_errors_not_tracebacks(tmp_path: Path) -> None:
    result = hotline("--data-dir", str(tmp_path), "--set", "agi_port=notaport", "db", "check")
    assert result.returncode == 2 and "agi_port" in result.stderr and "Traceback" not in result.stderr
    result = hotline("--set", "nonsense", "db", "check")
    assert result.returncode == 2 and "key=value" in result.stderr


def test_api_client_add_list_revoke(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert hotline(*data, "db", "seed").returncode == 0
    added = hotline(*data, "api-client", "add", "wechat-app", "--station", "LD")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("wechat-app.") and len(key) > 40
    with sqlite3.connect(tmp_path / "hotline.db") as conn:  # only a digest of the key is stored
        stored = conn.execute("SELECT password_hash FROM users WHERE username = 'wechat-app'").fetchone()[0]
        assert key.partition(".")[2] not in stored
    assert "wechat-app\tactive" in hotline(*data, "api-client", "list").stdout
    again = hotline(*data, "api-client", "add", "wechat-app")
    assert again.returncode == 1 and "taken" in again.stderr and "Traceback" not in again.stderr
    bad = hotline(*data, "api-client", "add", "Bad Name!", "--station", "NOPE")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert hotline(*data, "api-client", "revoke", "wechat-app").returncode == 0
    assert "wechat-app\trevoked" in hotline(*data, "api-client", "list").stdout
