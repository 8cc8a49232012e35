"""Layered configuration: defaults < file < HOTLINE_* environment < flags."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from hotline.config import ConfigError, load_settings, parse_assignment, secret_from_file


def test_defaults_are_embedded_sqlite_and_loopback() -> None:
    settings = load_settings(environ={})
    assert settings.resolved_database_url().startswith("sqlite:///")
    assert settings.agi_host == "127.0.0.1" and settings.ami_host == "127.0.0.1"
    assert settings.language == "zh" and settings.timezone == "Asia/Shanghai"


def test_layers_override_in_order(tmp_path: Path) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text('language = "en"\n[agi]\nport = 4600\n[web]\nport = 9000\n', encoding="utf-8")
    env = {"HOTLINE_AGI_PORT": "4700", "HOTLINE_CONFIG": str(config)}
    settings = load_settings(environ=env, overrides={"agi_port": "4800", "web_host": None})
    assert settings.language == "en"  # file
    assert settings.web_port == 9000  # file
    assert settings.agi_port == 4800  # flag beats environment beats file


@pytest.mark.parametrize("env, message", [
    ({"HOTLINE_AGI_PORT": "http"}, "agi_port"),
    ({"HOTLINE_AGI_PORT": "70000"}, r"not a TCP/UDP port"),
    ({"HOTLINE_NO_SUCH": "1"}, "unknown setting"),
    ({"HOTLINE_LANGUAGE": "fr"}, "not one of zh, en"),
])
def test_bad_values_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env)


def test_bad_config_file_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("language = ", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_settings(config_file=broken, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.toml", environ={})


def test_assignment_parsing() -> None:
    assert parse_assignment("agi.port=4600") == ("agi_port", "4600")
    with pytest.raises(ConfigError):
        parse_assignment("novalue")


def _secret_in_process(folder: str, queue) -> None:  # type: ignore[no-untyped-def]
    try:
        queue.put(secret_from_file(Path(folder), "ami-secret"))
    except Exception as exc:  # reported by the test
        queue.put(f"error: {exc!r}")


def test_processes_started_together_share_one_generated_secret(tmp_path: Path) -> None:
    """Two schedulers started at once both made ``ami-secret``: the loser died with FileExistsError."""
    context = multiprocessing.get_context("fork")
    for attempt in range(5):
        folder, queue = tmp_path / str(attempt), context.Queue()
        processes = [context.Process(target=_secret_in_process, args=(str(folder), queue)) for _ in range(8)]
        for process in processes:
            process.start()
        got = [queue.get(timeout=30) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        stored = (folder / "secrets" / "ami-secret").read_text(encoding="ascii").strip()
        assert got == [stored] * len(processes) and len(stored) == 48
        assert [p.name for p in (folder / "secrets").iterdir()] == ["ami-secret"]  # no drafts left
        assert (folder / "secrets" / "ami-secret").stat().st_mode & 0o777 == 0o600


def test_a_secret_made_by_another_process_meanwhile_is_the_one_used(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The race made deterministic: another process writes the secret between our check and our write."""
    secret = tmp_path / "secrets" / "ami-secret"
    secret.parent.mkdir()
    secret.write_text("f" * 48 + "\n", encoding="ascii")
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: False if self == secret else real_exists(self))
    assert secret_from_file(tmp_path, "ami-secret") == "f" * 48
    assert [p.name for p in secret.parent.iterdir()] == ["ami-secret"]
