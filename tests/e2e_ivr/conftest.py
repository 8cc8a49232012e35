"""End-to-end IVR calls: the sandbox Asterisk, the call simulator and the project's FastAGI server
with a seeded ticket store and rendered prompts."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_scripts.server import FastAgiServer, serve_in_thread
from hotline.commands.agi import build_server
from hotline.commands.prompts import language_dir, prompts_dir
from hotline.config import Settings
from hotline.runtime import sessions_for
from hotline.sandbox.ports import free_ports
from hotline.sandbox.runner import Sandbox
from hotline.simulator.probe_agi import ProbeAgiServer
from ivr.prompt_build import build_prompts, build_system_sounds
from ivr.prompts import SYSTEM_SOUND_LANGUAGES, SYSTEM_SOUNDS, all_prompts
from ivr.speech.tts import Pyttsx3Synthesizer
from models.schema import upgrade_to_head
from models.seed import seed_all

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """These tests place real SIP calls through the session's sandbox Asterisk."""
    for item in items:
        if "tests/e2e_ivr/" in str(item.fspath):
            item.add_marker(pytest.mark.pbx)


@pytest.fixture(scope="session")
def ivr_settings(pbx_settings: Settings) -> Settings:
    """The PBX session's settings with IVR timings short enough for tests."""
    (audiosocket_port,) = free_ports(1)
    return dataclasses.replace(pbx_settings, ivr_digit_timeout_ms=4000, speech_enabled=False,
                               ivr_describe=False,
                               audiosocket_port=audiosocket_port, speech_listen_seconds=5,
                               speech_min_confidence_percent=30)


@pytest.fixture(scope="session")
def ivr_store(ivr_settings: Settings, pbx: Sandbox) -> Settings:
    """The session's ticket store migrated and seeded, and every prompt rendered into the sandbox."""
    engine, sessions = sessions_for(ivr_settings)
    upgrade_to_head(engine)
    with sessions.begin() as session:
        seed_all(session, companies=20)
    from agi_scripts.store import load_catalogue

    texts = all_prompts(load_catalogue(sessions))
    engine.dispose()
    synthesizer, cache = Pyttsx3Synthesizer(), ivr_settings.data_dir / "prompt-cache"
    build_prompts(texts, ["zh", "en"], prompts_dir(ivr_settings), cache, synthesizer,
                  language_dir=language_dir(ivr_settings))
    build_system_sounds(SYSTEM_SOUNDS, SYSTEM_SOUND_LANGUAGES, prompts_dir(ivr_settings), cache, synthesizer,
                        language_dir=language_dir(ivr_settings))
    return ivr_settings


def played_on(pbx: Sandbox, channel: str) -> list[tuple[str, str]]:
    """``(sound, language)`` of every file Asterisk played on ``channel`` so far (its full log)."""
    pattern = re.compile(r"<" + re.escape(channel) + r"> Playing '([^']+)'[^\n]*? \(language '([^']*)'\)")
    text = pbx.layout.full_log.read_text(encoding="utf-8", errors="replace")
    return [(found.group(1).rsplit(".", 1)[0], found.group(2)) for found in pattern.finditer(text)]


@pytest.fixture
def ivr_agi(ivr_store: Settings, fastagi_probe: ProbeAgiServer) -> Iterator[FastAgiServer]:
    """The project's FastAGI server with the real IVR on the dialplan's address (instead of the probe)."""
    fastagi_probe.stop()
    server = build_server(ivr_store)
    thread = serve_in_thread(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        fastagi_probe.start()


@pytest.fixture
def ivr_agi_process(ivr_store: Settings, fastagi_probe: ProbeAgiServer) -> Iterator[subprocess.Popen[bytes]]:
    """``hotline agi`` as a separate process (so a test can kill it mid-call)."""
    fastagi_probe.stop()
    args = [sys.executable, "-m", "hotline.cli", "--data-dir", str(ivr_store.data_dir),
            "--set", f"agi_port={ivr_store.agi_port}", "--set", "speech_enabled=false",
            "--set", f"asterisk_instance={ivr_store.asterisk_instance}", "agi"]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_listening(ivr_store.agi_host, ivr_store.agi_port, process)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        fastagi_probe.start()


def _wait_listening(host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"hotline agi exited: {error}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("hotline agi did not start listening")
