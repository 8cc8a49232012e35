"""Login, logout and the UI language.

Login rotates the session (the old cookie's contents are dropped and a new random session row is
made), failures are rate-limited through the database (so every web process counts them), and
logout revokes the row so a replayed cookie is refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from callcenter.db import db
from callcenter.i18n import LANGUAGES
from callcenter.i18n import gettext as _
from callcenter.security import console_user, public
from models.console import (
    LoginLimits,
    login_blocked,
    open_web_session,
    record_login_attempt,
    revoke_web_session,
)
from models.enums import Role
from models.users import check_password, user_by_username

bp = Blueprint("auth", __name__)

# A hash to compare against when the account does not exist (same cost as a real check).
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def _limits() -> LoginLimits:
    config = current_app.config
    return LoginLimits(per_username=config["LOGIN_LIMIT_PER_USERNAME"],
                       per_address=config["LOGIN_LIMIT_PER_ADDRESS"],
                       window_seconds=config["LOGIN_LIMIT_WINDOW_SECONDS"])


def _remote_addr() -> str:
    return (request.remote_addr or "unknown")[:64]


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(role: Role) -> str:
    """Where an account lands after login."""
    return url_for("provider.home") if role == Role.PROVIDER else url_for("agent.workspace")


@bp.get("/login")
@public
def login() -> str | Response:
    """The login form."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    return render_template("login.html", next=_safe_next(request.args.get("next")))


@bp.post("/login")
@public
def login_submit() -> tuple[str, int] | Response:
    """Check the password (scrypt), refuse when rate-limited, open a fresh session row."""
    username = (request.form.get("username") or "").strip()[:64]
    password = request.form.get("password") or ""
    session_db = db()
    if login_blocked(session_db, username, _remote_addr(), _limits()):
        return render_template("login.html", error=_("Too many failed logins. Try again in a few minutes."),
                               next=None), 429
    user = user_by_username(session_db, username) if username else None
    ok = check_password(user.password_hash if user else _DUMMY_HASH, password) and bool(user and user.active)
    record_login_attempt(session_db, username, _remote_addr(), ok)
    if not ok or user is None:
        session_db.commit()
        return render_template("login.html", error=_("Wrong login name or password."),
                               next=_safe_next(request.form.get("next"))), 401
    row = open_web_session(session_db, user, hours=current_app.config["WEB_SESSION_HOURS"],
                           remote_addr=_remote_addr())
    session_db.commit()
    language = session.get("lang")
    session.clear()  # rotation: nothing of the pre-login session survives
    if language:
        session["lang"] = language
    login_user(console_user(user, row.id))
    session.permanent = True
    return redirect(_safe_next(request.form.get("next")) or home_for(Role(user.role)))


@bp.post("/logout")
def logout() -> Response:
    """Revoke the session row (a replayed cookie is refused) and clear the cookie."""
    revoke_web_session(db(), current_user.session_id)
    db().commit()
    logout_user()
    session.clear()
    flash(_("You have logged out."))
    return redirect(url_for("auth.login"))


@bp.post("/language")
@public
def language() -> Response:
    """Switch the UI language (zh / en) for this browser."""
    choice = request.form.get("lang", "")
    if choice not in LANGUAGES:
        abort(400, description="unknown language")
    session["lang"] = choice
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.login"))


@bp.get("/healthz")
@public
def healthz() -> dict[str, str]:
    """Liveness probe (no data)."""
    return {"status": "ok"}


@bp.get("/")
def index() -> Response:
    """The account's home page."""
    return redirect(home_for(current_user.role))
