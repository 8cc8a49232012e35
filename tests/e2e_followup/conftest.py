"""Follow-up survey calls and callbacks end to end: the sandbox Asterisk, the simulator's residents
and agent phones, the project's FastAGI server (seeded store, rendered prompts; the e2e_ivr
fixtures) and the scheduler's own AMI dialer and jobs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from callcenter.scheduler.dialer import AmiDialer
from callcenter.scheduler.jobs import JobContext
from hotline.commands.scheduler import build_dialer, job_context
from hotline.config import Settings
from hotline.runtime import sessions_for
from models.followups import CallingHours
from models.outbound import OutboundPolicy
from tests.e2e_ivr import conftest as e2e_ivr

# The e2e_ivr fixtures, reused: the seeded store with rendered prompts, and the project's FastAGI server.
ivr_settings = e2e_ivr.ivr_settings
ivr_store = e2e_ivr.ivr_store
ivr_agi = e2e_ivr.ivr_agi
ANY_TIME = CallingHours(dt.time(0), dt.time(23, 59, 59, 999999))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """These tests place real SIP calls through the session's sandbox Asterisk."""
    for item in items:
        if "tests/e2e_followup/" in str(item.fspath):
            item.add_marker(pytest.mark.pbx)


@pytest.fixture
def store_sessions(ivr_store: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the e2e ticket store."""
    engine, sessions = sessions_for(ivr_store)
    yield sessions
    engine.dispose()


@pytest.fixture
def dialer(ivr_store: Settings, store_sessions: sessionmaker[Session]) -> Iterator[AmiDialer]:
    """The scheduler's AMI dialer, logged in to the sandbox as the hotline's own AMI user."""
    built = build_dialer(ivr_store, store_sessions)
    assert built is not None
    built.start()
    assert built.wait_connected(20), "the dialer could not log in to the sandbox's AMI"
    yield built
    built.stop()


def quick(policy: OutboundPolicy, **changes: object) -> OutboundPolicy:
    """A policy with test timings: short rings and retries, any time of day."""
    values: dict[str, object] = {"ring_seconds": 6, "retry_after": dt.timedelta(seconds=2),
                                 "check_every": dt.timedelta(seconds=0.5), "settle": dt.timedelta(seconds=3),
                                 "max_call": dt.timedelta(seconds=90), "hours": None}
    values.update(changes)
    return dataclasses.replace(policy, **values)  # type: ignore[arg-type]


@pytest.fixture
def context(ivr_store: Settings, store_sessions: sessionmaker[Session], dialer: AmiDialer) -> JobContext:
    """The scheduler's job context as the entry point builds it, with test timings."""
    ctx = job_context(ivr_store, store_sessions, "e2e-scheduler", dialer)
    ctx.outbound = dataclasses.replace(ctx.outbound, followup=quick(ctx.outbound.followup),
                                       callback=quick(ctx.outbound.callback))
    ctx.followup_delay = dt.timedelta(0)
    ctx.calling_hours = ANY_TIME
    from callcenter.scheduler.outbound import FollowupCalls

    ctx.handlers["followup"] = FollowupCalls(store_sessions, dialer, ctx.outbound)
    return ctx
