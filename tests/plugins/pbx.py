"""PBX fixtures: one sandbox Asterisk per test session, with the probe FastAGI server and the
call simulator.

- ``pbx_settings`` -- Settings of the session's own instance: free ports, a temporary data dir.
- ``pbx`` -- the running :class:`~hotline.sandbox.runner.Sandbox` (``.cli()``, ``.layout``:
  ``queue_log``, ``cdr_csv``, ``full_log``, ``recordings_host``).
- ``simulator`` -- a connected :class:`~hotline.simulator.calls.Simulator` (``place_call``,
  ``start_call``, ``agent_answers``, ``login_agent``, ``resident_answers`` ...).
- ``fastagi_probe`` / ``probe`` -- see ``tests/plugins/fastagi_probe.py``.
- ``hotline_agi`` -- the project's own FastAGI server in place of the probe, for one test.

If the sandbox cannot start, every test using it fails with the reason; nothing is skipped.
Teardown stops Asterisk and checks that no process or mount of the instance is left.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hotline.config import Settings, load_settings
from hotline.sandbox.ports import free_ports
from hotline.sandbox.runner import Sandbox
from hotline.simulator.calls import Simulator
from hotline.simulator.probe_agi import ProbeAgiServer, ProbeSession

pytest_plugins = ["tests.plugins.fastagi_probe"]



@pytest.fixture(scope="session")
def pbx_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of this session's Asterisk instance (its own ports and data dir)."""
    sip, sim, ami, agi = free_ports(4)
    data_dir = tmp_path_factory.mktemp("pbx")
    return load_settings(environ={}, overrides={
        "data_dir": data_dir, "asterisk_instance": f"pytest-{os.getpid()}", "sip_port": sip, "sim_port": sim,
        "ami_port": ami, "agi_port": agi, "queue_wait_seconds": 20,
    })


def _leftovers(sandbox: Sandbox) -> list[str]:
    """Processes or mounts of this instance still present."""
    found: list[str] = []
    config = str(sandbox.layout.config_file).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if config in argv:
                found.append(f"process {entry.name}: {b' '.join(argv).decode(errors='replace')}")
    if sandbox.layout.root is not None:
        root = str(sandbox.layout.root)
        found += [f"mount {line}" for line in Path("/proc/mounts").read_text().splitlines() if root in line]
    return found


@dataclasses.dataclass
class OwnPbx:
    """A sandbox instance of one test's own (own ports, data dir), with its probe FastAGI server."""

    settings: Settings
    sandbox: Sandbox
    probe: ProbeAgiServer


@contextmanager
def own_sandbox(data_dir: Path, name: str, ivr: Callable[[ProbeSession], None]) -> Iterator[OwnPbx]:
    """Start a sandbox of a test's own (for tests that stop or kill Asterisk) and remove it after.

    The probe answers the ``ivr`` route with ``ivr``.  Like ``pbx``: a failure to start fails the
    test with the reason, and nothing of the instance may be left behind.
    """
    sip, sim, ami, agi = free_ports(4)
    settings = load_settings(environ={}, overrides={
        "data_dir": data_dir, "asterisk_instance": f"pytest-{name}-{os.getpid()}", "sip_port": sip,
        "sim_port": sim, "ami_port": ami, "agi_port": agi, "queue_wait_seconds": 20})
    probe = ProbeAgiServer(settings.agi_host, settings.agi_port).start()
    probe.behaviours["ivr"] = ivr
    sandbox = Sandbox(settings)
    try:
        sandbox.start(progress=lambda line: print(line, flush=True))
    except Exception as exc:  # the reason must reach the report: no skip, a failure
        probe.stop()
        pytest.fail(f"the {name} sandbox Asterisk could not start: {exc}", pytrace=False)
    try:
        yield OwnPbx(settings, sandbox, probe)
    finally:
        sandbox.stop()
        left = _leftovers(sandbox)
        sandbox.remove_instance()
        probe.stop()
        assert not left, f"left behind after stopping the sandbox: {left}"


@pytest.fixture(scope="session")
def pbx(pbx_settings: Settings, fastagi_probe: ProbeAgiServer) -> Iterator[Sandbox]:
    """The session's sandbox Asterisk, provisioned (once, cached) and started."""
    sandbox = Sandbox(pbx_settings)
    try:
        sandbox.start(progress=lambda line: print(line, flush=True))
    except Exception as exc:  # the reason must reach the report: no skip, a failure
        pytest.fail(f"the sandbox Asterisk could not start: {exc}", pytrace=False)
    yield sandbox
    sandbox.stop()
    left = _leftovers(sandbox)
    _keep_logs(sandbox, pbx_settings.data_dir / "asterisk-logs")
    sandbox.remove_instance()
    assert not left, f"left behind after stopping the sandbox: {left}"


def _keep_logs(sandbox: Sandbox, target: Path) -> None:
    logs = sandbox.layout.host(sandbox.layout.log)
    if logs.is_dir():
        shutil.copytree(logs, target, dirs_exist_ok=True)


@pytest.fixture(scope="session")
def simulator(pbx: Sandbox) -> Iterator[Simulator]:
    """The call simulator connected to the session's sandbox; agent phones registered."""
    sim = Simulator.connect(pbx)
    seats = [f"agent{n:02d}" for n in range(1, pbx.settings.agent_seats + 1)]
    sim.wait_agents_registered(seats)
    yield sim
    sim.close()


@pytest.fixture
def hotline_agi(pbx_settings: Settings, fastagi_probe: ProbeAgiServer) -> Iterator[object]:
    """The project's FastAGI server (``hotline agi``) on the dialplan's address instead of the probe."""
    from agi_scripts.server import serve_in_thread
    from hotline.commands.agi import build_server

    fastagi_probe.stop()
    server = build_server(dataclasses.replace(pbx_settings))
    thread = serve_in_thread(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        fastagi_probe.start()
