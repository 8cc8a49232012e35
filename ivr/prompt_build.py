"""Building the prompt sound files: every key of the prompt catalogue, in every language.

Files go to ``<out>/<language>/hotline/<key>.wav`` (Asterisk plays ``hotline/<key>`` from the
channel's language folder).  A rendered file is cached by the hash of engine, language and text,
so unchanged prompts are not rendered again; a human recording of the same name in
``<recorded>/<language>/<key>.wav`` is used instead of the synthetic one.  A prompt without text in
a language is a build error listing every such prompt (never a silent gap on a call).

Asterisk's own sounds that app_queue and say.c play (``ivr.prompts.SYSTEM_SOUNDS``: queue position
announcements, Mandarin numbers) are built the same way by :func:`build_system_sounds`, under
Asterisk's names directly in the language folder (``<out>/zh/queue-thereare.wav``,
``<out>/zh/digits/20.wav``), for the languages Asterisk ships no sounds in.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr.ports import Synthesizer
from ivr.prompts import SILENCE
from ivr.speech.tts import is_telephone_wav

SOUND_FOLDER = "hotline"
_KEY = re.compile(r"^[a-z][a-z0-9_]*(/[A-Za-z0-9][A-Za-z0-9_-]*)?$")
_SYSTEM_NAME = re.compile(r"^[a-z][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)?$")

Progress = Callable[[int, int, str], None]


class PromptBuildError(RuntimeError):
    """The prompts cannot all be built; the message lists what is missing or wrong."""


@dataclass
class BuildReport:
    """What a build did, per prompt file."""

    rendered: int = 0
    cached: int = 0
    recorded: int = 0
    unchanged: int = 0
    files: list[Path] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Prompt files now in place."""
        return len(self.files)


LanguageDir = Callable[[str], Path]


def prompt_path(out_dir: Path, language: str, key: str, language_dir: LanguageDir | None = None) -> Path:
    """Where the sound of one prompt lives (``language_dir`` maps a language to its folder)."""
    if not _KEY.match(key):
        raise PromptBuildError(f"prompt key {key!r} is not a safe file name")
    folder = language_dir(language) if language_dir else out_dir / language
    return folder / SOUND_FOLDER / f"{key}.wav"


def system_sound_path(out_dir: Path, language: str, name: str,
                      language_dir: LanguageDir | None = None) -> Path:
    """Where one of Asterisk's own sounds lives in a language folder (``digits/20`` -> ``digits/20.wav``)."""
    if not _SYSTEM_NAME.match(name):
        raise PromptBuildError(f"sound name {name!r} is not a safe file name")
    folder = language_dir(language) if language_dir else out_dir / language
    return folder / f"{name}.wav"


PathOf = Callable[[Path, str, str, LanguageDir | None], Path]


def check_texts(texts: Mapping[str, Mapping[str, str]], languages: Iterable[str],
                pattern: re.Pattern[str] = _KEY) -> None:
    """Refuse the build when any prompt lacks text in a language (all problems at once)."""
    problems = []
    for key, by_language in texts.items():
        if not pattern.match(key):
            problems.append(f"{key!r}: not a safe prompt key")
            continue
        for language in languages:
            if key != SILENCE and not (by_language.get(language) or "").strip():
                problems.append(f"{key} has no {language} text")
    if problems:
        raise PromptBuildError("missing prompts:\n  " + "\n  ".join(problems))


def cache_key(engine_id: str, language: str, text: str) -> str:
    """The content hash a rendered prompt is cached under."""
    return hashlib.sha256(f"{engine_id}\0{language}\0{text}".encode()).hexdigest()


def build_prompts(texts: Mapping[str, Mapping[str, str]], languages: Iterable[str], out_dir: Path,
                  cache_dir: Path, synthesizer: Synthesizer, recorded_dir: Path | None = None,
                  progress: Progress | None = None, engine_id: str = "",
                  language_dir: LanguageDir | None = None) -> BuildReport:
    """Render (or reuse) every prompt into ``out_dir``; see the module docstring."""
    languages = list(languages)
    check_texts(texts, languages)
    return _build(texts, languages, out_dir, cache_dir, synthesizer, recorded_dir, progress, engine_id,
                  language_dir, prompt_path)


def build_system_sounds(texts: Mapping[str, Mapping[str, str]], languages: Iterable[str], out_dir: Path,
                        cache_dir: Path, synthesizer: Synthesizer, recorded_dir: Path | None = None,
                        progress: Progress | None = None, engine_id: str = "",
                        language_dir: LanguageDir | None = None) -> BuildReport:
    """Render (or reuse) Asterisk's own sounds under their names for ``languages`` (see module doc)."""
    languages = list(languages)
    check_texts(texts, languages, _SYSTEM_NAME)
    return _build(texts, languages, out_dir, cache_dir, synthesizer, recorded_dir, progress, engine_id,
                  language_dir, system_sound_path)


def _build(texts: Mapping[str, Mapping[str, str]], languages: list[str], out_dir: Path, cache_dir: Path,
           synthesizer: Synthesizer, recorded_dir: Path | None, progress: Progress | None, engine_id: str,
           language_dir: LanguageDir | None, path_of: PathOf) -> BuildReport:
    engine_id = engine_id or getattr(synthesizer, "engine_id", type(synthesizer).__name__)
    report = BuildReport()
    jobs = [(language, key) for language in languages for key in texts]
    cache_dir.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for done, (language, key) in enumerate(jobs, start=1):
        target = path_of(out_dir, language, key, language_dir)
        recorded = recorded_dir / language / f"{key}.wav" if recorded_dir else None
        if recorded is not None and recorded.is_file():
            if not is_telephone_wav(recorded):
                problems.append(f"recording {language}/{key}.wav is not 8 kHz mono 16-bit WAV")
                continue
            source, kind = recorded, "recorded"
        else:
            text = texts[key].get(language, "")
            source = cache_dir / f"{cache_key(engine_id, language, text)}.wav"
            kind = "cached"
            if not source.is_file():
                partial = source.with_suffix(f".{os.getpid()}.part.wav")
                synthesizer.render(text, language, str(partial))
                partial.replace(source)
                kind = "rendered"
        if _place(source, target):
            setattr(report, kind, getattr(report, kind) + 1)
        else:
            report.unchanged += 1
        report.files.append(target)
        if progress is not None:
            progress(done, len(jobs), f"{language}/{key}")
    if problems:
        raise PromptBuildError("unusable recordings:\n  " + "\n  ".join(problems))
    return report


def _place(source: Path, target: Path) -> bool:
    """Copy ``source`` to ``target`` unless it is already there; whether it copied."""
    if target.is_file() and target.read_bytes() == source.read_bytes():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part.wav")
    shutil.copyfile(source, partial)
    partial.replace(target)
    return True


def missing_prompt_files(out_dir: Path, keys: Iterable[str], languages: Iterable[str],
                         language_dir: LanguageDir | None = None) -> list[str]:
    """Prompts that have no sound file (checked when the FastAGI server starts)."""
    return [f"{language}/{key}" for language in languages for key in keys
            if not prompt_path(out_dir, language, key, language_dir).is_file()]


def missing_system_sounds(out_dir: Path, names: Iterable[str], languages: Iterable[str],
                          language_dir: LanguageDir | None = None) -> list[str]:
    """Asterisk's own sounds that have no file in these languages (checked at start-up)."""
    return [f"{language}/{name}" for language in languages for name in names
            if not system_sound_path(out_dir, language, name, language_dir).is_file()]
