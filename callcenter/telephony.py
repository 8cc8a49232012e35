"""The console's telephony: queue membership and pauses over AMI, waiting calls, screen pops.

``init_telephony`` attaches a :class:`Telephony` (inert unless ``AMI_ENABLED``); ``hotline web``
calls :meth:`AmiTelephony.start` to connect (and reconnect) in background threads.

Screen pop: when ``AgentConnect`` says a queued call was bridged to ``PJSIP/<seat>``, the ticket
named by the caller channel's ``HOTLINE_TICKET`` (set by the IVR; read from the event's
``ChanVariable`` when manager.conf lists it in ``channelvars``, else with ``Getvar``) is claimed
for the seat's agent and a :class:`models.console.ScreenPop` row is written; the agent's browser,
polling ``/agent/pop``, opens the ticket.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.ami import AmiClient, AmiError, Message, QueueMonitor, WaitingCall
from models.base import utcnow
from models.calls import call_by_uniqueid
from models.claims import claim_ticket
from models.console import add_screen_pop, agent_state, set_agent_state
from models.entities import User
from models.errors import ClaimConflict
from models.tickets import ticket_by_number

log = logging.getLogger("hotline.telephony")
EXTENSION = "hotline_telephony"
TICKET_VARIABLE = "HOTLINE_TICKET"


class Telephony:
    """No PBX connected: no waiting calls, agent states are kept only in the database."""

    connected = False

    def waiting_calls(self) -> dict[str, list[WaitingCall]]:
        """Waiting calls per queue."""
        return {}

    def apply_agent_state(self, seat: str | None, state: str, reason: str | None) -> str | None:
        """Mirror an agent's state to their queue membership; returns a problem to show, if any."""
        return None

    def start(self) -> None:
        """Begin connecting (nothing to do without a PBX)."""

    def stop(self) -> None:
        """Stop background work."""


class AmiTelephony(Telephony):
    """Queue membership, pauses and screen pops through an AMI connection."""

    def __init__(self, config: dict[str, Any], sessions: sessionmaker[Session]) -> None:
        self.config = config
        self.sessions = sessions
        # With several web processes only one turns agent events into states and screen pops
        # (each process still reads waiting calls and sends its agents' pauses).
        self.monitor = QueueMonitor(on_agent_event=self.on_agent_event if config.get("AMI_AGENT_EVENTS", True)
                                    else None)
        self.client: AmiClient | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.queues = [config["AMI_QUEUE_PREFIX"] + q for q in config["AGENT_QUEUES"]]

    @property
    def connected(self) -> bool:  # type: ignore[override]
        """Whether AMI is logged in now."""
        return self.client is not None and self.client.connected.is_set()

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background and keep reconnecting; process agent events."""
        for target, name in ((self._connect_loop, "ami-connect"), (self._agent_loop, "ami-agent-events")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Disconnect and stop the threads."""
        self._stop.set()
        if self.client is not None:
            self.client.close()

    def _agent_loop(self) -> None:
        self.monitor.run_agent_events(self._stop)

    def _connect_loop(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            client = AmiClient(self.config["AMI_HOST"], int(self.config["AMI_PORT"]), self.config["AMI_USER"],
                               self.config["AMI_SECRET"], on_event=self.monitor.handle)
            try:
                client.connect()
                self.client = client
                self.monitor.reset()
                client.action("QueueStatus")
                log.info("AMI connected to %s:%s", *client.address)
                delay = 1.0
                while client.connected.is_set() and not self._stop.is_set():
                    self._stop.wait(1.0)
            except (OSError, AmiError) as exc:
                log.warning("AMI not reachable at %s:%s (%s); retrying in %.0f s", *client.address, exc, delay)
            finally:
                client.close()
            self._stop.wait(delay)
            delay = min(delay * 2, 15.0)

    # -- reading ----------------------------------------------------------------------------------
    def waiting_calls(self) -> dict[str, list[WaitingCall]]:
        """Waiting calls per queue (as AMI reported them)."""
        return self.monitor.snapshot()

    # -- agent state → queues ---------------------------------------------------------------------
    def interface(self, seat: str) -> str:
        """The queue member interface of a seat (``PJSIP/agent01``)."""
        return str(self.config["AMI_INTERFACE_TEMPLATE"]).format(seat=seat)

    def apply_agent_state(self, seat: str | None, state: str, reason: str | None) -> str | None:
        """QueueAdd / QueuePause / QueueRemove for the seat; a message when AMI is unavailable."""
        if not seat:
            return "no phone seat is configured for this account"
        if not self.connected or self.client is None:
            return "the phone system is not connected; the state is saved and applied when it is"
        interface = self.interface(seat)
        try:
            if state == "logged_out":
                for name in self.queues:
                    self.client.action("QueueRemove", Queue=name, Interface=interface)
                return None
            for name in self.queues:
                self.client.action("QueueAdd", Queue=name, Interface=interface, MemberName=seat,
                                   StateInterface=interface, Paused="false" if state == "available" else "true")
            paused = state != "available"
            self.client.action("QueuePause", Interface=interface, Paused="true" if paused else "false",
                               Reason=(reason or state) if paused else None)
        except (AmiError, ValueError) as exc:
            return f"the phone system refused the change: {exc}"
        return None

    # -- AMI agent events → database --------------------------------------------------------------
    def on_agent_event(self, message: Message) -> None:
        """Keep agent states in step and pop tickets (runs on the agent-event thread)."""
        seat = self._seat_of(message)
        if seat is None:
            return
        with self.sessions() as session:
            user = session.scalars(select(User).where(User.seat == seat)).one_or_none()
            if user is None:
                return
            kind = message.get("Event")
            if kind == "AgentConnect":
                self._screen_pop(session, user, message)
            elif kind == "AgentComplete":
                set_agent_state(session, user.id, "wrapup", "wrapup")
                if self.client is not None and self.connected:
                    self.client.action("QueuePause", Interface=self.interface(seat), Paused="true",
                                       Reason="wrapup")
            elif kind == "QueueMemberPause":
                self._sync_pause(session, user, message)
            elif kind == "QueueMemberRemoved" and agent_state(session, user.id).state != "logged_out":
                set_agent_state(session, user.id, "logged_out")
            elif kind == "QueueMemberAdded" and agent_state(session, user.id).state == "logged_out":
                paused = message.get("Paused") == "1"
                set_agent_state(session, user.id, "paused" if paused else "available",
                                message.get("PausedReason") or None)
            session.commit()

    def _seat_of(self, message: Message) -> str | None:
        member = message.get("MemberName") or ""
        interface = message.get("Interface") or ""
        if "/" in interface:
            return interface.split("/", 1)[1] or None
        return member or None

    def _sync_pause(self, session: Session, user: User, message: Message) -> None:
        paused = message.get("Paused") == "1"
        reason = message.get("PausedReason") or None
        state = ("wrapup" if reason == "wrapup" else "paused") if paused else "available"
        current = agent_state(session, user.id)
        if current.state != state or current.reason != reason:
            set_agent_state(session, user.id, state, reason)

    def _ticket_number(self, message: Message) -> str | None:
        number = message.get(f"var:{TICKET_VARIABLE}")
        if not number and self.client is not None and message.get("Channel"):
            try:
                reply = self.client.action("Getvar", Channel=message["Channel"], Variable=TICKET_VARIABLE)
                number = reply.get("Value")
            except (AmiError, ValueError):
                number = None
        return number or None

    def _screen_pop(self, session: Session, user: User, message: Message) -> None:
        number = self._ticket_number(message)
        ticket = ticket_by_number(session, number) if number else None
        if ticket is None:
            log.info("AgentConnect for %s without a known ticket (%r)", user.seat, number)
            return
        try:
            with session.begin_nested():
                claim_ticket(session, ticket.id, user.id, lease_seconds=int(self.config["CLAIM_LEASE_SECONDS"]))
        except ClaimConflict:
            log.info("ticket %s popped for %s but claimed by someone else", ticket.number, user.seat)
        call = call_by_uniqueid(session, message.get("Uniqueid", "")) if message.get("Uniqueid") else None
        if call is not None and call.agent_id is None:
            call.agent_id, call.answered_at = user.id, utcnow()
        add_screen_pop(session, user.id, ticket.id, uniqueid=message.get("Uniqueid"))


def init_telephony(app: Flask) -> None:
    """Attach the telephony (AMI when enabled; nothing connects until ``start``)."""
    app.config.setdefault("AGENT_QUEUES", ("general", "emergency", "elderly", "legal", "psychological",
                                           "marriage"))
    if app.config["AMI_ENABLED"]:
        app.extensions[EXTENSION] = AmiTelephony(dict(app.config), app.extensions["hotline_sessions"])
    else:
        app.extensions[EXTENSION] = Telephony()


def telephony() -> Telephony:
    """The app's telephony."""
    found: Telephony = current_app.extensions[EXTENSION]
    return found
