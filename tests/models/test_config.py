"""Layered configuration: defaults < file < HOTLINE_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import ConfigError, load_settings, parse_assignment


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
