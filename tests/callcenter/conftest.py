"""Console fixtures: an app over a fresh seeded database, logged-in clients, tickets to work on."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from callcenter import create_app
from models.entities import Station, User
from models.enums import Channel
from models.seed import DEMO_PASSWORD
from models.tickets import TicketRequest, open_ticket
from tests.plugins.db import Database

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (playwright cannot download browsers here)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def make_app(database: Database, **overrides: object) -> Flask:
    """The console over ``database`` with test-friendly limits."""
    config: dict[str, object] = {"SECRET_KEY": "test-secret", "SESSION_FACTORY": database.sessions,
                                 "TESTING": True}
    config.update(overrides)
    return create_app(config)


@dataclass
class Browser:
    """A test client that knows its CSRF token."""

    client: FlaskClient
    csrf: str = ""

    def refresh_csrf(self, path: str = "/login") -> str:
        """Read a fresh CSRF token from a page."""
        page = self.client.get(path, follow_redirects=True).get_data(as_text=True)
        found = CSRF.search(page)
        assert found, f"no CSRF token on {path}"
        self.csrf = found.group(1)
        return self.csrf

    def post(self, path: str, data: dict[str, object] | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
        """POST with the CSRF token."""
        payload = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(path, data=payload, **kwargs)

    def get(self, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        """GET."""
        return self.client.get(path, **kwargs)


def login(app: Flask, username: str, password: str = DEMO_PASSWORD) -> Browser:
    """A client logged in as ``username``."""
    browser = Browser(app.test_client())
    browser.refresh_csrf()
    response = browser.post("/login", {"username": username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    browser.refresh_csrf("/")  # a new session after login: a new token
    return browser


@pytest.fixture
def app(db: Database) -> Flask:
    """The console over a fresh database (SQLite and PostgreSQL)."""
    return make_app(db)


@pytest.fixture
def sqlite_app(sqlite_db: Database) -> Flask:
    """The console over a fresh SQLite database only."""
    return make_app(sqlite_db)


def station_id(database: Database, code: str) -> int:
    """The id of a station by code."""
    with database.sessions() as session:
        return session.scalars(select(Station.id).where(Station.code == code)).one()


def user_id(database: Database, username: str) -> int:
    """The id of an account."""
    with database.sessions() as session:
        return session.scalars(select(User.id).where(User.username == username)).one()


@pytest.fixture
def make_ticket(db: Database) -> Callable[..., int]:
    """Open a ticket (phone channel) and return its id."""
    return ticket_maker(db)


def ticket_maker(database: Database) -> Callable[..., int]:
    """A function that opens tickets in ``database``."""

    def make(station: str | None = "DH-JSHT", sub_service: str | None = None, **fields: object) -> int:
        with database.sessions.begin() as session:
            sid = None
            if station:
                sid = session.scalars(select(Station.id).where(Station.code == station)).one()
            ticket = open_ticket(session, TicketRequest(channel=Channel.PHONE, station_id=sid,
                                                        sub_service_code=sub_service, **fields),  # type: ignore[arg-type]
                                 actor="test")
            return ticket.id

    return make


@pytest.fixture
def clients(app: Flask) -> Iterator[Callable[[str], Browser]]:
    """Log in as any demo account."""
    yield lambda username: login(app, username)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium under Playwright."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (make system-deps installs it)", pytrace=False)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def login_page(context: Any, base: str, username: str, password: str = DEMO_PASSWORD) -> Any:
    """A new page of ``context`` logged in to the console at ``base`` as ``username``."""
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    return page
