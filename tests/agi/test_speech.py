"""Speech through AudioSocket with the real vosk recogniser (the Korean test model, espeak-ng audio).

The model's accuracy on synthetic speech is poor, so these tests pin the plumbing (audio over
AudioSocket, grammar, endpointing, model loaded once) with words it does recognise, and the IVR's
confirm-and-fall-back behaviour — not accuracy.
"""

from __future__ import annotations

import socket
import struct
import uuid
import wave
from array import array
from pathlib import Path

import pytest

from agi_scripts.audiosocket import AudioSocketServer, listen_over_audiosocket
from agi_scripts.routes import IvrDependencies, build_routes
from agi_scripts.store import ModelsTicketSink, load_catalogue
from ivr.catalogue import with_keywords
from ivr.flow import FlowSettings
from ivr.speech.recognizer import without_digital_silence
from models.tickets import ticket_by_number
from tests.agi.fake_asterisk import FakeAsterisk, FakeCaller, agi_env
from tests.plugins.db import Database

pytestmark = pytest.mark.speech

KOREAN = {"DRAIN-SEWER": ["하수구"], "LOCK-DOOR": ["열쇠"], "UTIL-LEAK": ["수도"]}
EMERGENCY = ("화재",)
SPEECH = FlowSettings(speech=True, speech_language="ko", emergency_words=EMERGENCY, digit_timeout_ms=3000,
                      speech_seconds=5.0, speech_min_confidence=0.3)


@pytest.fixture
def audiosocket():  # type: ignore[no-untyped-def]
    server = AudioSocketServer(("127.0.0.1", 0))
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def stream_wav(server: AudioSocketServer, session_id: uuid.UUID, wav: Path) -> None:
    FakeCaller(speech=[wav])._audiosocket(f"{session_id},{server.target}")


@pytest.mark.parametrize("word", ["하수구", "열쇠", "화재"])
def test_a_word_is_recognised_from_audiosocket_frames(recognizer, korean, audiosocket, word) -> None:  # type: ignore[no-untyped-def]
    stream = recognizer.start(["하수구", "열쇠", "수도", "화재"])
    session = audiosocket.expect(stream, 5.0)
    stream_wav(audiosocket, session.id, korean(word))
    session.done.wait(5)
    heard = stream.result()
    assert session.ended_by == "endpoint" and session.frames < 400  # ended on silence, not the timeout
    assert heard.text == word and 0 < heard.confidence <= 1


def g711_round_trip(pcm: bytes) -> bytes:
    """16-bit audio through G.711 mu-law and back, as the simulated caller's words cross the call."""

    def encode(sample: int) -> int:
        sign = 0x80 if sample < 0 else 0
        magnitude = min(-sample if sample < 0 else sample, 32635) + 0x84
        exponent, mask = 7, 0x4000
        while exponent > 0 and not magnitude & mask:
            exponent, mask = exponent - 1, mask >> 1
        return ~(sign | exponent << 4 | (magnitude >> (exponent + 3)) & 0x0F) & 0xFF

    def decode(code: int) -> int:
        code = ~code & 0xFF
        magnitude = ((((code & 0x0F) << 3) + 0x84) << ((code >> 4) & 7)) - 0x84
        return -magnitude if code & 0x80 else magnitude

    return array("h", [decode(encode(x)) for x in array("h", pcm)]).tobytes()


@pytest.mark.parametrize("word", ["하수구", "열쇠", "수도", "화재"])
def test_digital_silence_around_the_word_does_not_hide_it(recognizer, korean, word: str) -> None:  # type: ignore[no-untyped-def]
    # What a real call delivers: the word through G.711 with exact zeros around it (Asterisk's
    # transmit_silence).  Fed as is, vosk missed 하수구 after most lengths of leading silence; with
    # those frames turned into comfort noise it hears every word after every one of them.
    with wave.open(str(korean(word))) as audio:
        call_audio = g711_round_trip(audio.readframes(audio.getnframes()))
    missed = []
    for lead in [0.2 + 0.1 * n for n in range(15)]:
        pcm = b"\0" * (2 * int(8000 * lead)) + call_audio + b"\0" * 32000
        stream = recognizer.start(["하수구", "열쇠", "수도", "화재"])
        for start in range(0, len(pcm), 320):
            if stream.accept(pcm[start:start + 320]):
                break
        if stream.result().text != word:
            missed.append(round(lead, 1))
    assert missed == []


def test_only_all_zero_frames_become_comfort_noise() -> None:
    silent, sound = b"\0" * 320, bytes(range(256)) + bytes(64)
    noise = without_digital_silence(silent, 640)
    assert len(noise) == 320 and noise != silent and max(abs(x) for x in array("h", noise)) <= 30
    assert without_digital_silence(sound) == sound and without_digital_silence(b"") == b""
    assert without_digital_silence(silent, 0) != without_digital_silence(silent, 320)


def test_an_unknown_session_is_hung_up(audiosocket) -> None:  # type: ignore[no-untyped-def]
    with socket.create_connection(("127.0.0.1", audiosocket.server_address[1]), timeout=5) as sock:
        sock.sendall(struct.pack(">BH", 0x01, 16) + uuid.uuid4().bytes)
        assert sock.recv(3) == b"\x00\x00\x00"


def test_a_digit_ends_listening(recognizer, audiosocket) -> None:  # type: ignore[no-untyped-def]
    session = audiosocket.expect(recognizer.start(["하수구"]), 5.0)
    FakeCaller(speech=["4"])._audiosocket(f"{session.id},{audiosocket.target}")
    session.done.wait(5)
    assert session.ended_by == "dtmf" and session.digit == "4"


def _ivr(agi_server, db: Database, recognizer, audiosocket):  # type: ignore[no-untyped-def]
    sink = ModelsTicketSink(db.sessions)
    catalogue = with_keywords(load_catalogue(db.sessions), "ko", KOREAN)
    deps = IvrDependencies(sink=sink, catalogue=lambda: catalogue, recognizer=recognizer, flow=SPEECH,
                           callbacks=sink)
    server = agi_server(build_routes(deps))
    server.listen_via = listen_over_audiosocket(audiosocket)
    return server


def test_speech_confirmed_then_ticketed(agi_server, db, recognizer, audiosocket, korean) -> None:  # type: ignore[no-untyped-def]
    server = _ivr(agi_server, db, recognizer, audiosocket)
    caller = FakeCaller(speech=[korean("하수구")], keys=["1", None], barge=False)
    fake = FakeAsterisk(server.port, agi_env(), caller, timeout=30).run()
    sounds = [c[2] for c in fake.commands if c[:2] == ["STREAM", "FILE"]]
    assert "hotline/speech_invite" in sounds and "hotline/svc/DRAIN-SEWER" in sounds
    assert fake.caller.variables["HOTLINE_OUTCOME"] == "queued"
    with db.session() as s:
        ticket = ticket_by_number(s, fake.caller.variables["HOTLINE_TICKET"])
        assert ticket is not None and ticket.sub_service is not None
        assert ticket.sub_service.code == "DRAIN-SEWER" and ticket.description == "[语音] 하수구"


def test_unrecognised_speech_uses_the_keypad(agi_server, db, recognizer, audiosocket, korean) -> None:  # type: ignore[no-untyped-def]
    server = _ivr(agi_server, db, recognizer, audiosocket)
    caller = FakeCaller(speech=[korean("수리")], keys=["2", "1", None], barge=False)  # 수리 is not heard
    fake = FakeAsterisk(server.port, agi_env(), caller, timeout=30).run()
    assert fake.caller.variables["HOTLINE_CATEGORY"] == "LOCK"
    assert not any(c[2] == "hotline/confirm_prefix" for c in fake.commands if c[:2] == ["STREAM", "FILE"])


def test_an_emergency_word(agi_server, db, recognizer, audiosocket, korean) -> None:  # type: ignore[no-untyped-def]
    server = _ivr(agi_server, db, recognizer, audiosocket)
    caller = FakeCaller(speech=[korean("화재")], barge=False)
    fake = FakeAsterisk(server.port, agi_env(), caller, timeout=30).run()
    assert fake.caller.variables["HOTLINE_OUTCOME"] == "emergency"
    assert fake.caller.variables["HOTLINE_QUEUE"] == "emergency"


def test_a_missing_prompt_file_means_fallback(agi_server, db, recognizer, audiosocket) -> None:  # type: ignore[no-untyped-def]
    server = _ivr(agi_server, db, recognizer, audiosocket)
    caller = FakeCaller(missing_sounds=frozenset({"hotline/speech_invite"}), barge=False)
    fake = FakeAsterisk(server.port, agi_env(), caller, timeout=30).run()
    assert fake.caller.variables.get("HOTLINE_OUTCOME") == "error"
    assert "HOTLINE_QUEUE" not in fake.caller.variables
