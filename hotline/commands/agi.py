"""``hotline agi``: the FastAGI server that runs the IVR routes."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from hotline.cli import settings_of
from hotline.config import Settings

if TYPE_CHECKING:
    from agi_scripts.audiosocket import AudioSocketServer
    from agi_scripts.routes import IvrDependencies
    from agi_scripts.server import FastAgiServer
    from ivr.ports import Recognizer

DRAIN_SECONDS = 10
log = logging.getLogger("hotline.agi")


def configure_logging(level: str) -> None:
    """One line per call step, on stderr."""
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


def build_speech(settings: Settings) -> tuple[Recognizer | None, AudioSocketServer | None]:
    """The vosk recogniser (model loaded once, here) and the AudioSocket server, when speech is on.

    Speech needs ``vosk_model_path`` or an installed model package of ``speech_language``;
    without one the IVR runs keypad-only.
    """
    if not settings.speech_enabled:
        return None, None
    from agi_scripts.audiosocket import AudioSocketServer
    from ivr.speech.recognizer import SpeechUnavailable, VoskRecognizer, packaged_model_path

    path = settings.vosk_model_path or packaged_model_path(settings.speech_language)
    if not path:
        log.info("speech off: no vosk model for language %r (set vosk_model_path)", settings.speech_language)
        return None, None
    try:
        recognizer = VoskRecognizer(path)
    except SpeechUnavailable as exc:
        log.warning("speech off: %s", exc)
        return None, None
    log.info("speech on: vosk model %s, AudioSocket on %s:%d", path, settings.audiosocket_host,
             settings.audiosocket_port)
    return recognizer, AudioSocketServer((settings.audiosocket_host, settings.audiosocket_port))


def build_dependencies(settings: Settings, recognizer: Recognizer | None = None) -> IvrDependencies:
    """The ticket store, catalogue and flow settings the routes run with."""
    from agi_scripts.routes import IvrDependencies
    from agi_scripts.store import CachedCatalogue, ModelsTicketSink, load_catalogue
    from hotline.runtime import sessions_for
    from ivr.flow import FlowSettings

    _, sessions = sessions_for(settings)
    sink = ModelsTicketSink(sessions, region=settings.phone_region)
    flow = FlowSettings(
        digit_timeout_ms=settings.ivr_digit_timeout_ms, max_retries=settings.ivr_max_retries,
        describe=settings.ivr_describe, speech=settings.speech_enabled,
        speech_language=settings.speech_language, speech_seconds=float(settings.speech_listen_seconds),
        speech_min_confidence=settings.speech_min_confidence_percent / 100,
    )
    return IvrDependencies(sink=sink, catalogue=CachedCatalogue(lambda: load_catalogue(sink.read_sessions)),
                           recognizer=recognizer, flow=flow, language=settings.language, callbacks=sink,
                           surveys=sink)


def build_server(settings: Settings, host: str | None = None, port: int | None = None,
                 speech: tuple[Recognizer | None, AudioSocketServer | None] = (None, None)) -> FastAgiServer:
    """The FastAGI server with its routes, built from the settings (nothing starts yet)."""
    from agi_scripts.audiosocket import listen_over_audiosocket
    from agi_scripts.routes import build_routes
    from agi_scripts.server import FastAgiServer, ServerLimits
    from ivr.prompts import catalogue_prompt_fallback

    recognizer, audio = speech
    limits = ServerLimits(command_timeout_seconds=float(settings.agi_command_timeout_seconds),
                          max_calls=settings.agi_max_calls)
    address = (host or settings.agi_host, settings.agi_port if port is None else port)
    return FastAgiServer(address, build_routes(build_dependencies(settings, recognizer if audio else None)),
                         limits, listen_via=listen_over_audiosocket(audio) if audio else None,
                         prompt_fallback=catalogue_prompt_fallback)


def missing_prompts(settings: Settings) -> tuple[list[str], list[str]]:
    """Prompt files missing for the IVR's language: ``(fixed and number prompts, catalogue names)``.

    Also counts Asterisk's own sounds rendered for that language (queue position, numbers) as
    fixed.  Only meaningful where the FastAGI server sees Asterisk's sound folders (the sandbox, a
    shared folder); elsewhere everything looks missing and the warning says where it looked.
    """
    from agi_scripts.store import load_catalogue
    from hotline.commands.prompts import language_dir, prompts_dir
    from hotline.runtime import sessions_for
    from ivr.prompt_build import missing_prompt_files, missing_system_sounds
    from ivr.prompts import FIXED, NUMBER_WORDS, SYSTEM_SOUND_LANGUAGES, SYSTEM_SOUNDS, catalogue_prompts

    out, folders, languages = prompts_dir(settings), language_dir(settings), [settings.language]
    fixed = missing_prompt_files(out, [*FIXED, *NUMBER_WORDS], languages, folders)
    if settings.language in SYSTEM_SOUND_LANGUAGES:
        fixed += missing_system_sounds(out, SYSTEM_SOUNDS, languages, folders)
    engine, sessions = sessions_for(settings)
    try:
        names = catalogue_prompts(load_catalogue(sessions))
    finally:
        engine.dispose()
    return fixed, missing_prompt_files(out, names, languages, folders)


def warn_about_missing_prompts(settings: Settings) -> list[str]:
    """Say so at start-up when prompt files are missing; the catalogue names missing (``lang/key``).

    A missing fixed prompt sends calls that need it to the dialplan's human fallback; a missing
    catalogue name is read as "this service" instead (the menu keeps working).
    """
    try:
        fixed, catalogue = missing_prompts(settings)
    except Exception as exc:
        log.warning("could not check the prompt files: %s", exc)
        return []
    if fixed:
        log.warning("%d prompt files are missing (run 'hotline prompts build'); calls that need them "
                    "go to the human queue, e.g. %s", len(fixed), ", ".join(fixed[:3]))
    if catalogue:
        log.warning("%d service names have no prompt file (run 'hotline prompts build'); the menu says "
                    "\"this service\" instead, e.g. %s", len(catalogue), ", ".join(catalogue[:3]))
    return catalogue


def write_stats(server: FastAgiServer, path: Path) -> None:
    """Write the server's counters and AGI round trips as JSON (for the call-load benchmark)."""
    path.write_text(json.dumps(server.stats.snapshot()), encoding="utf-8")


@click.command("agi")
@click.option("--host", help="Address to listen on (default: the agi_host setting, loopback).")
@click.option("--port", type=int, help="TCP port (default: the agi_port setting, 4573).")
@click.option("--stats-file", type=click.Path(dir_okay=False, path_type=Path),
              help="On exit, write call counters and AGI command round trips here (JSON).")
@click.pass_context
def agi(ctx: click.Context, host: str | None, port: int | None, stats_file: Path | None) -> None:
    """Run the FastAGI server that Asterisk's AGI(agi://...) calls reach."""
    settings = settings_of(ctx)
    configure_logging(settings.agi_log_level)
    speech = build_speech(settings)
    server = build_server(settings, host, port, speech)
    audio = speech[1]
    if audio is not None:
        threading.Thread(target=audio.serve_forever, name="audiosocket", daemon=True).start()
    for name in warn_about_missing_prompts(settings):
        language, _, key = name.partition("/")
        server.prompts.add_missing(language, key)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping (active calls finish on their own threads)", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host_bound, port_bound = server.server_address[:2]
    log.info("FastAGI listening on %s:%d, routes: %s", host_bound, port_bound,
             ", ".join(sorted(server.routes)))
    try:
        server.serve_forever()
        left = server.drain(DRAIN_SECONDS)
        if left:
            log.warning("%d calls still active after %d s; they fall back to the dialplan",
                        left, DRAIN_SECONDS)
    finally:
        server.server_close()
        if audio is not None:
            audio.shutdown()
            audio.server_close()
        if stats_file is not None:
            write_stats(server, stats_file)
