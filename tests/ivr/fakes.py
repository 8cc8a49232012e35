"""Fakes of the IVR's ports: a scripted caller channel, a recogniser and an in-memory ticket sink."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ivr.catalogue import Catalogue, MenuCategory, MenuService
from ivr.ports import (
    CallerHungUp,
    CallerProfile,
    CallInfo,
    DigitInput,
    IvrPath,
    Outcome,
    Recognition,
    RecognitionStream,
    ServiceRequest,
    TicketRef,
    TicketStatus,
)

HANGUP = "<hangup>"


@dataclass(frozen=True)
class Barge:
    """The caller presses a key while a prompt plays."""

    key: str


@dataclass(frozen=True)
class PressWhileListening:
    """The caller presses a key instead of speaking."""

    key: str


@dataclass(frozen=True)
class Say:
    """The caller speaks; the fake recogniser 'hears' this text at this confidence."""

    text: str
    confidence: float = 0.9


class FakeStream:
    """A recognition stream whose result the fake channel sets."""

    def __init__(self, phrases: Sequence[str]) -> None:
        self.phrases = list(phrases)
        self.heard = Recognition()

    def accept(self, pcm: bytes) -> bool:
        return True

    def result(self) -> Recognition:
        return self.heard


class FakeRecognizer:
    def __init__(self) -> None:
        self.streams: list[FakeStream] = []

    def start(self, phrases: Sequence[str]) -> FakeStream:
        stream = FakeStream(phrases)
        self.streams.append(stream)
        return stream


class FakeChannel:
    """A caller following a script: each input operation takes the next item.

    Items: a digit string (or ``None`` for no input) for collect_digits / wait_for_digit,
    :class:`Say` for listen, :class:`Barge` to interrupt the next prompt, ``HANGUP`` anywhere.
    An exhausted script means silence (timeouts).
    """

    def __init__(self, script: Iterable[object] = (), call: CallInfo | None = None) -> None:
        self._script: Iterator[object] = iter(script)
        self._peeked: deque[object] = deque()
        self._call = call or CallInfo(uniqueid="1700000000.1", caller_number="13800000001")
        self.played: list[str] = []
        self.variables: dict[str, str] = {}
        self.recordings: list[str] = []
        self.language = ""
        self.answered = False
        self.operations = 0

    @property
    def call(self) -> CallInfo:
        return self._call

    def _peek(self) -> object:
        if not self._peeked:
            self._peeked.append(next(self._script, None))
        return self._peeked[0]

    def _take(self) -> object:
        self.operations += 1
        assert self.operations < 10_000, "the flow does not end"
        item = self._peek()
        self._peeked.popleft()
        if item == HANGUP:
            self._peeked.appendleft(HANGUP)
            raise CallerHungUp("scripted hangup")
        return item

    def _check_hangup(self) -> None:
        if self._peek() == HANGUP:
            raise CallerHungUp("scripted hangup")

    def answer(self) -> None:
        self._check_hangup()
        self.answered = True

    def set_language(self, language: str) -> None:
        self._check_hangup()
        self.language = language

    def play(self, prompts: Sequence[str], escape_digits: str = "") -> str:
        self._check_hangup()
        item = self._peek()
        if isinstance(item, Barge) and escape_digits:
            self._take()
            self.played.extend(prompts[:1])
            return item.key
        self.played.extend(prompts)
        return ""

    def collect_digits(self, prompts: Sequence[str], max_digits: int, timeout_ms: int) -> DigitInput:
        self.play(prompts)
        item = self._take()
        if isinstance(item, Barge | Say):
            raise AssertionError(f"script expected digits here, has {item!r}")
        return DigitInput("" if item is None else str(item)[:max_digits], timed_out=item is None)

    def wait_for_digit(self, timeout_ms: int) -> str:
        item = self._take()
        return "" if item is None else str(item)[:1]

    def listen(self, stream: RecognitionStream, max_seconds: float) -> str:
        item = self._take()
        if isinstance(item, Say):
            assert isinstance(stream, FakeStream)
            stream.heard = Recognition(item.text, item.confidence, tuple(item.text.split()))
        if isinstance(item, PressWhileListening):
            return item.key
        return ""

    def record(self, name: str, max_seconds: int) -> str | None:
        self._check_hangup()
        self.recordings.append(name)
        return name

    def set_variable(self, name: str, value: str) -> None:
        self._check_hangup()
        self.variables[name] = value

    def set_variables(self, values: Mapping[str, str]) -> None:
        self._check_hangup()
        self.variables.update(values)


@dataclass
class FakeSink:
    """An in-memory ticket store keeping what the IVR reported."""

    profiles: dict[str, CallerProfile] = field(default_factory=dict)
    statuses: dict[str, TicketStatus] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)  # caller number -> latest ticket number
    tickets: dict[str, tuple[TicketRef, ServiceRequest]] = field(default_factory=dict)  # by call key
    descriptions: dict[str, str] = field(default_factory=dict)
    finished: list[tuple[str, Outcome, IvrPath]] = field(default_factory=list)
    queues: dict[str, str] = field(default_factory=lambda: {"ELDER": "elderly", "EMERG": "emergency"})

    def lookup_caller(self, call: CallInfo) -> CallerProfile:
        if not call.caller_number or not call.caller_number.isdigit():
            return CallerProfile(anonymous=True)
        return self.profiles.get(call.caller_number, CallerProfile())

    def open_ticket(self, call: CallInfo, request: ServiceRequest) -> TicketRef:
        if call.call_key in self.tickets:
            ref, _ = self.tickets[call.call_key]
            return TicketRef(ref.number, ref.queue, ref.priority, ref.category_code, created=False)
        number = f"26120400{len(self.tickets) + 1:02d}"
        priority = 30 if request.emergency else request.priority_boost * 10
        ref = TicketRef(number, self.queues.get(request.category_code, "general"), priority,
                        request.category_code)
        self.tickets[call.call_key] = (ref, request)
        return ref

    def attach_description(self, call: CallInfo, ticket_number: str, recording: str) -> None:
        self.descriptions[ticket_number] = recording

    def finish_ivr(self, call: CallInfo, path: IvrPath, outcome: Outcome) -> None:
        self.finished.append((call.call_key, outcome, path))

    def ticket_status(self, call: CallInfo, ticket_number: str | None) -> TicketStatus | None:
        number = ticket_number or self.latest.get(call.caller_number)
        return self.statuses.get(number) if number else None


def service(code: str, zh: str, *keywords: str) -> MenuService:
    return MenuService(code=code, names={"zh": zh, "en": code}, keywords={"zh": (zh, *keywords)})


def small_catalogue(categories: int = 14) -> Catalogue:
    """14 categories like Pinghu's: the first with 10 sub-services, DRAIN with 3, one with a single one."""
    cats: list[MenuCategory] = []
    for n in range(1, categories + 1):
        code = f"C{n:02d}"
        subs = [service(f"{code}-S{i}", f"服务{n}-{i}") for i in range(1, 11 if n == 1 else 4)]
        cats.append(MenuCategory(code=code, names={"zh": f"类别{n}", "en": f"Category {n}"}, services=subs,
                                 keywords={"zh": (f"类别{n}",)}))
    cats[3] = MenuCategory(code="DRAIN", names={"zh": "管道疏通", "en": "Drains"}, keywords={"zh": ("疏通",)},
                           services=[service("DRAIN-SEWER", "下水道疏通", "下水道", "堵了"),
                                     service("DRAIN-TOILET", "马桶疏通", "马桶"),
                                     service("DRAIN-FLOOR", "地漏疏通", "地漏")])
    cats[4] = MenuCategory(code="LEGAL", names={"zh": "法律咨询", "en": "Legal"}, keywords={"zh": ("律师",)},
                           services=[service("LEGAL-ADVICE", "法律咨询", "法律")])
    cats[-1] = MenuCategory(code="EMERG", names={"zh": "应急救助", "en": "Emergency"},
                            keywords={"zh": ("救命",)},
                            services=[service("EMERG-GAS", "燃气泄漏", "煤气味"),
                                      service("EMERG-LIFT", "电梯困人", "电梯")])
    return Catalogue(tuple(cats))
