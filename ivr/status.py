"""The status query: "查询进度" — by the caller's latest ticket or a ticket number keyed in."""

from __future__ import annotations

from ivr.catalogue import Catalogue
from ivr.menu import category_prompt
from ivr.ports import CallChannel, IvrPath, TicketSink, TicketStatus
from ivr.prompts import FIXED, digit_keys

TICKET_NUMBER_DIGITS = 10
MAX_NUMBER_DIGITS = 16


class StatusQuery:
    """Finds one ticket and speaks its state."""

    def __init__(self, channel: CallChannel, sink: TicketSink, catalogue: Catalogue, timeout_ms: int) -> None:
        self.channel = channel
        self.sink = sink
        self.catalogue = catalogue
        self.timeout_ms = timeout_ms

    def run(self, known_ticket: str | None, path: IvrPath) -> TicketStatus | None:
        """Ask for a number unless the caller's open ticket is known; speak the status found."""
        number = known_ticket or self._ask_number(path)
        status = self.sink.ticket_status(self.channel.call, number)
        self.channel.play(self.status_prompts(status))
        return status

    def _ask_number(self, path: IvrPath) -> str | None:
        entry = self.channel.collect_digits(["status_enter_number"], MAX_NUMBER_DIGITS, self.timeout_ms)
        digits = "".join(c for c in entry.digits if c.isdigit())
        path.keyed(digits)
        return digits or None

    def status_prompts(self, status: TicketStatus | None) -> list[str]:
        """What to say about a ticket (or that none was found)."""
        if status is None:
            return ["status_not_found"]
        prompts = ["status_prefix", *digit_keys(status.number)]
        if status.state == "dispatched":
            known = {c.code for c in self.catalogue.categories}
            kind = [category_prompt(status.provider_kind)] if status.provider_kind in known else []
            return [*prompts, "status_dispatched", *kind, "status_provider"]
        key = f"status_{status.state}"
        return [*prompts, key if key in FIXED else "status_accepted"]
