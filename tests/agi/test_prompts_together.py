"""Prompts Asterisk has played before go together: a menu page in one Read(), a number in one
Playback(), the dialplan's variables in one MSet(); prompts not played yet go one by one with their
fallback.  Over the FastAGI server with the scripted fake Asterisk (the sandbox tests run the same
commands on a real Asterisk 22)."""

from __future__ import annotations

import logging

import pytest

from agi_scripts.server import AgiCall, FastAgiServer
from models.tickets import ticket_by_number
from tests.agi.fake_asterisk import FakeAsterisk, FakeCaller, agi_env, ivr_call
from tests.plugins.db import Database

PAGE = ["menu_intro", "cat/DRAIN", "press", "num/1"]


def menu_route(call: AgiCall) -> None:
    """Play a page and take one key; say what came back in MENU_KEY."""
    entry = call.channel.collect_digits(PAGE, 1, 3000)
    call.channel.set_variable("MENU_KEY", entry.digits or ("timeout" if entry.timed_out else "none"))


def known(server: FastAgiServer, *keys: str, language: str = "en") -> None:
    for key in keys:
        server.prompts.add_present(language, key)


def run(server: FastAgiServer, **caller: object) -> FakeAsterisk:
    return FakeAsterisk(server.port, agi_env("menu"), FakeCaller(**caller)).run()  # type: ignore[arg-type]


def test_a_page_of_prompts_never_played_goes_one_by_one_and_then_together(agi_server) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"menu": menu_route})
    first = run(server, keys=["1"], barge=False)
    assert first.names() == ["STREAM FILE"] * 3 + ["GET DATA", "SET VARIABLE"]
    assert first.caller.variables["MENU_KEY"] == "1"
    second = run(server, keys=["1"])
    assert second.names() == ["EXEC", "GET FULL", "SET VARIABLE"]
    sounds = "hotline/menu_intro&hotline/cat/DRAIN&hotline/press&hotline/num/1"
    assert second.commands[0] == ["EXEC", "Read", f"HOTLINE_READ,{sounds},1,,1,3.000"]
    assert second.caller.variables["MENU_KEY"] == "1"


@pytest.mark.parametrize(("keys", "expected"), [(["#"], "#"), ([None], "timeout"), (["7"], "7")])
def test_a_page_read_together_gives_the_key_hash_or_a_timeout(agi_server, keys, expected: str) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"menu": menu_route})
    known(server, *PAGE)
    fake = run(server, keys=keys)
    assert fake.names()[0] == "EXEC" and fake.caller.variables["MENU_KEY"] == expected


def test_a_prompt_that_stopped_playing_is_played_alone_again(agi_server, caplog) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"menu": menu_route})
    known(server, *PAGE)
    with caplog.at_level(logging.WARNING, logger="hotline.agi"):
        fake = run(server, keys=["1"], barge=False, missing_sounds=frozenset({"hotline/num/1"}))
    # Read() said ERROR (its last file is gone): the page is played again one by one, and the gap found
    assert fake.names() == ["EXEC", "GET FULL", *["STREAM FILE"] * 3, "GET DATA", "CHANNEL STATUS", "SET VARIABLE"]
    assert fake.caller.variables.get("HOTLINE_OUTCOME") == "error"  # no fallback for a digit: the human queue
    assert not server.prompts.is_present("en", "num/1")
    assert server.prompts.is_present("en", "menu_intro")
    assert any("step=prompt_read status=ERROR" in r.getMessage() for r in caplog.records)


def test_a_hangup_during_a_page_read_together_ends_the_route(agi_server) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"menu": menu_route})
    known(server, *PAGE)
    fake = run(server, keys=["1"], read_status="HANGUP")
    assert fake.names() == ["EXEC", "GET FULL"]
    assert server.stats.hung_up == 1


def test_a_playback_with_keys_that_interrupt_uses_read_and_returns_the_key(agi_server) -> None:  # type: ignore[no-untyped-def]
    said: list[str] = []
    server = agi_server({"menu": lambda call: said.append(call.channel.play(PAGE, "0123456789*#"))})
    known(server, *PAGE)
    assert run(server, keys=["5"]).names() == ["EXEC", "GET FULL"] and said == ["5"]
    run(server, keys=["5"], barge=False)  # a key the caller keeps for later does not end the playback
    assert said == ["5", ""]


def test_a_playback_without_keys_is_one_playback(agi_server) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"menu": lambda call: call.channel.play(["ticket_opened", "num/2", "num/6"])})
    known(server, "ticket_opened", "num/2", "num/6")
    fake = run(server)
    assert fake.commands[0] == ["EXEC", "Playback", "hotline/ticket_opened&hotline/num/2&hotline/num/6"]


@pytest.mark.parametrize(("values", "names"), [
    ({"HOTLINE_TICKET": "2612040001", "HOTLINE_QUEUE": "plumbing", "HOTLINE_OUTCOME": "queued"}, ["EXEC"]),
    ({"HOTLINE_NOTE": "a,b=c", "HOTLINE_OUTCOME": "queued"}, ["SET VARIABLE", "SET VARIABLE"]),
    ({"HOTLINE_OUTCOME": "queued"}, ["SET VARIABLE"]),
])
def test_variables_go_in_one_mset_only_when_they_are_plain_words(agi_server, values, names) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"menu": lambda call: call.channel.set_variables(values)})
    fake = run(server)
    assert fake.names() == names and fake.caller.variables == values


def test_a_second_ivr_call_reads_its_menu_page_in_one_command(server, db: Database) -> None:  # type: ignore[no-untyped-def]
    first = ivr_call(server, ["4", "1", None], "1733400020.1", barge=False)
    second = ivr_call(server, ["4", "1", None], "1733400020.2")
    reads = [c for c in second.commands if c[:2] == ["EXEC", "Read"]]
    assert len(reads) == 1 and "hotline/svc/DRAIN-SEWER" in reads[0][2]
    assert [c[1] for c in second.commands if c[0] == "EXEC"] == ["Read", "Playback", "MSet"]
    assert len(second.commands) < len(first.commands) / 2
    for fake in (first, second):
        assert fake.caller.variables["HOTLINE_OUTCOME"] == "queued"
        with db.session() as s:
            ticket = ticket_by_number(s, fake.caller.variables["HOTLINE_TICKET"])
            assert ticket is not None and ticket.sub_service is not None and ticket.sub_service.code == "DRAIN-SEWER"


@pytest.mark.parametrize(("arrived", "commands"), [("zh", []), ("en", ["SET VARIABLE"]), ("", ["SET VARIABLE"])])
def test_the_language_is_set_only_when_the_channel_has_another(agi_server, arrived: str, commands) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"menu": lambda call: call.channel.set_language("zh")})
    fake = FakeAsterisk(server.port, agi_env("menu", agi_language=arrived)).run()
    assert fake.names() == commands
    if commands:
        assert fake.caller.variables == {"CHANNEL(language)": "zh"}
