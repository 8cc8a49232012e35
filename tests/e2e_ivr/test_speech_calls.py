"""Speech in a real call: the simulated caller plays espeak-ng Korean into the sandbox call, the
hotline captures it over AudioSocket and the real vosk recogniser (the Korean test model, loaded once)
hears it.  Synthetic Korean is recognised only about half the time, so these tests pin the plumbing
(audio frames from the call reached the recogniser, the result is logged per call) and that the IVR
did what the recogniser's answer calls for: a sure catalogue match is confirmed with 1 and ticketed
in that sub-service, anything else falls back to the keypad menu."""

from __future__ import annotations

import logging
import re
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agi_scripts.audiosocket import AudioSocketServer, listen_over_audiosocket
from agi_scripts.routes import IvrDependencies, build_routes
from agi_scripts.server import FastAgiServer, serve_in_thread
from agi_scripts.store import ModelsTicketSink, load_catalogue
from hotline.commands.prompts import language_dir, prompts_dir
from hotline.config import Settings
from hotline.runtime import sessions_for
from hotline.simulator.calls import CallResult, Simulator
from hotline.simulator.probe_agi import ProbeAgiServer
from hotline.simulator.script import Step, dtmf, hangup, play, wait
from ivr.catalogue import with_keywords
from ivr.flow import FlowSettings
from ivr.prompt_build import prompt_path
from ivr.prompts import catalogue_prompt_fallback
from ivr.speech.recognizer import VoskRecognizer
from models.enums import CallOutcome
from tests.e2e_ivr.helpers import call_record, ticket, tickets_of_call

pytestmark = pytest.mark.speech

KOREAN = {"DRAIN-SEWER": ["하수구"], "LOCK-DOOR": ["열쇠"], "UTIL-LEAK": ["수도"]}
LISTEN_SECONDS = 5.0
MIN_CONFIDENCE = 0.3
SPEECH = FlowSettings(speech=True, speech_language="ko", emergency_words=("화재",), digit_timeout_ms=4000,
                      speech_seconds=LISTEN_SECONDS, speech_min_confidence=MIN_CONFIDENCE, describe=False)
_SPEECH_LINE = re.compile(r"step=speech text='(?P<text>[^']*)' confidence=(?P<conf>[0-9.]+) choice=(?P<choice>\S+)")
_LISTEN_LINE = re.compile(r"step=listen frames=(?P<frames>\d+) voiced=(?P<voiced>\d+) ended_by=(?P<ended>\S+)")


@pytest.fixture
def speech_agi(ivr_store: Settings, fastagi_probe: ProbeAgiServer,  # type: ignore[no-untyped-def]
               recognizer: VoskRecognizer) -> Iterator[FastAgiServer]:
    """The project's FastAGI server with speech on: vosk (Korean test model) over AudioSocket."""
    fastagi_probe.stop()
    engine, sessions = sessions_for(ivr_store)
    sink = ModelsTicketSink(sessions)
    catalogue = with_keywords(load_catalogue(sessions), "ko", KOREAN)
    audio = AudioSocketServer((ivr_store.audiosocket_host, ivr_store.audiosocket_port))
    threading.Thread(target=audio.serve_forever, daemon=True).start()
    deps = IvrDependencies(sink=sink, catalogue=lambda: catalogue, recognizer=recognizer, flow=SPEECH,
                           callbacks=sink)
    server = FastAgiServer((ivr_store.agi_host, ivr_store.agi_port), build_routes(deps),
                           listen_via=listen_over_audiosocket(audio), prompt_fallback=catalogue_prompt_fallback)
    thread = serve_in_thread(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        audio.shutdown()
        audio.server_close()
        thread.join(timeout=5)
        engine.dispose()
        fastagi_probe.start()


def seconds_of(settings: Settings, *keys: str) -> float:
    """How long the rendered Mandarin prompts play."""
    total = 0.0
    for key in keys:
        with wave.open(str(prompt_path(prompts_dir(settings), "zh", key, language_dir(settings)))) as audio:
            total += audio.getnframes() / audio.getframerate()
    return total


@dataclass
class Heard:
    """What the IVR logged for one call's speech step."""

    frames: int
    voiced: int
    ended_by: str
    text: str
    confidence: float
    choice: str

    @property
    def sure_match(self) -> bool:
        """A catalogue choice at or above the confidence the IVR asks for."""
        return self.choice not in ("-", "emergency") and self.confidence >= MIN_CONFIDENCE


def heard_on(caplog: pytest.LogCaptureFixture, uniqueid: str) -> Heard:
    lines = [r.getMessage() for r in caplog.records if f"[{uniqueid}]" in r.getMessage()]
    listen = next(m for m in map(_LISTEN_LINE.search, lines) if m)
    speech = next((m for m in map(_SPEECH_LINE.search, lines) if m), None)
    assert speech is not None, f"no recognition result logged (a key pressed while listening?): {lines}"
    return Heard(int(listen["frames"]), int(listen["voiced"]), listen["ended"], speech["text"], float(speech["conf"]),
                 speech["choice"])


def after_speaking(settings: Settings, word: Path, simulator: Simulator, then: list[Step]) -> list[Step]:
    """Wait for the welcome and the speech invitation, say ``word``, then ``then``."""
    listening_starts = seconds_of(settings, "welcome", "speech_invite") + 1.0
    return [wait(round(listening_starts, 1)), play(simulator.stage_sound(word)), *then]


def test_spoken_need_is_confirmed_or_falls_back_to_the_keypad_consistently(  # type: ignore[no-untyped-def]
        simulator: Simulator, speech_agi, ivr_store, korean, caplog) -> None:
    caplog.set_level(logging.INFO, logger="hotline")
    # 1 pressed every 1.5 s once listening is surely over: it confirms a recognised choice, or in the
    # keypad menu it picks category 1 then its sub-service 1.
    presses = [wait(LISTEN_SECONDS + 0.5)] + [s for _ in range(10) for s in (dtmf("1"), wait(1.5))]
    confirm = simulator.start_call(caller="13800000501", hold=35,
                                   steps=after_speaking(ivr_store, korean("하수구"), simulator, presses))
    # the same, but the caller hangs up 2 s after listening ends (at the confirmation if there is one)
    leave = simulator.start_call(caller="13800000502", hold=1,
                                 steps=after_speaking(ivr_store, korean("하수구"), simulator,
                                                      [wait(LISTEN_SECONDS + 2.0), hangup()]))
    result, left = confirm.result(), leave.result()

    heard = heard_on(caplog, result.hotline_uniqueid)
    # the caller's word crossed the call and reached the recogniser (not just the silence between words)
    assert heard.voiced >= 10 and heard.ended_by in ("endpoint", "timeout"), heard
    record = call_record(ivr_store, result.hotline_uniqueid, lambda c: bool(c.ivr_path))
    assert heard.text in record.ivr_path[-1]["speech"]
    booked = ticket(ivr_store, result.variables["HOTLINE_TICKET"])
    if heard.choice == "emergency" and heard.confidence >= MIN_CONFIDENCE:  # heard as 화재: no confirmation
        assert result.variables["HOTLINE_OUTCOME"] == "emergency" and result.variables["HOTLINE_QUEUE"] == "emergency"
        return
    assert booked is not None and booked.sub_service is not None and result.variables["HOTLINE_OUTCOME"] == "queued"
    if heard.sure_match:
        assert "confirm" in record.ivr_path[-1]["steps"].split(">"), record.ivr_path
        assert booked.sub_service.code == heard.choice and booked.description == f"[语音] {heard.text}"
    else:
        assert "confirm" not in record.ivr_path[-1]["steps"].split(">"), record.ivr_path
        assert "main_menu" in record.ivr_path[-1]["steps"].split(">")
        assert booked.sub_service.code == "APPL-TV" and booked.description is None  # keyed 1, 1

    check_abandoned(left, heard_on(caplog, left.hotline_uniqueid), ivr_store)
    assert speech_agi.stats.failed == 0


def check_abandoned(result: CallResult, heard: Heard, settings: Settings) -> None:
    """The caller who hung up: abandoned in the IVR with no ticket, at the step the answer led to."""
    assert heard.voiced >= 10, heard
    record = call_record(settings, result.hotline_uniqueid, lambda c: c.outcome is CallOutcome.ABANDONED_IVR)
    assert record.ticket_id is None and tickets_of_call(settings, result.hotline_uniqueid) == []
    last = record.ivr_path[-1]["steps"].split(">")[-1]
    # sure: hung up at the confirmation; else while hearing "not understood" or the keypad menu
    assert last in (("confirm",) if heard.sure_match else ("speech", "main_menu")), (heard, record.ivr_path)
