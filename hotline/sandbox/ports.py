"""Free ports for a sandbox instance of its own (tests, benchmarks): several can run side by side."""

from __future__ import annotations

import os
import random
import socket

from hotline.config import Settings

# The loopback addresses a sandbox binds with the default settings: Asterisk, the simulated
# carrier, the simulated agent phones and the benchmark's trunk.
_DEFAULTS = Settings()
SANDBOX_HOSTS = (_DEFAULTS.sip_host, _DEFAULTS.sim_host, _DEFAULTS.sim_phone_host, _DEFAULTS.sim_bench_host)


def _port_free(port: int, hosts: tuple[str, ...]) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        for host in hosts:
            with socket.socket(socket.AF_INET, kind) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    return False
    return True


def free_ports(count: int, hosts: tuple[str, ...] = SANDBOX_HOSTS) -> list[int]:
    """``count`` distinct ports free on every address in ``hosts`` (UDP and TCP)."""
    chosen: list[int] = []
    rng = random.Random(os.getpid())
    while len(chosen) < count:
        port = rng.randrange(21000, 60000)
        if port not in chosen and _port_free(port, hosts):
            chosen.append(port)
    return chosen
