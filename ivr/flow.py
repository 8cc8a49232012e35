"""The inbound call flow as a state machine over the ports.

States are small methods; each returns the next state.  The machine is bounded: every menu has a
retry budget (then an agent), and the whole call has a step budget, so no input can make it loop
forever.  A hangup at any state ends the flow: before a ticket exists the call becomes an
abandoned-in-IVR record with the digits so far; after it, the ticket stands as opened (never half).
Any other failure (the store, a prompt Asterisk cannot play) finishes the call record as an error
before it reaches the FastAGI server, whose dialplan fallback puts the caller through to a human.

Leaving the flow, the dialplan reads ``HOTLINE_OUTCOME`` and, when a ticket was opened,
``HOTLINE_TICKET``, ``HOTLINE_CATEGORY``, ``HOTLINE_PRIORITY`` and ``HOTLINE_QUEUE`` (set together).
While waiting in the queue, 1 books a callback instead (the dialplan and ``queues.conf`` say so).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

from ivr import menu
from ivr.catalogue import Catalogue, MenuCategory
from ivr.ports import (
    CallChannel,
    CallerHungUp,
    CallerProfile,
    IvrPath,
    Outcome,
    Recognizer,
    ServiceRequest,
    TicketRef,
    TicketSink,
)
from ivr.prompts import digit_keys
from ivr.status import StatusQuery
from ivr.understanding import EMERGENCY_WORDS, SpokenChoice, understand

log = logging.getLogger("hotline.ivr")
# Who is calling is looked up while the welcome plays (a caller may key ahead during it: a key
# pressed while the IVR waits for the store and no prompt runs is lost by Asterisk's AGI).
_LOOKUPS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="caller-lookup")

GENERAL_QUEUE = "general"
ALL_KEYS = "0123456789*#"


class State(Enum):
    """Where the call is in the IVR."""

    WELCOME = "welcome"
    SPEECH = "speech"
    CONFIRM = "confirm"
    MAIN_MENU = "main_menu"
    SUB_MENU = "sub_menu"
    STATUS = "status"
    OPEN_TICKET = "open_ticket"
    DESCRIBE = "describe"
    EMERGENCY = "emergency"
    AGENT = "agent"
    LEAVE = "leave"


@dataclass(frozen=True)
class FlowSettings:
    """Timing and budgets of the flow (from the hotline settings)."""

    digit_timeout_ms: int = 6000
    second_zero_ms: int = 1500  # how long to wait for the second 0 of 0-0
    max_retries: int = 2  # retries of one menu before an agent
    max_steps: int = 40  # whole-call bound on menu interactions
    speech: bool = True
    speech_language: str = "zh"
    speech_seconds: float = 6.0
    speech_min_confidence: float = 0.5
    describe: bool = True
    description_seconds: int = 30
    describe_offer_ms: int = 4000
    emergency_category: str = "EMERG"
    emergency_words: tuple[str, ...] | None = None  # None: the built-in words of the speech language


@dataclass
class FlowResult:
    """How the call left the IVR."""

    outcome: Outcome
    ticket: TicketRef | None = None
    queue: str = GENERAL_QUEUE
    path: IvrPath = field(default_factory=IvrPath)


@dataclass
class _Call:
    profile: CallerProfile = field(default_factory=CallerProfile)
    path: IvrPath = field(default_factory=IvrPath)
    category: MenuCategory | None = None
    service_code: str | None = None
    via: str = "keypad"
    spoken: SpokenChoice | None = None
    page: int = 0
    retries: int = 0
    steps: int = 0
    ticket: TicketRef | None = None
    outcome: Outcome = Outcome.AGENT
    emergency: bool = False


class IvrFlow:
    """One inbound call through the IVR: welcome, need (speech or keypad), ticket, queue."""

    def __init__(self, channel: CallChannel, sink: TicketSink, catalogue: Catalogue,
                 recognizer: Recognizer | None = None, settings: FlowSettings | None = None,
                 language: str = "zh", step_log: Callable[[str], None] | None = None) -> None:
        self.channel = channel
        self.sink = sink
        self.catalogue = catalogue
        self.recognizer = recognizer
        self.settings = settings or FlowSettings()
        self.language = language
        self._step_log = step_log or (lambda line: log.info("[%s] %s", channel.call.uniqueid, line))
        self._main_pages = menu.main_menu(catalogue)
        self._c = _Call()
        self._finished = False
        self._lookup: Future[CallerProfile] | None = None

    # -- driving -------------------------------------------------------------------------------

    def run(self) -> FlowResult:
        """Run the call to its end; a hangup is an outcome, not an exception."""
        state: State | None = State.WELCOME
        try:
            while state is not None:
                self._c.path.step(state.value)
                state = getattr(self, f"_on_{state.value}")()
        except CallerHungUp:
            self._abandoned()
        except Exception:
            self._failed()
            raise
        return FlowResult(self._c.outcome, self._c.ticket,
                          self._c.ticket.queue if self._c.ticket else GENERAL_QUEUE, self._c.path)

    def _log(self, step: str, **details: object) -> None:
        extra = " ".join(f"{k}={v}" for k, v in details.items())
        self._step_log(f"step={step} {extra}".rstrip())

    def _failed(self) -> None:
        """Record the call as failed in the IVR (best effort: the store itself may be what failed)."""
        self._log("error", digits=self._c.path.digits or "-")
        self._settle_lookup()
        if self._finished:
            return
        try:
            self._finish(Outcome.ERROR)
        except Exception as exc:  # the original error is what the server logs and acts on
            self._log("error", record="not stored", reason=type(exc).__name__)

    def _abandoned(self) -> None:
        ticket = self._c.ticket.number if self._c.ticket else "-"
        self._log("hangup", digits=self._c.path.digits or "-", ticket=ticket)
        self._settle_lookup()
        if self._c.ticket is None:
            self._c.outcome = Outcome.ABANDONED
        # with a ticket, the ticket stands as opened; the outcome stays what it was
        self._finish(self._c.outcome)

    # -- states --------------------------------------------------------------------------------

    def _on_welcome(self) -> State:
        self.channel.answer()
        self.channel.set_language(self.language)
        self._lookup = _LOOKUPS.submit(self.sink.lookup_caller, self.channel.call)
        key = self._keyed(self.channel.play(["welcome"], ALL_KEYS))
        if key:  # keyed ahead: who is calling is awaited only where it matters
            return self._main_menu_key(key)
        profile = self._profile()
        extra = (["welcome_vulnerable"] if profile.vulnerable else []) + \
            (["returning_open_ticket"] if profile.open_ticket else [])
        key = self._keyed(self.channel.play(extra, ALL_KEYS)) if extra else ""
        if key:
            return self._main_menu_key(key)
        return State.SPEECH if self._speech_available() else State.MAIN_MENU

    def _profile(self) -> CallerProfile:
        """Who is calling: the lookup started at the welcome, awaited (and logged) once."""
        lookup, self._lookup = self._lookup, None
        if lookup is not None:
            self._c.profile = profile = lookup.result()
            self._log("welcome", known=profile.known, vulnerable=profile.vulnerable,
                      anonymous=profile.anonymous, open_ticket=profile.open_ticket or "-")
        return self._c.profile

    def _settle_lookup(self) -> None:
        """Let a pending lookup end (its call record must not race the one a hangup writes)."""
        lookup, self._lookup = self._lookup, None
        if lookup is not None:
            try:
                lookup.result()
            except Exception as exc:  # the failure being handled is the one that matters
                self._log("welcome", lookup="failed", reason=type(exc).__name__)

    def _speech_available(self) -> bool:
        return self.settings.speech and self.recognizer is not None and bool(self._grammar())

    def _on_speech(self) -> State:
        assert self.recognizer is not None
        self.channel.play(["speech_invite"])
        stream = self.recognizer.start(self._grammar())
        key = self._keyed(self.channel.listen(stream, self.settings.speech_seconds))
        if key:
            self._log("speech", key=key)
            return self._main_menu_key(key)
        heard = stream.result()
        self._c.path.speech.append(heard.text)
        choice = understand(heard.text, self.catalogue, self.settings.speech_language,
                            self.settings.emergency_words)
        self._log("speech", text=repr(heard.text), confidence=f"{heard.confidence:.2f}",
                  choice=_describe(choice))
        sure = heard.confidence >= self.settings.speech_min_confidence
        if choice is not None and choice.emergency and sure:
            return State.EMERGENCY
        if choice is None or choice.emergency or not sure:
            if heard.text:
                self.channel.play(["speech_not_understood"])
            return State.MAIN_MENU
        self._c.spoken = choice
        return State.CONFIRM

    def _grammar(self) -> list[str]:
        language = self.settings.speech_language
        words = self.settings.emergency_words
        emergency = EMERGENCY_WORDS.get(language, ()) if words is None else words
        return self.catalogue.phrases(language) + list(emergency)

    def _on_confirm(self) -> State:
        choice = self._c.spoken
        assert choice is not None and choice.category_code is not None
        name = menu.service_prompt(choice.service_code) if choice.service_code else \
            menu.category_prompt(choice.category_code)
        answer = self._collect(["confirm_prefix", name, "confirm_suffix"])
        self._log("confirm", choice=_describe(choice), key=answer or "-")
        if answer == "1":
            self._c.category = self.catalogue.category(choice.category_code)
            self._c.service_code = choice.service_code
            self._c.via = "speech"
            if choice.service_code is None and menu.needs_sub_menu(self._c.category):
                self._c.retries, self._c.page = 0, 0
                return State.SUB_MENU
            return State.OPEN_TICKET
        if answer == "0":
            return self._zero()
        return State.MAIN_MENU

    def _on_main_menu(self) -> State:
        if not self._budget():
            return State.AGENT
        page = self._main_pages[self._c.page % len(self._main_pages)]
        tail = ["menu_progress", "menu_agent"] + (["menu_repeat"] if not page.has_more else [])
        key = self._collect(self._with_retry_prefix(menu.page_prompts(page, "menu_intro", tail)))
        self._log("main_menu", page=page.number + 1, key=key or "-", retry=self._c.retries)
        if not key:
            return self._retry_or_agent("no_input", State.MAIN_MENU)
        return self._main_menu_key(key)

    def _main_menu_key(self, key: str) -> State:
        page = self._main_pages[self._c.page % len(self._main_pages)]
        if key == menu.AGENT_KEY:
            return self._zero()
        if key == menu.PROGRESS_KEY:
            return State.STATUS
        if key == menu.NEXT_PAGE_KEY:
            self._c.page += 1
            return State.MAIN_MENU
        if key == menu.BACK_KEY:
            return State.MAIN_MENU
        item = page.item_for(key)
        if item is None:
            return self._retry_or_agent("invalid_input", State.MAIN_MENU)
        self._c.category = self.catalogue.category(item.code)
        self._c.retries = 0
        if menu.needs_sub_menu(self._c.category):
            self._c.page = 0
            return State.SUB_MENU
        only = menu.only_service(self._c.category)
        self._c.service_code = only.code if only else None
        return State.OPEN_TICKET

    def _on_sub_menu(self) -> State:
        category = self._c.category
        assert category is not None
        if not self._budget():
            return State.OPEN_TICKET  # the category is known: its queue's agents take it from here
        pages = menu.sub_menu(category)
        page = pages[self._c.page % len(pages)]
        prompts = menu.page_prompts(page, "submenu_intro", ["menu_back", "menu_agent"])
        key = self._collect(self._with_retry_prefix([menu.category_prompt(category.code), *prompts]))
        self._log("sub_menu", category=category.code, page=page.number + 1, key=key or "-",
                  retry=self._c.retries)
        if key == menu.AGENT_KEY:
            return self._zero()
        if key == menu.NEXT_PAGE_KEY:
            self._c.page += 1
            return State.SUB_MENU
        if key == menu.BACK_KEY:
            self._c.category, self._c.page, self._c.retries = None, 0, 0
            return State.MAIN_MENU
        item = page.item_for(key) if key else None
        if item is None:
            if self._c.retries >= self.settings.max_retries:
                self._log("sub_menu", category=category.code, giving_up="category ticket")
                self.channel.play(["too_many_attempts"])
                return State.OPEN_TICKET
            return self._retry("invalid_input" if key else "no_input", State.SUB_MENU)
        self._c.service_code = item.code
        return State.OPEN_TICKET

    def _on_status(self) -> State:
        query = StatusQuery(self.channel, self.sink, self.catalogue, self.settings.digit_timeout_ms)
        status = query.run(self._profile().open_ticket, self._c.path)
        if status is None:
            self._log("status", ticket="-")
        else:
            self._log("status", ticket=status.number, ticket_state=status.state)
        key = self._collect(["status_more"])
        if key == menu.BACK_KEY:
            self._c.page, self._c.retries = 0, 0
            return State.MAIN_MENU
        if key == menu.AGENT_KEY:
            return self._zero()
        self.channel.play(["goodbye"])
        self._c.outcome = Outcome.STATUS
        return State.LEAVE

    def _on_open_ticket(self) -> State:
        category = self._c.category
        assert category is not None
        request = ServiceRequest(
            category_code=category.code, service_code=self._c.service_code,
            channel=self._c.via, emergency=False,
            priority_boost=1 if self._profile().vulnerable else 0,
            recognised_text=self._c.path.speech[-1] if self._c.via == "speech" else "",
        )
        self._c.ticket = self.sink.open_ticket(self.channel.call, request)
        self._c.outcome = Outcome.QUEUED
        self._log("open_ticket", ticket=self._c.ticket.number, category=category.code,
                  service=self._c.service_code or "-", queue=self._c.ticket.queue,
                  priority=self._c.ticket.priority, created=self._c.ticket.created)
        self.channel.play(["ticket_opened", *digit_keys(self._c.ticket.number)])
        return State.DESCRIBE if self.settings.describe else State.LEAVE

    def _on_describe(self) -> State:
        ticket = self._c.ticket
        assert ticket is not None
        key = self._keyed(self.channel.play(["describe_offer"], ALL_KEYS)) or self._keyed(
            self.channel.wait_for_digit(self.settings.describe_offer_ms))
        if key != "1":
            self._log("describe", offered=True, recorded=False)
            return State.LEAVE
        name = f"description-{_safe_name(self.channel.call.call_key)}"
        recording = self.channel.record(name, self.settings.description_seconds)
        if recording:
            self.sink.attach_description(self.channel.call, ticket.number, recording)
            self.channel.play(["describe_thanks"])
        self._log("describe", offered=True, recorded=bool(recording))
        return State.LEAVE

    def _on_emergency(self) -> State:
        self._c.emergency = True
        request = ServiceRequest(category_code=self.settings.emergency_category, channel="emergency",
                                 emergency=True, priority_boost=1 if self._profile().vulnerable else 0)
        self._c.ticket = self.sink.open_ticket(self.channel.call, request)
        self._c.outcome = Outcome.EMERGENCY
        self._log("emergency", ticket=self._c.ticket.number, queue=self._c.ticket.queue)
        self.channel.play(["emergency_connecting"])
        return State.LEAVE

    def _on_agent(self) -> State:
        self._c.outcome = Outcome.AGENT
        self._log("agent", digits=self._c.path.digits or "-")
        return State.LEAVE

    def _on_leave(self) -> None:
        ticket = self._c.ticket
        if self._c.outcome in (Outcome.QUEUED, Outcome.AGENT):
            self.channel.play(["transfer_agent"])
        variables: dict[str, str] = {}
        if ticket is not None:
            variables |= {"HOTLINE_TICKET": ticket.number, "HOTLINE_CATEGORY": ticket.category_code,
                          "HOTLINE_PRIORITY": str(ticket.priority), "HOTLINE_QUEUE": ticket.queue}
        elif self._c.outcome is Outcome.AGENT:
            variables["HOTLINE_QUEUE"] = GENERAL_QUEUE
        variables["HOTLINE_OUTCOME"] = self._c.outcome.value
        self.channel.set_variables(variables)
        self._finish(self._c.outcome)
        self._log("leave", outcome=self._c.outcome.value, queue=ticket.queue if ticket else "-")
        return None

    def _finish(self, outcome: Outcome) -> None:
        if not self._finished:
            self._profile()
            self._finished = True
            self.sink.finish_ivr(self.channel.call, self._c.path, outcome)

    # -- helpers -------------------------------------------------------------------------------

    def _collect(self, prompts: list[str]) -> str:
        result = self.channel.collect_digits(prompts, 1, self.settings.digit_timeout_ms)
        return self._keyed(result.digits[:1])

    def _keyed(self, key: str) -> str:
        if key:
            self._c.path.keyed(key)
        return key

    def _zero(self) -> State:
        """A 0 was pressed: a second 0 soon after is the emergency call, otherwise an agent."""
        second = self._keyed(self.channel.wait_for_digit(self.settings.second_zero_ms))
        return State.EMERGENCY if second == "0" else State.AGENT

    def _budget(self) -> bool:
        self._c.steps += 1
        return self._c.steps <= self.settings.max_steps

    def _with_retry_prefix(self, prompts: list[str]) -> list[str]:
        return (["retry_clearer", *prompts]) if self._c.retries else prompts

    def _retry(self, reason: str, state: State) -> State:
        self._c.retries += 1
        self.channel.play([reason])
        return state

    def _retry_or_agent(self, reason: str, state: State) -> State:
        if self._c.retries >= self.settings.max_retries:
            self.channel.play([reason, "too_many_attempts"])
            return State.AGENT
        return self._retry(reason, state)


def _describe(choice: SpokenChoice | None) -> str:
    if choice is None:
        return "-"
    if choice.emergency:
        return "emergency"
    return choice.service_code or choice.category_code or "-"


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:64]
