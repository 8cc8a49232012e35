"""Fixtures: a FastAGI server on a free loopback port, stopped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest

from agi_scripts.server import FastAgiServer, Route, ServerLimits, serve_in_thread


@pytest.fixture
def agi_server() -> Iterator[Callable[..., FastAgiServer]]:
    servers: list[FastAgiServer] = []

    def start(routes: Mapping[str, Route], **limits: float) -> FastAgiServer:
        server = FastAgiServer(("127.0.0.1", 0), routes, ServerLimits(**limits))
        serve_in_thread(server)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
