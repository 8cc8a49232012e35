"""The console's AMI side against a fake Asterisk manager: queue membership, waiting calls, screen pop."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from callcenter.ami import check_header, encode_action, parse_message
from callcenter.telephony import EXTENSION
from models.console import agent_state
from models.entities import Ticket
from tests.callcenter.conftest import login, make_app, ticket_maker, user_id
from tests.plugins.db import Database


class FakeManager:
    """Accepts one AMI client: banner, Login, Success for every action; events pushed by the test."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.actions: list[dict[str, str]] = []
        self.conn: socket.socket | None = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        self.conn = conn
        conn.sendall(b"Asterisk Call Manager/11.0.0\r\n")
        buffer = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                block, buffer = buffer.split(b"\r\n\r\n", 1)
                action = parse_message(block.decode())
                self.actions.append(action)
                value = "\r\nValue: " if action.get("Action") == "Getvar" else ""
                conn.sendall(f"Response: Success\r\nActionID: {action['ActionID']}{value}\r\n\r\n".encode())

    def event(self, **headers: str) -> None:
        assert self.conn is not None
        lines = [f"{k.replace('_', '')}: {v}" for k, v in headers.items()]
        self.conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


def _wait(condition, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_headers_cannot_be_injected() -> None:
    with pytest.raises(ValueError):
        check_header("Reason", "break\r\nAction: Originate")
    with pytest.raises(ValueError):
        encode_action("QueuePause", "1", {"Bad Name": "x"})
    assert encode_action("Ping", "7", {}) == b"Action: Ping\r\nActionID: 7\r\n\r\n"
    parsed = parse_message("Event: AgentConnect\r\nChanVariable: HOTLINE_TICKET=2612040001\r\nQueue: q")
    assert parsed["var:HOTLINE_TICKET"] == "2612040001" and parsed["Queue"] == "q"


@pytest.fixture
def manager() -> Iterator[FakeManager]:
    fake = FakeManager()
    yield fake
    fake.close()


def test_queue_state_waiting_calls_and_screen_pop(sqlite_db: Database, manager: FakeManager) -> None:
    app = make_app(sqlite_db, AMI_ENABLED=True, AMI_PORT=manager.port, AMI_SECRET="s")
    phone = app.extensions[EXTENSION]
    phone.start()
    try:
        _wait(lambda: phone.connected)
        agent = login(app, "agent01")
        response = agent.post("/agent/state", {"state": "paused", "reason": "meal"}, headers={"HX-Request": "1"})
        assert response.status_code == 200
        adds = [a for a in manager.actions if a["Action"] == "QueueAdd"]
        assert {a["Queue"] for a in adds} >= {"hotline-general", "hotline-emergency"}
        assert all(a["Interface"] == "PJSIP/agent01" for a in adds)
        pause = [a for a in manager.actions if a["Action"] == "QueuePause"][-1]
        assert (pause["Paused"], pause["Reason"]) == ("true", "meal")

        manager.event(Event="QueueCallerJoin", Queue="hotline-general", Uniqueid="1700000001.5",
                      CallerIDNum="13800000001", CallerIDName="<b>王</b>", Position="1")
        _wait(lambda: phone.waiting_calls().get("hotline-general"))
        page = agent.get("/agent/fragments/queues").get_data(as_text=True)
        assert "138****0001" in page and "&lt;b&gt;王&lt;/b&gt;" in page

        ticket_id = ticket_maker(sqlite_db)(sub_service="APPL-TV")
        with sqlite_db.sessions() as session:
            number = session.get_one(Ticket, ticket_id).number
        manager.event(Event="AgentConnect", Queue="hotline-general", Uniqueid="1700000001.5",
                      Channel="PJSIP/carrier-00000001", Interface="PJSIP/agent01", MemberName="agent01",
                      ChanVariable=f"HOTLINE_TICKET={number}")
        _wait(lambda: not phone.waiting_calls().get("hotline-general"))
        agent01 = user_id(sqlite_db, "agent01")

        def popped() -> bool:
            with sqlite_db.sessions() as session:
                return session.get_one(Ticket, ticket_id).claim_holder_id == agent01

        _wait(popped)
        pop = agent.post("/agent/pop", headers={"HX-Request": "1"})
        assert pop.status_code == 200 and pop.headers["HX-Redirect"] == f"/tickets/{ticket_id}?pop=1"
        assert agent.post("/agent/pop", headers={"HX-Request": "1"}).status_code == 204  # served once
        assert "来电弹屏" in agent.get(pop.headers["HX-Redirect"]).get_data(as_text=True)

        manager.event(Event="QueueMemberPause", Interface="PJSIP/agent01", MemberName="agent01", Paused="0")

        def available() -> bool:
            with sqlite_db.sessions() as session:
                return agent_state(session, agent01).state == "available"

        _wait(available)
    finally:
        phone.stop()
