"""What ``hotline agi`` checks at start-up (prompt files of the catalogue too) and the counters it
writes with ``--stats-file`` (AGI round trips of the commands Asterisk answers at once)."""

from __future__ import annotations

import json
from pathlib import Path

from agi_scripts.server import AgiCall
from hotline.commands.agi import missing_prompts, warn_about_missing_prompts, write_stats
from hotline.config import Settings, load_settings
from hotline.runtime import sessions_for
from ivr.prompt_build import prompt_path, system_sound_path
from ivr.prompts import FIXED, NUMBER_WORDS, SYSTEM_SOUNDS
from ivr.speech.tts import write_silence
from models.schema import upgrade_to_head
from models.seed import seed_catalogue
from tests.agi.fake_asterisk import FakeAsterisk, FakeCaller, agi_env


def seeded_settings(tmp_path: Path) -> Settings:
    settings = load_settings(environ={}, overrides={"data_dir": tmp_path, "prompts_dir": tmp_path / "sounds"})
    engine, sessions = sessions_for(settings)
    upgrade_to_head(engine)
    with sessions.begin() as session:
        seed_catalogue(session)
    engine.dispose()
    return settings


def test_missing_catalogue_names_are_reported_apart_from_fixed_prompts(tmp_path: Path) -> None:
    settings = seeded_settings(tmp_path)
    out = tmp_path / "sounds"
    for key in (*FIXED, *NUMBER_WORDS, "cat/DRAIN"):
        write_silence(prompt_path(out, "zh", key), 0.01)
    for name in SYSTEM_SOUNDS:
        write_silence(system_sound_path(out, "zh", name), 0.01)
    fixed, catalogue = missing_prompts(settings)
    assert fixed == []
    assert "zh/svc/DRAIN-SEWER" in catalogue and "zh/cat/DRAIN" not in catalogue
    (out / "zh" / "digits" / "20.wav").unlink()
    (out / "zh" / "hotline" / "welcome.wav").unlink()
    fixed, _ = missing_prompts(settings)
    assert fixed == ["zh/welcome", "zh/digits/20"]


def test_the_start_up_warning_names_both_kinds(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    settings = seeded_settings(tmp_path)
    with caplog.at_level("WARNING", logger="hotline.agi"):
        names = warn_about_missing_prompts(settings)
    assert "zh/svc/DRAIN-SEWER" in names
    text = caplog.text
    assert "prompt files are missing" in text and "service names have no prompt file" in text


def test_a_store_that_cannot_be_read_is_a_warning_not_a_crash(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(environ={}, overrides={"data_dir": tmp_path, "prompts_dir": tmp_path / "sounds",
                                                    "database_url": "sqlite:///" + str(tmp_path / "none" / "x.db")})
    with caplog.at_level("WARNING", logger="hotline.agi"):
        assert warn_about_missing_prompts(settings) == []
    assert "could not check the prompt files" in caplog.text


def quick_route(call: AgiCall) -> None:
    call.channel.answer()
    call.channel.play(["welcome"])
    call.channel.set_variable("HOTLINE_QUEUE", "general")


def test_round_trips_are_kept_for_quick_commands_only(agi_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"ivr": quick_route})
    for n in range(3):
        FakeAsterisk(server.port, agi_env(uniqueid=f"1733500000.{n}"), FakeCaller(), reply_delay=0.01).run()
    stats = server.stats.snapshot()
    assert stats["started"] == 3 and stats["commands"] == 9
    assert len(stats["round_trips"]) == 6  # ANSWER and SET VARIABLE, not STREAM FILE
    assert all(0.005 < t < 1 for t in stats["round_trips"])
    write_stats(server, tmp_path / "stats.json")
    assert json.loads((tmp_path / "stats.json").read_text())["commands"] == 9
