"""The concurrency model holds 250 simultaneous calls in one process."""

from __future__ import annotations

import threading
import time

from agi_scripts.server import AgiCall
from tests.agi.fake_asterisk import FakeAsterisk, FakeCaller, agi_env

CALLS = 250


def menu_route(call: AgiCall) -> None:
    call.channel.answer()
    call.channel.play(["welcome"])
    choice = call.channel.collect_digits(["menu"], 1, 5000)
    call.channel.play(["confirm"])
    call.channel.set_variable("HOTLINE_QUEUE", f"q{choice.digits}")
    call.channel.set_variable("HOTLINE_OUTCOME", "queued")


def test_250_simultaneous_calls_all_complete(agi_server) -> None:  # type: ignore[no-untyped-def]
    server = agi_server({"ivr": menu_route})
    fakes = [FakeAsterisk(server.port, agi_env(uniqueid=f"1.{i}"), FakeCaller(keys=[str(i % 9 + 1)]),
                          reply_delay=0.25, timeout=30) for i in range(CALLS)]
    barrier = threading.Barrier(CALLS)

    def place(fake: FakeAsterisk) -> None:
        barrier.wait()
        fake.run()

    threads = [threading.Thread(target=place, args=(f,)) for f in fakes]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    elapsed = time.monotonic() - started
    assert all(f.caller.variables.get("HOTLINE_OUTCOME") == "queued" for f in fakes)
    assert [f.caller.variables["HOTLINE_QUEUE"] for f in fakes] == [f"q{i % 9 + 1}" for i in range(CALLS)]
    assert server.stats.failed == 0 and server.stats.refused == 0
    assert server.stats.peak_active >= CALLS * 0.8  # they really overlapped
    assert elapsed < 15  # six 0.25 s steps each: serial would take over 6 minutes
