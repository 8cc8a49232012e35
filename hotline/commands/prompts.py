"""``hotline prompts``: render the IVR's prompts to the sound folders Asterisk plays from."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import click

from hotline.cli import settings_of
from hotline.config import Settings, path_is_set


def prompts_dir(settings: Settings) -> Path:
    """The sounds folder prompts go to: ``prompts_dir`` or the Asterisk instance's sounds folder."""
    if path_is_set(settings.prompts_dir):
        return settings.prompts_dir
    from hotline.sandbox.layout import layout_for

    layout = layout_for(settings)
    return layout.host(layout.data_dir / "sounds")


def resolve_in_root(root: Path, inner: PurePosixPath, hops: int = 20) -> Path:
    """The host path of ``inner`` inside a chroot, following the root's own symlinks.

    Debian's Asterisk links ``sounds/en`` to ``/etc/alternatives/...``: an absolute link that
    means the root's ``/etc``, not the host's.
    """
    parts = list(inner.parts[1:]) if inner.is_absolute() else list(inner.parts)
    current = root
    while parts:
        candidate = current / parts.pop(0)
        if candidate.is_symlink():
            hops -= 1
            if hops < 0:
                raise click.ClickException(f"too many symlinks below {root}")
            link = PurePosixPath(os.readlink(candidate))
            rest = [*link.parts[1:], *parts] if link.is_absolute() else [*link.parts, *parts]
            base = root if link.is_absolute() else current
            return resolve_in_root(base, PurePosixPath(*rest), hops) if rest else base
        current = candidate
    return current


def language_dir(settings: Settings) -> Callable[[str], Path]:
    """Each language's sounds folder as the host sees it (through the sandbox's symlinks)."""
    if path_is_set(settings.prompts_dir):
        return lambda language: settings.prompts_dir / language
    from hotline.sandbox.layout import layout_for

    layout = layout_for(settings)
    sounds = layout.data_dir / "sounds"
    if layout.root is None:
        return lambda language: Path(sounds) / language
    root = layout.root
    return lambda language: resolve_in_root(root, sounds / language)


def cache_dir(settings: Settings) -> Path:
    """Where rendered prompts are kept by content hash."""
    return settings.prompts_cache_dir if path_is_set(settings.prompts_cache_dir) else \
        settings.data_dir / "prompt-cache"


def recorded_dir(settings: Settings) -> Path | None:
    """Human recordings that override synthetic prompts, if configured."""
    return settings.prompts_recorded_dir if path_is_set(settings.prompts_recorded_dir) else None


def catalogue_texts(settings: Settings) -> dict[str, dict[str, str]]:
    """Every prompt text, with the service catalogue read from the database."""
    from sqlalchemy.exc import SQLAlchemyError

    from agi_scripts.store import load_catalogue
    from hotline.runtime import sessions_for
    from ivr.prompts import all_prompts

    engine, sessions = sessions_for(settings)
    try:
        catalogue = load_catalogue(sessions)
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"cannot read the service catalogue (run 'hotline db seed' first): {exc}") from None
    finally:
        engine.dispose()
    if not catalogue.categories:
        raise click.ClickException("the service catalogue is empty: run 'hotline db seed' first")
    return all_prompts(catalogue)


@click.group("prompts")
def prompts() -> None:
    """The IVR's prompts: every text in one catalogue (zh, en), rendered to 8 kHz WAV."""


@prompts.command("build")
@click.option("--language", "languages", multiple=True, default=("zh", "en"), show_default=True,
              type=click.Choice(["zh", "en"]), help="Languages to build.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Sounds folder with one folder per language (default: prompts_dir, or Asterisk's).")
@click.pass_context
def build(ctx: click.Context, languages: tuple[str, ...], out: Path | None) -> None:
    """Render every prompt (cached by content; human recordings of the same name win).

    Also renders, for languages Asterisk ships no sounds in (Mandarin), the sounds Asterisk itself
    plays under their own names: app_queue's position announcements and say.c's numbers.
    """
    from ivr.prompt_build import PromptBuildError, build_prompts, build_system_sounds
    from ivr.prompts import SYSTEM_SOUND_LANGUAGES, SYSTEM_SOUNDS
    from ivr.speech.tts import Pyttsx3Synthesizer, RenderError

    settings = settings_of(ctx)
    texts = catalogue_texts(settings)
    target = out or prompts_dir(settings)
    system_languages = [language for language in languages if language in SYSTEM_SOUND_LANGUAGES]
    total = len(texts) * len(languages) + len(SYSTEM_SOUNDS) * len(system_languages)
    synthesizer = Pyttsx3Synthesizer()
    folders = None if out else language_dir(settings)
    with click.progressbar(length=total, label=f"prompts -> {target}", show_pos=True,
                           item_show_func=lambda name: name or "") as bar:
        def progress(done: int, count: int, name: str) -> None:
            bar.current_item = name  # type: ignore[attr-defined]
            bar.update(1)

        try:
            report = build_prompts(texts, languages, target, cache_dir(settings), synthesizer,
                                   recorded_dir(settings), progress, language_dir=folders)
            system = build_system_sounds(SYSTEM_SOUNDS, system_languages, target, cache_dir(settings),
                                         synthesizer, recorded_dir(settings), progress, language_dir=folders)
        except (PromptBuildError, RenderError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{report.total} prompt files: {report.rendered} rendered, {report.cached} from cache, "
               f"{report.recorded} human recordings, {report.unchanged} unchanged")
    if system_languages:
        click.echo(f"{system.total} Asterisk sounds ({', '.join(system_languages)}: queue position, "
                   f"numbers): {system.rendered} rendered, {system.cached} from cache, "
                   f"{system.recorded} human recordings, {system.unchanged} unchanged")


@prompts.command("list")
@click.option("--language", default="zh", show_default=True, type=click.Choice(["zh", "en"]))
@click.pass_context
def list_prompts(ctx: click.Context, language: str) -> None:
    """Print every prompt key with its text (and Asterisk's own sounds rendered for the language)."""
    from ivr.prompts import SYSTEM_SOUND_LANGUAGES, SYSTEM_SOUNDS

    for key, by_language in sorted(catalogue_texts(settings_of(ctx)).items()):
        click.echo(f"{key}\t{by_language.get(language, '')}")
    if language in SYSTEM_SOUND_LANGUAGES:
        for name, by_language in sorted(SYSTEM_SOUNDS.items()):
            click.echo(f"{name}\t{by_language.get(language, '')}")
