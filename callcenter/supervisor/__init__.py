"""The supervisors' area: call log, call detail and recordings, exports, wallboard, big screen, reports.

Every route is for supervisors and admins only (agents and providers get 403) and sees only the
stations of the account's scope; looking at call records, recordings and exports is audited.
"""

from __future__ import annotations

from flask import Blueprint

from callcenter.security import allow_roles
from models.enums import Role

SUPERVISOR_ROLES = (Role.SUPERVISOR, Role.ADMIN)

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")
allow_roles(bp, *SUPERVISOR_ROLES)

# The views register themselves on ``bp`` when these modules are imported by the app factory's
# ``_register_blueprints`` (through this package), never at the project's import time.
from callcenter.supervisor import bigscreen, calllog, recordings, reports, wallboard  # noqa: E402,F401
