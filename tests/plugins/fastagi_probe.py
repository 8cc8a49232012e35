"""The probe FastAGI server as pytest fixtures: a real FastAGI server recording what calls bring.

``fastagi_probe`` (session) listens on the address the sandbox dialplan calls; ``probe`` (per test)
is the same server with its default behaviours restored and its record cleared, so a test can set
``probe.behaviours["ivr"] = ...`` and read ``probe.calls`` (each with ``.env`` and ``.digits``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hotline.config import Settings
from hotline.simulator.probe_agi import ProbeAgiServer, bench_menu, collect_and_route


@pytest.fixture(scope="session")
def fastagi_probe(pbx_settings: Settings) -> Iterator[ProbeAgiServer]:
    """The probe server on ``pbx_settings.agi_host:agi_port`` for the whole session."""
    server = ProbeAgiServer(pbx_settings.agi_host, pbx_settings.agi_port).start()
    yield server
    server.stop()


@pytest.fixture
def probe(fastagi_probe: ProbeAgiServer) -> Iterator[ProbeAgiServer]:
    """The probe, running, with default behaviours and an empty record of calls."""
    fastagi_probe.start()
    fastagi_probe.calls.clear()
    fastagi_probe.behaviours = {"ivr": collect_and_route, "bench": bench_menu}
    yield fastagi_probe
    fastagi_probe.start()
    fastagi_probe.behaviours = {"ivr": collect_and_route, "bench": bench_menu}
