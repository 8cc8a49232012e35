"""Fixtures: a FastAGI server on a free loopback port, stopped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest

from agi_scripts.routes import IvrDependencies, build_routes
from agi_scripts.server import FastAgiServer, Route, ServerLimits, serve_in_thread
from agi_scripts.store import CachedCatalogue, ModelsTicketSink, load_catalogue
from ivr.flow import FlowSettings
from ivr.prompts import catalogue_prompt_fallback
from tests.plugins.db import Database


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


@pytest.fixture
def deps(db: Database) -> IvrDependencies:
    """The IVR's dependencies over the test database: keypad only, no description, 3 s digit timeout."""
    sink = ModelsTicketSink(db.sessions)
    return IvrDependencies(sink=sink, catalogue=CachedCatalogue(lambda: load_catalogue(db.sessions)),
                           flow=FlowSettings(speech=False, digit_timeout_ms=3000, describe=False),
                           callbacks=sink)


@pytest.fixture
def server(agi_server, deps: IvrDependencies) -> FastAgiServer:  # type: ignore[no-untyped-def]
    """The FastAGI server with the real routes and the catalogue's prompt fallback."""
    started = agi_server(build_routes(deps))
    started.prompt_fallback = catalogue_prompt_fallback
    return started
