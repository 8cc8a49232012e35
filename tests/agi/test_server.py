"""The FastAGI server over a real TCP socket, driven by a scripted fake Asterisk."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from agi_scripts.server import AgiCall
from tests.agi.fake_asterisk import FakeAsterisk, FakeCaller, agi_env


def wait_until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def greeting_route(call: AgiCall) -> None:
    call.channel.answer()
    digit = call.channel.play(["welcome"], "0123456789")
    call.channel.set_variable("HOTLINE_QUEUE", f"q{digit or 'none'}")


def test_routes_by_network_script(agi_server) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    server = agi_server({"ivr": greeting_route, "status": lambda call: seen.append(call.uniqueid)})
    fake = FakeAsterisk(server.port, agi_env("ivr"), FakeCaller(keys=["3"])).run()
    assert fake.names() == ["ANSWER", "STREAM FILE", "SET VARIABLE"]
    assert fake.commands[1] == ["STREAM", "FILE", "hotline/welcome", "0123456789"]
    assert fake.caller.variables == {"HOTLINE_QUEUE": "q3"}
    assert fake.closed_by_server
    FakeAsterisk(server.port, agi_env("status?lang=zh", uniqueid="42.7")).run()
    assert seen == ["42.7"]


def test_unknown_route_marks_the_call_for_the_fallback(agi_server) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"ivr": greeting_route})
    fake = FakeAsterisk(server.port, agi_env("nosuch")).run()
    assert fake.caller.variables == {"HOTLINE_OUTCOME": "error"}
    assert server.stats.failed == 1


def test_an_exception_ends_the_route_with_the_error_outcome(agi_server, caplog) -> None:  # type: ignore[no-untyped-def]
    def broken(call: AgiCall) -> None:
        call.channel.answer()
        raise RuntimeError("database is down")

    server = agi_server({"ivr": broken})
    with caplog.at_level(logging.INFO, logger="hotline.agi"):
        fake = FakeAsterisk(server.port, agi_env("ivr", uniqueid="99.1")).run()
    assert fake.names() == ["ANSWER", "SET VARIABLE"]
    assert fake.caller.variables == {"HOTLINE_OUTCOME": "error"}
    assert "HOTLINE_QUEUE" not in fake.caller.variables
    assert any("[99.1] route ivr failed" in r.getMessage() for r in caplog.records)


def test_hangup_is_detected_at_the_next_step(agi_server) -> None:  # type: ignore[no-untyped-def]
    steps: list[int] = []

    def endless_menu(call: AgiCall) -> None:
        for step in range(100):
            steps.append(step)
            call.channel.play(["menu"], "123")

    server = agi_server({"ivr": endless_menu})
    fake = FakeAsterisk(server.port, agi_env(), FakeCaller(hangup_after=3)).run()
    assert len(fake.commands) <= 4  # the HANGUP line stops the route before another command
    wait_until(lambda: server.stats.finished == 1)
    assert server.stats.hung_up == 1 and server.stats.failed == 0
    assert len(steps) <= 4


def test_dead_channel_answer_is_a_hangup(agi_server) -> None:  # type: ignore[no-untyped-def]
    def route(call: AgiCall) -> None:
        call.channel.answer()
        call.channel.answer()

    class DeadCaller(FakeCaller):
        def answer(self, args: list[str]) -> str:
            return "511 Command Not Permitted on a dead channel or intercept routine"

    server = agi_server({"ivr": route})
    fake = FakeAsterisk(server.port, agi_env(), DeadCaller()).run()
    assert len(fake.commands) == 1
    wait_until(lambda: server.stats.finished == 1)
    assert server.stats.hung_up == 1


def test_silent_asterisk_times_out(agi_server) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"ivr": greeting_route}, command_timeout_seconds=0.3, env_timeout_seconds=0.3)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"agi_network_script: ivr\nagi_uniqueid: 5.5\n\n")
        sock.settimeout(3)
        reader = sock.makefile("rb")
        assert reader.readline() == b"ANSWER\n"  # and never answer it
        wait_until(lambda: server.stats.finished == 1)
        rest = reader.read()  # the server closed the connection
        assert b"HOTLINE_QUEUE" not in rest
    assert server.stats.failed == 1


def test_half_environment_then_silence_is_dropped(agi_server) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"ivr": greeting_route}, env_timeout_seconds=0.2)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"agi_network_script: ivr\n")
        sock.settimeout(3)
        assert sock.recv(100) == b""
    wait_until(lambda: server.stats.finished == 1)


def test_nothing_is_echoed_to_stderr_and_routes_run_off_the_main_thread(agi_server, capfd) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"ivr": greeting_route})
    FakeAsterisk(server.port, agi_env(callerid="13812345678")).run()
    wait_until(lambda: server.stats.finished == 1)
    captured = capfd.readouterr()
    assert "13812345678" not in captured.err and "ENV LINE" not in captured.err
    assert server.stats.failed == 0


def test_hostile_caller_id_cannot_inject_commands(agi_server) -> None:  # type: ignore[no-untyped-def]
    def echo_caller(call: AgiCall) -> None:
        call.channel.set_variable("CALLER_NAME_SEEN", call.channel.call.caller_name)

    hostile = 'x" "\\\\"; HANGUP $(reboot) `id`' + "名" * 200
    server = agi_server({"ivr": echo_caller})
    fake = FakeAsterisk(server.port, agi_env(agi_calleridname=hostile)).run()
    assert fake.commands == [["SET", "VARIABLE", "CALLER_NAME_SEEN", hostile]]


def test_a_caller_id_with_a_newline_is_refused_not_sent(agi_server) -> None:  # type: ignore[no-untyped-def]
    def echo_route_arg(call: AgiCall) -> None:
        call.channel.set_variable("X", "line1\nHANGUP")

    server = agi_server({"ivr": echo_route_arg})
    fake = FakeAsterisk(server.port, agi_env()).run()
    assert fake.caller.variables == {"HOTLINE_OUTCOME": "error"}
    assert all("HANGUP" not in line for line in fake.raw_lines)


@pytest.mark.parametrize("over", [1])
def test_calls_over_the_bound_are_closed_at_once(agi_server, over: int) -> None:  # type: ignore[no-untyped-def]
    import threading

    release = threading.Event()

    def slow(call: AgiCall) -> None:
        call.channel.answer()
        release.wait(5)

    server = agi_server({"ivr": slow}, max_calls=1)
    first = threading.Thread(target=FakeAsterisk(server.port, agi_env()).run)
    first.start()
    wait_until(lambda: server.stats.active == 1)
    second = FakeAsterisk(server.port, agi_env(uniqueid="2.2")).run()
    assert second.commands == [] and second.closed_by_server
    release.set()
    first.join(5)
    assert server.stats.refused == over
