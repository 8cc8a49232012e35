"""Building prompt files: cache by content, human recordings override, missing text is an error."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from ivr.prompt_build import PromptBuildError, build_prompts, missing_prompt_files, prompt_path
from ivr.prompts import FIXED, all_prompts, number_keys
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
