"""The simulator: places calls from the simulated carrier and plays the agent phones and residents.

A call is an AMI Originate of ``Local/s@sim-dial`` (see ``asterisk_conf/sandbox/``); the caller
number and name travel base64-encoded, the steps as fixed-alphabet variables.  A *direct* call
(``start_call(direct=True)``, what the call-load benchmark places) originates the carrier's SIP
channel itself: two channels per call instead of four and no bridge, for callers whose number is
digits and whose name is plain text; it reports no dial status when it is not answered.  The simulator
follows the call through AMI events: its own UserEvents on the simulated side, and on the hotline
side the channel whose INVITE carried this call's ``X-Hotline-Sim`` header (its variables, the
agent who answered, its hangup).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import shutil
import subprocess
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hotline.sandbox.runner import Sandbox
from hotline.simulator.ami import AmiClient, AmiError, Message
from hotline.simulator.script import Step, parse_digits, play, step_variables

HOTLINE_CHANNEL = re.compile(r"^PJSIP/(carrier|bench-carrier)-")
SIM_HEADER = "X-Hotline-Sim"
_NUMBER = re.compile(r"^[0-9*#+]{1,32}$")
_SEAT = re.compile(r"^agent\d{2,3}$")
_RESIDENT = re.compile(r"^\d{3,20}$")
_PLAIN_NUMBER = re.compile(r"^[0-9]{1,20}$")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9 ._-]{0,40}$")
_TRUNKS = ("to-hotline", "to-hotline-bench")


class SimulatorError(RuntimeError):
    """A simulated call could not be placed or did not finish in time."""


@dataclass
class CallResult:
    """What happened to one simulated call, as ``hotline call`` reports it."""

    sim_id: str
    number: str
    caller_number: str
    caller_name: str
    answered: bool = False
    dial_status: str = ""
    hangup_cause: str = ""
    ended_by: str = ""  # caller | hotline | "" (never answered)
    duration: float = 0.0  # seconds from answer to hangup
    digits_sent: str = ""
    hotline_channel: str = ""
    hotline_uniqueid: str = ""
    hotline_linkedid: str = ""
    hotline_caller_name: str = ""  # the caller ID name as the hotline's channel received it
    hotline_hangup_cause: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    queue: str = ""
    queue_joined_after: float | None = None  # seconds from answer until the caller joined a queue
    agent: str = ""
    timed_out: bool = False

    def ivr_variables(self) -> dict[str, str]:
        """The variables the IVR and the dialplan decided on (HOTLINE_*, AGISTATUS, QUEUESTATUS)."""
        keep = ("HOTLINE_", "AGISTATUS", "QUEUESTATUS", "DIALSTATUS")
        return {k: v for k, v in self.variables.items() if k.startswith(keep)}

    def as_dict(self) -> dict[str, object]:
        """Plain values (for JSON)."""
        return asdict(self)


@dataclass
class _Tracked:
    result: CallResult
    done: threading.Event = field(default_factory=threading.Event)
    hotline_gone: threading.Event = field(default_factory=threading.Event)
    answered_at: float = 0.0


class PendingCall:
    """A call placed without waiting; ``result()`` waits for it to end."""

    def __init__(self, simulator: Simulator, tracked: _Tracked, timeout: float) -> None:
        self._simulator, self._tracked, self._timeout = simulator, tracked, timeout

    @property
    def sim_id(self) -> str:
        """The call's id in the simulator's events."""
        return self._tracked.result.sim_id

    def answered(self, timeout: float = 10.0) -> bool:
        """Wait until the call is answered (or ends); True if answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._tracked.done.is_set():
            if self._tracked.result.answered:
                return True
            time.sleep(0.05)
        return self._tracked.result.answered

    def result(self, timeout: float | None = None) -> CallResult:
        """Wait for the call to end and return what happened."""
        return self._simulator._finish(self._tracked, self._timeout if timeout is None else timeout)

    def hotline_side(self, timeout: float = 10.0) -> tuple[str, str]:
        """Wait until the hotline's channel of this call is known: ``(channel name, uniqueid)``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._tracked.done.is_set():
            result = self._tracked.result
            if result.hotline_channel and result.hotline_uniqueid:
                return result.hotline_channel, result.hotline_uniqueid
            time.sleep(0.05)
        raise SimulatorError(f"call {self.sim_id}: the hotline's channel was not seen in {timeout} s")


class Simulator:
    """The simulated carrier, agent phones and residents of one sandbox."""

    def __init__(self, sandbox: Sandbox, ami: AmiClient) -> None:
        self.sandbox = sandbox
        self.ami = ami
        self._calls: dict[str, _Tracked] = {}
        self._by_uniqueid: dict[str, _Tracked] = {}
        self._hotline_vars: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._lookups = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sim-lookup")
        self.callee_events: list[Message] = []
        self.user_events: list[Message] = []
        self._unsubscribe = ami.subscribe(self._on_event)

    @classmethod
    def connect(cls, sandbox: Sandbox, events: str = "on") -> Simulator:
        """Log in to the sandbox's AMI as the simulator's user."""
        site = sandbox.site
        if site is None:
            from hotline.sandbox.siteconf import SiteValues

            site = SiteValues.from_settings(sandbox.settings, sandbox.layout)
        host, port = site.ami
        ami = AmiClient(host, port, site.sim_ami_user, site.sim_ami_secret)
        deadline = time.monotonic() + 10
        while True:
            try:
                ami.connect(events=events)
                break
            except (OSError, AmiError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
                ami = AmiClient(host, port, site.sim_ami_user, site.sim_ami_secret)
        return cls(sandbox, ami)

    def close(self) -> None:
        """Stop following events and log off."""
        self._unsubscribe()
        self._lookups.shutdown(wait=False, cancel_futures=True)
        self.ami.close()

    # -- calls into the hotline -------------------------------------------------------------------
    def start_call(self, number: str = "96345", caller: str = "13800000001", name: str = "",
                   digits: str = "", say: Path | str | None = None, steps: list[Step] | None = None,
                   hold: float = 30.0, ring: int = 30, trunk: str = "to-hotline",
                   timeout: float | None = None, direct: bool = False) -> PendingCall:
        """Place a call and return at once; the caller presses ``digits`` (``1,w2,3``), then plays
        ``say``, then stays ``hold`` seconds unless the hotline hangs up first.

        ``direct``: originate the carrier's SIP channel itself instead of through ``sim-dial``'s
        Local channels and bridge (half the channels, no bridge thread per call); only for a
        number of digits and a plain name, and a call not answered then ends as timed out."""
        if not _NUMBER.match(number):
            raise SimulatorError(f"cannot dial {number!r}")
        if trunk not in _TRUNKS:
            raise SimulatorError(f"unknown trunk {trunk!r}")
        if direct and not (_PLAIN_NUMBER.match(caller) and _PLAIN_NAME.match(name)):
            raise SimulatorError("a direct call needs a caller number of digits and a plain name")
        plan = list(steps) if steps is not None else parse_digits(digits)
        if say is not None:
            plan.append(play(self.stage_sound(Path(say))))
        sim_id = secrets.token_hex(8)
        tracked = _Tracked(CallResult(sim_id=sim_id, number=number, caller_number=caller, caller_name=name))
        with self._lock:
            self._calls[sim_id] = tracked
        variables = {"SIM_ID": sim_id, "SIM_MAX": f"{max(0.0, hold):.1f}", **step_variables(plan)}
        if direct:  # sim-caller reads only these; the rest is sim-dial's
            headers = _direct_call_headers(number, caller, name, trunk, ring, sim_id)
        else:
            variables |= {"SIM_EXTEN": number, "SIM_TRUNK": trunk, "SIM_RING": str(int(ring)),
                          "SIM_NUM_B64": _b64(caller), "SIM_NAME_B64": _b64(name)}
            if len(variables["SIM_NAME_B64"]) > NAME_PART_CHARS:  # an AMI header line holds about 1 KB
                variables.update(_name_parts(variables.pop("SIM_NAME_B64")))
            headers = [("Channel", "Local/s@sim-dial"), ("Context", "sim-caller"), ("Exten", "s"),
                       ("Priority", "1"), ("Async", "true"), ("Timeout", str((int(ring) + 5) * 1000)),
                       ("CallerID", "simulator <0>")]
        headers += [("Variable", f"{key}={value}") for key, value in variables.items()]
        reply = self.ami.action("Originate", headers)
        if reply.get("Response") != "Success":
            raise SimulatorError(f"originate refused: {reply.get('Message', reply)}")
        total = timeout if timeout is not None else ring + hold + sum(_step_seconds(s) for s in plan) + 15
        return PendingCall(self, tracked, total)

    def place_call(self, *args: object, **kwargs: object) -> CallResult:
        """Place a call and wait until it ends (arguments as :meth:`start_call`)."""
        return self.start_call(*args, **kwargs).result()  # type: ignore[arg-type]

    def stage_sound(self, path: Path) -> str:
        """Copy a WAV into the sandbox as 8 kHz mono 16-bit and return its Playback name."""
        data = path.read_bytes()
        name = hashlib.sha256(data).hexdigest()[:16]
        inner = self.sandbox.layout.spool / "sim-sounds" / name
        host = self.sandbox.layout.host(inner).with_suffix(".wav")
        host.parent.mkdir(parents=True, exist_ok=True)
        if not host.exists():
            _write_8k_wav(path, host)
        return str(inner)

    def _finish(self, tracked: _Tracked, timeout: float) -> CallResult:
        if not tracked.done.wait(timeout):
            tracked.result.timed_out = True
        if tracked.result.hotline_uniqueid:
            tracked.hotline_gone.wait(3.0)
        result = tracked.result
        with self._lock:
            self._calls.pop(result.sim_id, None)
            self._by_uniqueid.pop(result.hotline_uniqueid, None)
            result.variables = dict(self._hotline_vars.pop(result.hotline_uniqueid, result.variables))
        return result

    # -- simulated agent phones ----------------------------------------------------------------
    def agent_answers(self, seat: str, ring: float = 0.5, hold: float = 3.0, digits: str = "") -> None:
        """From now on the seat's phone answers after ``ring`` s, presses ``digits``, hangs up after
        ``hold`` s."""
        steps = [*parse_digits(digits), *parse_digits(f"w{hold}")]
        self._put_behaviour(f"sim-agent/{_seat(seat)}", ring, steps)

    def agent_never_answers(self, seat: str) -> None:
        """The seat's phone rings and is never answered."""
        self.ami.action("DBDelTree", Family=f"sim-agent/{_seat(seat)}")

    def login_agent(self, seat: str, queue: str = "hotline-general") -> None:
        """Add the seat's phone to a queue (what the console does over AMI)."""
        reply = self.ami.action("QueueAdd", Queue=queue, Interface=f"PJSIP/{_seat(seat)}",
                                MemberName=seat, StateInterface=f"PJSIP/{seat}", Paused="false")
        if reply.get("Response") != "Success" and "Already there" not in reply.get("Message", ""):
            raise SimulatorError(f"cannot log {seat} in to {queue}: {reply.get('Message')}")

    def logout_agent(self, seat: str, queue: str = "hotline-general") -> None:
        """Remove the seat's phone from a queue (no error if it was not a member)."""
        self.ami.action("QueueRemove", Queue=queue, Interface=f"PJSIP/{_seat(seat)}")

    def agent_dials(self, seat: str, code: str, hold: float = 3.0) -> None:
        """The seat's phone dials a feature code (``*71`` login, ``*72`` logout, ``*73`` pause,
        ``*74`` unpause) with its credentials and stays ``hold`` seconds."""
        if code not in {"*71", "*72", "*73", "*74"}:
            raise SimulatorError(f"unknown agent code {code!r}")
        reply = self.ami.action("Originate", Channel=f"PJSIP/{code}@sim-{_seat(seat)}", Application="Wait",
                                Data=f"{hold:.1f}", Async="true", CallerID=f"{seat} <{seat}>")
        if reply.get("Response") != "Success":
            raise SimulatorError(f"originate refused: {reply.get('Message', reply)}")

    def wait_agents_registered(self, seats: list[str], timeout: float = 20.0) -> None:
        """Make the simulated phones register now and wait until the hotline has them."""
        self.ami.command("pjsip send register *all")
        deadline = time.monotonic() + timeout
        missing = set(seats)
        while time.monotonic() < deadline:
            output = self.ami.command("pjsip show contacts")
            missing = {seat for seat in seats if f"{seat}/sip:{seat}@" not in output}
            if not missing:
                return
            time.sleep(0.3)
        raise SimulatorError(f"agent phones not registered: {sorted(missing)}")

    # -- simulated residents answering outbound calls -------------------------------------------------
    def resident_answers(self, number: str, ring: float = 1.0, digits: str = "", hold: float = 2.0) -> None:
        """A call the hotline places to ``number`` is answered after ``ring`` s; the resident presses
        ``digits`` and hangs up after ``hold`` s."""
        if not _RESIDENT.match(number):
            raise SimulatorError(f"resident number {number!r}: digits only")
        steps = [*parse_digits(digits), *parse_digits(f"w{hold}")]
        self._put_behaviour(f"sim-resident/{number}", ring, steps)

    def resident_never_answers(self, number: str) -> None:
        """Calls to ``number`` ring unanswered."""
        self.ami.action("DBDelTree", Family=f"sim-resident/{number}")

    def wait_callee_end(self, who: str, callee: str, timeout: float = 30.0) -> Message:
        """Wait for a simulated agent phone or resident to finish a call; return its SimCalleeEnd event."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for event in self.callee_events:
                    if event.get("UserEvent") == "SimCalleeEnd" and event.get("Who") == who \
                            and event.get("Callee") == callee:
                        self.callee_events.remove(event)
                        return event
            time.sleep(0.1)
        raise SimulatorError(f"no end of a call to {who} {callee} within {timeout} s")

    def _put_behaviour(self, family: str, ring: float, steps: list[Step]) -> None:
        self.ami.action("DBDelTree", Family=family)
        values = {"ring": f"{max(0.0, ring):.2f}", **{str(n): s.encoded() for n, s in enumerate(steps, 1)},
                  "steps": str(len(steps))}
        for key, value in values.items():
            reply = self.ami.action("DBPut", Family=family, Key=key, Val=value)
            if reply.get("Response") != "Success":
                raise SimulatorError(f"DBPut {family}/{key} failed: {reply.get('Message')}")

    # -- events -------------------------------------------------------------------------------
    def _on_event(self, event: Message) -> None:
        name = event.get("Event", "")
        if name == "UserEvent":
            self._on_user_event(event)
        elif name == "Newchannel" and HOTLINE_CHANNEL.match(event.get("Channel", "")):
            uniqueid = event.get("Uniqueid", "")
            with self._lock:
                self._hotline_vars.setdefault(uniqueid, {})
            self._lookups.submit(self._identify_hotline_channel, event)
        elif name == "VarSet":
            uniqueid = event.get("Uniqueid", "")
            with self._lock:
                if uniqueid in self._hotline_vars:
                    self._hotline_vars[uniqueid][event.get("Variable", "")] = event.get("Value", "")
        elif name == "QueueCallerJoin":
            with self._lock:
                tracked = self._by_uniqueid.get(event.get("Uniqueid", ""))
            if tracked is not None:
                tracked.result.queue = event.get("Queue", "")
                if tracked.answered_at:
                    tracked.result.queue_joined_after = round(time.monotonic() - tracked.answered_at, 2)
        elif name == "AgentConnect":
            with self._lock:
                tracked = self._by_uniqueid.get(event.get("Uniqueid", ""))
            if tracked is not None:
                tracked.result.queue = event.get("Queue", "")
                tracked.result.agent = event.get("MemberName", "") or event.get("Interface", "")
        elif name == "Hangup":
            with self._lock:
                tracked = self._by_uniqueid.get(event.get("Uniqueid", ""))
            if tracked is not None:
                tracked.result.hotline_hangup_cause = event.get("Cause", "")
                tracked.hotline_gone.set()

    def _identify_hotline_channel(self, event: Message) -> None:
        channel = event.get("Channel", "")
        try:
            reply = self.ami.action("Getvar", Channel=channel, Variable=f"PJSIP_HEADER(read,{SIM_HEADER})")
        except AmiError:
            return
        sim_id = reply.get("Value", "")
        with self._lock:
            tracked = self._calls.get(sim_id)
            if tracked is None:
                self._hotline_vars.pop(event.get("Uniqueid", ""), None)
                return
            result = tracked.result
            result.hotline_channel = channel
            result.hotline_uniqueid = event.get("Uniqueid", "")
            result.hotline_linkedid = event.get("Linkedid", "")
            result.hotline_caller_name = event.get("CallerIDName", "")
            self._by_uniqueid[result.hotline_uniqueid] = tracked
        try:
            name = self.ami.action("Getvar", Channel=channel, Variable="CALLERID(name)")
            if name.get("Response") == "Success":
                result.hotline_caller_name = name.get("Value", "")
        except AmiError:
            pass

    def _on_user_event(self, event: Message) -> None:
        kind = event.get("UserEvent", "")
        with self._lock:
            self.user_events.append(event)
            if kind.startswith("SimCallee") or kind == "SimRinging":
                self.callee_events.append(event)
            tracked = self._calls.get(event.get("SimId", ""))
        if tracked is None:
            return
        result = tracked.result
        if kind == "SimAnswered":
            result.answered = True
            tracked.answered_at = time.monotonic()
        elif kind == "SimDialEnd":
            result.dial_status = event.get("DialStatus", "")
            result.hangup_cause = event.get("Cause", "")
            if result.dial_status != "ANSWER":
                tracked.done.set()
        elif kind == "SimCallEnd":
            result.ended_by = event.get("EndedBy", "")
            result.digits_sent = event.get("Sent", "")
            result.duration = round(time.monotonic() - tracked.answered_at, 2) if tracked.answered_at else 0.0
            result.dial_status = result.dial_status or "ANSWER"
            tracked.done.set()


def _direct_call_headers(number: str, caller: str, name: str, trunk: str, ring: int,
                         sim_id: str) -> list[tuple[str, str]]:
    """Originate headers for a direct call: the carrier's SIP channel runs ``sim-caller`` once the
    hotline answers; its INVITE carries the call's ``X-Hotline-Sim`` header (set as a variable:
    the sandbox's Asterisk 22 ran no ``PreDialGoSub`` given to an asynchronous Originate)."""
    caller_id = f'"{name}" <{caller}>' if name else f"<{caller}>"
    return [("Channel", f"PJSIP/{number}@{trunk}"), ("Context", "sim-caller"), ("Exten", "s"),
            ("Priority", "1"), ("Async", "true"), ("Timeout", str(int(ring) * 1000)),
            ("CallerID", caller_id), ("Variable", f"PJSIP_HEADER(add,{SIM_HEADER})={sim_id}")]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


NAME_PART_CHARS = 600


def _name_parts(encoded: str) -> dict[str, str]:
    """A long base64 caller name as SIM_NAME_PARTS and SIM_NAME_B64_1..n (see [sim-long-name])."""
    parts = [encoded[i:i + NAME_PART_CHARS] for i in range(0, len(encoded), NAME_PART_CHARS)]
    return {"SIM_NAME_B64": "", "SIM_NAME_PARTS": str(len(parts)),
            **{f"SIM_NAME_B64_{n}": part for n, part in enumerate(parts, start=1)}}


def _seat(seat: str) -> str:
    if not _SEAT.match(seat):
        raise SimulatorError(f"agent seat {seat!r}: agent01, agent02, ...")
    return seat


def _step_seconds(step: Step) -> float:
    return float(step.arg) if step.kind == "wait" else (10.0 if step.kind == "play" else 0.5)


def _write_8k_wav(source: Path, target: Path) -> None:
    """Write ``source`` as the 8 kHz mono 16-bit WAV Asterisk's ``wav`` format plays."""
    try:
        with wave.open(str(source), "rb") as wav:
            plain = wav.getframerate() == 8000 and wav.getnchannels() == 1 and wav.getsampwidth() == 2
    except (wave.Error, EOFError):
        plain = False
    if plain:
        shutil.copyfile(source, target)
        return
    if not shutil.which("sox"):
        raise SimulatorError(f"{source} is not 8 kHz mono 16-bit WAV and sox is not installed to convert it")
    result = subprocess.run(["sox", str(source), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
                             str(target)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SimulatorError(f"sox could not convert {source}: {result.stderr.strip()}")
