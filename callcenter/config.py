"""The console's configuration: plain values with defaults, handed to :func:`create_app`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": "",  # or SESSION_FACTORY: a ready sessionmaker (tests, benchmarks)
    "SECRET_KEY": "",
    "SESSION_COOKIE_SECURE": False,  # True behind HTTPS
    "WEB_SESSION_HOURS": 12.0,
    "LOGIN_LIMIT_PER_USERNAME": 5,
    "LOGIN_LIMIT_PER_ADDRESS": 20,
    "LOGIN_LIMIT_WINDOW_SECONDS": 900,
    "CLAIM_LEASE_SECONDS": 300,
    "OFFER_TIMEOUT_SECONDS": 120,
    "POLL_SECONDS": 1.5,  # live fragments (target: a change visible within 2 s)
    "LIVE_SHARED_SECONDS": 0.25,  # how long one process reuses the version of a list agents share
    "TIMEZONE": "Asia/Shanghai",
    "DEFAULT_LANGUAGE": "zh",
    "PHONE_REGION": "CN",
    "AMI_ENABLED": False,
    "AMI_AGENT_EVENTS": True,  # this process turns AMI agent events into states and screen pops (one of N workers)
    "AMI_HOST": "127.0.0.1",
    "AMI_PORT": 5038,
    "AMI_USER": "hotline",
    "AMI_SECRET": "",
    "AMI_QUEUE_PREFIX": "hotline-",
    "AMI_INTERFACE_TEMPLATE": "PJSIP/{seat}",
    "MAP_CENTER": (30.70, 121.04),
}


def console_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults overlaid with ``values``; unknown keys pass through (Flask's own settings)."""
    merged = dict(DEFAULTS)
    merged.update(values)
    if not merged["SECRET_KEY"]:
        raise ValueError("the console needs a SECRET_KEY (hotline web generates one into the data dir)")
    if not merged.get("SESSION_FACTORY") and not merged["DATABASE_URL"]:
        raise ValueError("the console needs DATABASE_URL or SESSION_FACTORY")
    return merged
