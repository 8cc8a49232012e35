"""Building prompt files: cache by content, human recordings override, missing text is an error."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from ivr.prompt_build import (
    PromptBuildError,
    build_prompts,
    build_system_sounds,
    missing_prompt_files,
    missing_system_sounds,
    prompt_path,
    system_sound_path,
)
from ivr.prompts import (
    FIXED,
    SYSTEM_SOUNDS,
    all_prompts,
    catalogue_prompt_fallback,
    number_keys,
)
from ivr.speech.tts import Pyttsx3Synthesizer, is_telephone_wav, write_silence
from tests.ivr.fakes import small_catalogue


class CountingSynthesizer:
    engine_id = "fake-1"

    def __init__(self) -> None:
        self.rendered: list[tuple[str, str]] = []

    def render(self, text: str, language: str, target: str) -> None:
        self.rendered.append((language, text))
        write_silence(Path(target), 0.01 * (1 + len(text)))


TEXTS = {"welcome": {"zh": "您好", "en": "Hello"}, "cat/DRAIN": {"zh": "管道疏通", "en": "Drains"},
         "silence": {"zh": "", "en": ""}}


def test_builds_every_prompt_in_every_language_then_reuses_the_cache(tmp_path: Path) -> None:
    synth = CountingSynthesizer()
    seen: list[tuple[int, int, str]] = []
    report = build_prompts(TEXTS, ["zh", "en"], tmp_path / "sounds", tmp_path / "cache", synth,
                           progress=lambda done, total, name: seen.append((done, total, name)))
    assert report.rendered == 6 and report.total == 6
    assert prompt_path(tmp_path / "sounds", "zh", "cat/DRAIN") == tmp_path / "sounds/zh/hotline/cat/DRAIN.wav"
    assert all(is_telephone_wav(f) for f in report.files)
    assert seen[-1] == (6, 6, "en/silence")
    again = build_prompts(TEXTS, ["zh", "en"], tmp_path / "sounds", tmp_path / "cache", synth)
    assert again.rendered == 0 and again.unchanged == 6 and len(synth.rendered) == 6


def test_a_changed_text_is_rendered_again_alone(tmp_path: Path) -> None:
    synth = CountingSynthesizer()
    build_prompts(TEXTS, ["zh"], tmp_path / "s", tmp_path / "c", synth)
    changed = {**TEXTS, "welcome": {"zh": "您好，欢迎", "en": "Hello"}}
    report = build_prompts(changed, ["zh"], tmp_path / "s", tmp_path / "c", synth)
    assert report.rendered == 1 and synth.rendered[-1] == ("zh", "您好，欢迎")


def test_a_human_recording_of_the_same_name_wins(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded"
    write_silence(recorded / "zh" / "welcome.wav", 1.0)
    report = build_prompts(TEXTS, ["zh"], tmp_path / "s", tmp_path / "c", CountingSynthesizer(), recorded)
    assert report.recorded == 1
    assert (tmp_path / "s/zh/hotline/welcome.wav").read_bytes() == (recorded / "zh/welcome.wav").read_bytes()


def test_a_recording_in_the_wrong_format_is_a_build_error(tmp_path: Path) -> None:
    bad = tmp_path / "recorded" / "zh" / "welcome.wav"
    bad.parent.mkdir(parents=True)
    with wave.open(str(bad), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(b"\0" * 400)
    with pytest.raises(PromptBuildError, match=r"zh/welcome\.wav is not 8 kHz"):
        build_prompts(TEXTS, ["zh"], tmp_path / "s", tmp_path / "c", CountingSynthesizer(),
                      tmp_path / "recorded")


def test_a_missing_text_is_a_clear_build_error_listing_all(tmp_path: Path) -> None:
    texts = {**TEXTS, "goodbye": {"zh": "再见"}, "menu_intro": {"zh": " ", "en": "Choose"}}
    with pytest.raises(PromptBuildError) as error:
        build_prompts(texts, ["zh", "en"], tmp_path / "s", tmp_path / "c", CountingSynthesizer())
    assert "goodbye has no en text" in str(error.value) and "menu_intro has no zh text" in str(error.value)
    assert not (tmp_path / "s").exists()


def test_unsafe_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PromptBuildError, match="safe"):
        build_prompts({"../etc/passwd": {"zh": "x", "en": "x"}}, ["zh"], tmp_path, tmp_path / "c",
                      CountingSynthesizer())


def test_the_whole_catalogue_has_both_languages_and_reports_missing_files(tmp_path: Path) -> None:
    texts = all_prompts(small_catalogue())
    build_prompts(texts, ["zh", "en"], tmp_path / "s", tmp_path / "c", CountingSynthesizer())
    assert missing_prompt_files(tmp_path / "s", texts, ["zh", "en"]) == []
    (tmp_path / "s/en/hotline/goodbye.wav").unlink()
    assert missing_prompt_files(tmp_path / "s", texts, ["zh", "en"]) == ["en/goodbye"]


@pytest.mark.parametrize(("number", "spoken"), [
    (0, "零"), (7, "七"), (10, "十"), (15, "十五"), (20, "二十"), (35, "三十五"),
    (101, "一百零一"), (110, "一百一十"), (1005, "一千零五"),
    (23456, "二万三千四百五十六"), (100000, "十万"), (20030, "二万零三十"),
])
def test_mandarin_numbers(number: int, spoken: str) -> None:
    words = {**FIXED, **all_prompts(small_catalogue())}
    assert "".join(words[k]["zh"] for k in number_keys(number, "zh")) == spoken


def test_real_rendering_with_espeak_ng_makes_8khz_files(tmp_path: Path) -> None:
    synth = Pyttsx3Synthesizer()
    for language, text in (("zh", "请按一"), ("en", "press one"), ("zh", "再见")):
        target = tmp_path / f"{language}-{len(text)}.wav"
        synth.render(text, language, str(target))
        assert is_telephone_wav(target)
        with wave.open(str(target)) as audio:
            assert audio.getnframes() > 8000 * 0.3  # some speech, not an empty file


def say_number_zh(num: int) -> list[str]:
    """The files Asterisk's say.c (ast_say_number_full_zh) plays for a number, ported line by line."""
    if num == 0:
        return ["digits/0"]
    files: list[str] = []
    playh = playt = playz = last_length = 0
    while num or playh or playt or playz:
        if playz:
            files.append("digits/0")
            last_length, playz = 0, 0
        elif playh:
            files.append("digits/hundred")
            playh = 0
        elif playt:
            files.append("digits/thousand")
            playt = 0
        elif num < 1000 and last_length and last_length - len(str(num)) > 1:
            last_length, playz = len(str(num)), 1
        elif num < 10:
            files.append(f"digits/{num}")
            num = 0
        elif num < 100:
            last_length = len(str(num))
            files.append(f"digits/{num // 10 * 10}")
            num %= 10
        elif num < 1000:
            files.append(f"digits/{num // 100}")
            playh, last_length = 1, len(str(num))
            num %= 100
        elif num < 10000:
            files.append(f"digits/{num // 1000}")
            playt, last_length = 1, len(str(num))
            num %= 1000
        else:
            files += say_number_zh(num // 10000)
            last_length = len(str(num))
            num %= 10000
            files.append("digits/wan")
    return files


def test_every_file_asterisk_says_a_queue_position_with_exists_in_mandarin() -> None:
    for position in range(1, 20001):
        assert set(say_number_zh(position)) <= set(SYSTEM_SOUNDS), position
    spoken = {n: "".join(SYSTEM_SOUNDS[f]["zh"] for f in say_number_zh(n)) for n in (2, 10, 12, 25, 105, 3000)}
    assert spoken == {2: "二", 10: "十", 12: "十二", 25: "二十五", 105: "一百零五", 3000: "三千"}
    for name in ("queue-thereare", "queue-callswaiting", "queue-youarenext", "queue-thankyou"):
        assert SYSTEM_SOUNDS[name]["zh"]


def test_asterisk_sounds_go_under_their_own_names(tmp_path: Path) -> None:
    synth = CountingSynthesizer()
    report = build_system_sounds(SYSTEM_SOUNDS, ["zh"], tmp_path / "s", tmp_path / "c", synth)
    assert report.total == len(SYSTEM_SOUNDS)
    assert system_sound_path(tmp_path / "s", "zh", "digits/20") == tmp_path / "s/zh/digits/20.wav"
    assert (tmp_path / "s/zh/queue-thereare.wav").is_file() and ("zh", "二十") in synth.rendered
    assert missing_system_sounds(tmp_path / "s", SYSTEM_SOUNDS, ["zh"]) == []
    (tmp_path / "s/zh/digits/7.wav").unlink()
    assert missing_system_sounds(tmp_path / "s", SYSTEM_SOUNDS, ["zh"]) == ["zh/digits/7"]
    again = build_system_sounds(SYSTEM_SOUNDS, ["zh"], tmp_path / "s", tmp_path / "c", synth)
    assert again.rendered == 0 and again.cached == 1 and again.unchanged == len(SYSTEM_SOUNDS) - 1


@pytest.mark.parametrize("name", ["../queue-thereare", "/etc/passwd", "digits/../../x", "Queue", "hotline/welcome/x"])
def test_unsafe_asterisk_sound_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(PromptBuildError, match="safe"):
        build_system_sounds({name: {"zh": "x"}}, ["zh"], tmp_path / "s", tmp_path / "c", CountingSynthesizer())
    assert not (tmp_path / "s").exists()


def test_only_catalogue_names_have_a_fallback_and_it_exists() -> None:
    assert catalogue_prompt_fallback("svc/DRAIN-SEWER") == ("menu_option",)
    assert catalogue_prompt_fallback("cat/DRAIN") == ("menu_option",)
    assert catalogue_prompt_fallback("welcome") == () and catalogue_prompt_fallback("num/3") == ()
    assert "menu_option" in FIXED
