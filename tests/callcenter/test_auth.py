"""Logins: passwords, CSRF, session rotation and revocation, rate limiting, cookie flags."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import update

from models.base import utcnow
from models.console import WebSession
from models.seed import DEMO_PASSWORD
from tests.callcenter.conftest import CSRF, Browser, login, make_app
from tests.plugins.db import Database


def _login_page(app: Flask) -> Browser:
    browser = Browser(app.test_client())
    browser.refresh_csrf()
    return browser


def test_login_lands_agents_and_providers_on_their_pages(sqlite_app: Flask) -> None:
    agent = _login_page(sqlite_app)
    response = agent.post("/login", {"username": "agent01", "password": DEMO_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/agent")
    provider = _login_page(sqlite_app)
    response = provider.post("/login", {"username": "worker00001", "password": DEMO_PASSWORD})
    assert response.headers["Location"].endswith("/provider")


def test_wrong_password_and_unknown_account_get_the_same_answer(sqlite_app: Flask) -> None:
    browser = _login_page(sqlite_app)
    wrong = browser.post("/login", {"username": "agent01", "password": "nope-nope"})
    unknown = browser.post("/login", {"username": "nobody", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in wrong.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(sqlite_app: Flask) -> None:
    browser = Browser(sqlite_app.test_client())
    response = browser.client.post("/login", data={"username": "agent01", "password": DEMO_PASSWORD})
    assert response.status_code == 400
    agent = login(sqlite_app, "agent01")
    assert agent.client.post("/agent/state", data={"state": "available"}).status_code == 400
    assert agent.client.post("/agent/state", data={"state": "available"},
                             headers={"HX-Request": "true", "X-CSRFToken": "forged"}).status_code == 400
    ok = agent.client.post("/agent/state", data={"state": "available"},
                           headers={"HX-Request": "true", "X-CSRFToken": agent.csrf})
    assert ok.status_code == 200


def test_login_rotates_the_session(sqlite_app: Flask) -> None:
    browser = _login_page(sqlite_app)
    with browser.client.session_transaction() as session:
        session["planted"] = "by an attacker"
        before = dict(session)
    browser.post("/login", {"username": "agent01", "password": DEMO_PASSWORD})
    with browser.client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("_user_id") and session.get("_user_id") != before.get("_user_id")
        assert session.get("csrf_token") != before.get("csrf_token")


def test_old_cookie_is_refused_after_logout(sqlite_app: Flask) -> None:
    agent = login(sqlite_app, "agent01")
    cookie = agent.client.get_cookie("hotline_session")
    assert cookie is not None
    stolen = cookie.value
    assert agent.get("/agent").status_code == 200
    assert agent.post("/logout").status_code == 302
    replay = sqlite_app.test_client()
    replay.set_cookie("hotline_session", stolen)
    response = replay.get("/agent")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert replay.get("/api/me").status_code == 401


def test_polls_leave_the_cookie_alone_and_the_login_ends_with_its_row(sqlite_app: Flask, sqlite_db: Database) -> None:
    agent = login(sqlite_app, "agent01")
    poll = agent.get("/agent/live", headers={"HX-Request": "true"})
    assert poll.status_code in (200, 204) and "Set-Cookie" not in poll.headers  # nothing re-signed per poll
    with sqlite_db.sessions.begin() as session:  # the row's expiry, set at login, is what ends a login
        session.execute(update(WebSession).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert agent.get("/agent/live", headers={"HX-Request": "true"}).status_code == 401


def test_failed_logins_are_limited_across_processes(sqlite_db: Database) -> None:
    first, second = make_app(sqlite_db), make_app(sqlite_db)  # two workers sharing the database
    for index in range(5):
        browser = _login_page(first if index % 2 else second)
        assert browser.post("/login", {"username": "agent02", "password": "wrong-password"}).status_code == 401
    blocked = _login_page(second)
    response = blocked.post("/login", {"username": "agent02", "password": DEMO_PASSWORD})
    assert response.status_code == 429
    other = _login_page(first)  # another account is not blocked by agent02's failures
    assert other.post("/login", {"username": "agent03", "password": DEMO_PASSWORD}).status_code == 302


def test_cookie_flags(sqlite_db: Database) -> None:
    app = make_app(sqlite_db, SESSION_COOKIE_SECURE=True)
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    response = client.post("/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"},
                           data={"csrf_token": token, "username": "agent01", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    plain = _login_page(make_app(sqlite_db)).post("/login", {"username": "agent01", "password": DEMO_PASSWORD})
    assert "Secure" not in plain.headers["Set-Cookie"] and "HttpOnly" in plain.headers["Set-Cookie"]


def test_security_headers_and_safe_next(sqlite_app: Flask) -> None:
    browser = _login_page(sqlite_app)
    response = browser.post("/login", {"username": "agent01", "password": DEMO_PASSWORD,
                                       "next": "https://evil.example/"})
    assert response.headers["Location"].endswith("/agent")
    page = browser.get("/agent")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
