"""The application factory: configuration, database, security, language, blueprints, errors."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from callcenter.choices import init_choices
from callcenter.config import console_config
from callcenter.db import init_db
from callcenter.i18n import gettext as _
from callcenter.i18n import init_i18n
from callcenter.security import init_security, wants_json
from callcenter.telephony import init_telephony
from models.errors import ClaimConflict, DispatchRefused, DomainError, LeaseExpired, NotFound, TransitionRefused

log = logging.getLogger("hotline.web")

DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404, ClaimConflict: 409, LeaseExpired: 409, TransitionRefused: 409, DispatchRefused: 409,
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def create_app(config: Mapping[str, Any]) -> Flask:
    """Build the console from plain configuration values (see :mod:`callcenter.config`)."""
    app = Flask(__name__)
    values = console_config(config)
    app.config.update(values)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(values["SESSION_COOKIE_SECURE"]), SESSION_COOKIE_NAME="hotline_session",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=float(values["WEB_SESSION_HOURS"])),
        REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SECURE=bool(values["SESSION_COOKIE_SECURE"]),
        WTF_CSRF_TIME_LIMIT=None, WTF_CSRF_SSL_STRICT=bool(values["SESSION_COOKIE_SECURE"]),
        MAX_CONTENT_LENGTH=256 * 1024, JSON_AS_ASCII=False,
        # The login ends when its session row expires (WEB_SESSION_HOURS after login), so re-signing
        # the cookie on every request (every live poll) to slide its expiry bought nothing.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    init_db(app)
    csrf = CSRFProtect(app)
    init_security(app)
    init_i18n(app)
    init_choices(app)
    init_telephony(app)
    _register_blueprints(app, csrf)
    _register_errors(app)
    app.after_request(_security_headers)
    return app


def _register_blueprints(app: Flask, csrf: CSRFProtect) -> None:
    from callcenter import agent, api, auth, dispatch, open311, provider, supervisor

    for module in (auth, agent, dispatch, provider, api, supervisor, open311):
        app.register_blueprint(module.bp)
    csrf.exempt(open311.bp)  # no cookies there: every call carries its API key


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def error_response(status: int, message: str) -> tuple[Any, int, dict[str, str]]:
    """A 4xx/5xx as JSON for the API, a small fragment for htmx, a page otherwise."""
    headers: dict[str, str] = {}
    if wants_json():
        return {"error": status, "message": message}, status, headers
    if request.headers.get("HX-Request"):
        headers = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
        return render_template("_message.html", message=message, error=True), status, headers
    return render_template("error.html", status=status, message=message), status, headers


def _register_errors(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> tuple[Any, int, dict[str, str]]:
        return error_response(DOMAIN_STATUS.get(type(exc), 400), exc.message)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[Any, int, dict[str, str]]:
        return error_response(400, _("The form expired or is not from this site. Reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Any, int, dict[str, str]]:
        messages = {401: _("Please log in."), 403: _("You are not allowed to do that."),
                    404: _("Not found."), 429: _("Too many requests.")}
        status = exc.code or 500
        return error_response(status, messages.get(status, exc.description or exc.name))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Any, int, dict[str, str]]:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, _("Something went wrong; nothing was changed. Please try again."))
