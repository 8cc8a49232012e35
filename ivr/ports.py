"""The doors of the IVR: what the call flow needs from the world, as protocols.

The flow never talks to Asterisk, vosk, espeak-ng or the database directly; it talks to these
ports.  ``agi_scripts`` implements :class:`CallChannel` over FastAGI, ``ivr.speech`` implements
:class:`Recognizer` and :class:`Synthesizer`, and a ``models``-backed adapter implements
:class:`TicketSink`.  Tests implement all of them with fakes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class CallerHungUp(Exception):
    """The caller hung up; raised by a channel at the first step after the hangup."""


class ChannelError(Exception):
    """The channel cannot carry on (protocol error, timeout, refused command)."""


@dataclass(frozen=True)
class CallInfo:
    """What Asterisk told us about the call when it reached the IVR."""

    uniqueid: str
    linkedid: str = ""
    caller_number: str = ""  # as delivered; may be empty, "anonymous", or hostile text
    caller_name: str = ""
    dialed_number: str = ""
    channel_name: str = ""
    language: str = "zh"
    reached_at: dt.datetime | None = None  # when the call reached the IVR (UTC): the call record's start

    @property
    def call_key(self) -> str:
        """The key one ticket per call is idempotent on (linkedid survives transfers)."""
        return self.linkedid or self.uniqueid


@dataclass(frozen=True)
class DigitInput:
    """What the caller keyed at a prompt: digits, and whether input ended by timeout."""

    digits: str
    timed_out: bool = False


@runtime_checkable
class RecognitionStream(Protocol):
    """One utterance being recognised: audio goes in, a result comes out."""

    def accept(self, pcm: bytes) -> bool:
        """Feed 8 kHz 16-bit mono signed-linear audio; True once the utterance has ended."""

    def result(self) -> Recognition:
        """The best hypothesis so far (final after ``accept`` returned True)."""


@dataclass(frozen=True)
class Recognition:
    """A recogniser's answer: the text heard and how sure it is (0..1)."""

    text: str = ""
    confidence: float = 0.0
    words: tuple[str, ...] = ()


@runtime_checkable
class Recognizer(Protocol):
    """Speech recognition restricted to a grammar of phrases."""

    def start(self, phrases: Sequence[str]) -> RecognitionStream:
        """Begin recognising one utterance against these phrases."""


@runtime_checkable
class CallChannel(Protocol):
    """The caller's side of the call as the flow sees it.

    Every method raises :class:`CallerHungUp` once the caller has gone, and
    :class:`ChannelError` when the channel is unusable.  Prompts are named by catalogue key
    (``ivr.prompts``); the channel maps a key to the sound Asterisk plays.
    """

    @property
    def call(self) -> CallInfo:
        """The call's identity and caller ID."""

    def answer(self) -> None:
        """Answer the call if it is not answered yet."""

    def set_language(self, language: str) -> None:
        """Choose the language folder prompts are played from."""

    def play(self, prompts: Sequence[str], escape_digits: str = "") -> str:
        """Play prompts in order; return the digit that interrupted them, or ``""``."""

    def collect_digits(self, prompts: Sequence[str], max_digits: int, timeout_ms: int) -> DigitInput:
        """Play prompts, then collect up to ``max_digits`` digits ('#' ends input early)."""

    def wait_for_digit(self, timeout_ms: int) -> str:
        """Wait for one digit; ``""`` when none came in time."""

    def listen(self, stream: RecognitionStream, max_seconds: float) -> str:
        """Send the caller's audio to ``stream`` until it reports the end or time is up.

        Returns a DTMF digit the caller pressed instead of speaking, or ``""``.
        """

    def record(self, name: str, max_seconds: int) -> str | None:
        """Record the caller (ends with '#' or silence); a reference to the recording, or None."""

    def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable for the dialplan."""

    def set_variables(self, values: Mapping[str, str]) -> None:
        """Set several channel variables for the dialplan (in one step where the channel can)."""


class Outcome(StrEnum):
    """How the call left the IVR, as the dialplan reads it from ``HOTLINE_OUTCOME``."""

    QUEUED = "queued"  # need known, ticket opened, go to HOTLINE_QUEUE
    AGENT = "agent"  # caller asked for an agent / input failed: general queue, ticket opened
    EMERGENCY = "emergency"  # emergency ticket, emergency queue
    STATUS = "status"  # status query answered; dialplan may hang up or queue
    ABANDONED = "abandoned"  # caller hung up in the IVR
    ERROR = "error"  # something failed: dialplan falls back to the general queue


@dataclass(frozen=True)
class CallerProfile:
    """What the ticket store knows about the calling number."""

    known: bool = False
    resident_id: int | None = None
    name: str = ""
    vulnerable: bool = False
    open_ticket: str | None = None  # the most recent open ticket's number, if any
    anonymous: bool = False


@dataclass(frozen=True)
class ServiceRequest:
    """The need the IVR established, ready to become a ticket."""

    category_code: str
    service_code: str | None = None
    channel: str = "keypad"  # keypad | speech | agent | emergency
    emergency: bool = False
    priority_boost: int = 0
    recognised_text: str = ""


@dataclass(frozen=True)
class TicketRef:
    """A ticket as the IVR needs it: its number and where to queue its call."""

    number: str
    queue: str
    priority: int
    category_code: str
    created: bool = True  # False when an earlier attempt of the same call had opened it


@dataclass(frozen=True)
class TicketStatus:
    """A ticket's state as spoken to a caller."""

    number: str
    state: str  # accepted | dispatched | accepted_by_provider | in_service | completed | closed | ...
    provider_kind: str = ""  # e.g. category name of the provider, for "dispatched to ..."


@dataclass
class IvrPath:
    """What happened in the IVR so far: the record kept when a call is abandoned."""

    steps: list[str] = field(default_factory=list)
    digits: str = ""
    speech: list[str] = field(default_factory=list)

    def step(self, name: str) -> None:
        """Note that the flow entered a step."""
        self.steps.append(name)

    def keyed(self, digits: str) -> None:
        """Note digits the caller keyed."""
        self.digits += digits


@runtime_checkable
class TicketSink(Protocol):
    """The ticket store as the IVR uses it (implemented over ``models``)."""

    def lookup_caller(self, call: CallInfo) -> CallerProfile:
        """Who is calling: a registered (maybe vulnerable) resident, returning caller or unknown."""

    def open_ticket(self, call: CallInfo, request: ServiceRequest) -> TicketRef:
        """Open the call's ticket; the same call (``call.call_key``) always gets the same ticket."""

    def attach_description(self, call: CallInfo, ticket_number: str, recording: str) -> None:
        """Link a recorded description to the ticket."""

    def finish_ivr(self, call: CallInfo, path: IvrPath, outcome: Outcome) -> None:
        """Keep the IVR path and how the call left the IVR.

        ``Outcome.ABANDONED`` before a ticket was opened is the abandoned-in-IVR record (with the
        digits so far); other outcomes note the path on the call record.
        """

    def ticket_status(self, call: CallInfo, ticket_number: str | None) -> TicketStatus | None:
        """The status of a ticket keyed in, or of the caller's latest ticket when None."""


@runtime_checkable
class Synthesizer(Protocol):
    """Text to an 8 kHz mono WAV file (the prompt renderer)."""

    def render(self, text: str, language: str, target: str) -> None:
        """Render ``text`` in ``language`` to the WAV file ``target``."""
