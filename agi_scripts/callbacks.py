"""A waiting caller's callback request, as the dialplan hands it to the ``callback`` route.

A caller waiting in a hotline queue presses 1; app_queue leaves the queue to the exit context
(``queues.conf`` ``context = hotline-queue-exit``), whose only extension runs
``AGI(agi://…/callback,1)``.  What the route reads is set by our own dialplan and IVR, never typed by
the caller, and is still checked here before it reaches the ticket store: the key is the fixed
argument of that one extension, the ticket number digits only, the queue an app_queue name of the
hotline, the time the caller entered the queue (``${EPOCH}``) a plausible recent UNIX time.
Anything else is dropped (``None``), never passed on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

CALLBACK_KEYS = frozenset({"1"})
TICKET_VARIABLE = "HOTLINE_TICKET"
QUEUE_VARIABLE = "HOTLINE_QUEUE_NAME"
ENTERED_VARIABLE = "HOTLINE_QUEUE_ENTERED"
MAX_WAIT = dt.timedelta(hours=12)  # a longer "wait" is not a real queue entry time
CLOCK_SKEW = dt.timedelta(minutes=1)
_TICKET = re.compile(r"^[0-9]{6,16}$")
_QUEUE = re.compile(r"^hotline-[a-z]{1,24}$")
_EPOCH = re.compile(r"^[0-9]{9,11}$")


@dataclass(frozen=True)
class CallbackRequest:
    """The checked values of one callback request (``None`` where the channel had nothing usable)."""

    key: str
    ticket_number: str | None = None
    queue: str | None = None
    entered_at: dt.datetime | None = None

    @property
    def valid_key(self) -> bool:
        """Whether the key is one that books a callback."""
        return self.key in CALLBACK_KEYS


def parse_callback_request(key: str, ticket: str | None, queue: str | None, entered: str | None,
                           now: dt.datetime) -> CallbackRequest:
    """Check what the dialplan handed over; keep only values of the expected shape."""
    entered_at = None
    if entered and _EPOCH.match(entered):
        moment = dt.datetime.fromtimestamp(int(entered), dt.UTC)
        if now - MAX_WAIT <= moment <= now + CLOCK_SKEW:
            entered_at = moment
    return CallbackRequest(
        key=key if key in CALLBACK_KEYS else "",
        ticket_number=ticket if ticket and _TICKET.match(ticket) else None,
        queue=queue if queue and _QUEUE.match(queue) else None,
        entered_at=entered_at,
    )


def read_callback_request(argument: str, get_variable: Callable[[str], str | None],
                          now: dt.datetime) -> CallbackRequest:
    """The request of a call: the AGI argument (the key) and the channel's variables."""
    return parse_callback_request(argument, get_variable(TICKET_VARIABLE), get_variable(QUEUE_VARIABLE),
                                  get_variable(ENTERED_VARIABLE), now)
