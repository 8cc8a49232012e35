"""What the web console keeps in the database so that several web processes agree.

* :class:`WebSession` — one row per login: the browser's cookie carries only the row's random
  id, so logging out (revoking the row) makes a replayed cookie worthless in every process.
* :class:`LoginAttempt` — failed and successful logins, counted for rate limiting.
* :class:`AgentState` — an agent's availability (available / paused with reason / wrap-up), the
  console's side of their Asterisk queue membership.
* :class:`ScreenPop` — "this agent's phone was bridged to the caller of this ticket": written by
  whichever process saw the AMI event, served to the agent's browser by whichever serves it.

Functions take a ``Session``; the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, utcnow
from models.entities import User
from models.errors import ValidationError
from models.text import require_clean_text


class WebSession(Base):
    """A console login; the cookie holds ``id``; revoked at logout, expired after ``expires_at``."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()
    remote_addr: Mapped[str | None] = mapped_column(String(64))


class LoginAttempt(Base):
    """One login attempt, kept for rate limiting across processes."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_remote_addr_at", "remote_addr", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean, default=False)


class AgentState(Base):
    """An agent's availability, mirrored to their queue membership over AMI."""

    __tablename__ = "agent_states"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="logged_out")
    reason: Mapped[str | None] = mapped_column(String(64))
    since: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ScreenPop(Base):
    """A bridged queue call to show on an agent's screen (served once)."""

    __tablename__ = "screen_pops"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    uniqueid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[dt.datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)


# --- sessions -------------------------------------------------------------------------------------

def open_web_session(session: Session, user: User, *, hours: float, remote_addr: str | None,
                     now: dt.datetime | None = None) -> WebSession:
    """Start a login: a new random session id (the old cookie's id, if any, is not reused)."""
    now = now or utcnow()
    row = WebSession(id=secrets.token_urlsafe(32), user_id=user.id, created_at=now,
                     expires_at=now + dt.timedelta(hours=hours), remote_addr=(remote_addr or "")[:64])
    session.add(row)
    session.flush()
    return row


def live_session_user(session: Session, session_id: str, *, now: dt.datetime | None = None) -> User | None:
    """The active user of a live (not revoked, not expired) web session, or None."""
    if not session_id or len(session_id) > 64:
        return None
    now = now or utcnow()
    stmt = (select(User).join(WebSession, WebSession.user_id == User.id)
            .where(WebSession.id == session_id, WebSession.revoked_at.is_(None), WebSession.expires_at > now,
                   User.active.is_(True)))
    return session.scalars(stmt).one_or_none()


def revoke_web_session(session: Session, session_id: str, *, now: dt.datetime | None = None) -> None:
    """End a login: the id is refused from now on, in every process."""
    session.execute(update(WebSession).where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
                    .values(revoked_at=now or utcnow()))


# --- login rate limiting --------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginLimits:
    """How many failures are tolerated per account and per address within the window."""

    per_username: int = 5
    per_address: int = 20
    window_seconds: int = 900


def login_blocked(session: Session, username: str, remote_addr: str, limits: LoginLimits, *,
                  now: dt.datetime | None = None) -> bool:
    """Whether too many recent failures for this login name or address refuse another try."""
    since = (now or utcnow()) - dt.timedelta(seconds=limits.window_seconds)
    failures = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.success.is_(False),
                                                                     LoginAttempt.at > since)
    by_name = session.scalar(failures.where(LoginAttempt.username == username[:64])) or 0
    if by_name >= limits.per_username:
        return True
    by_address = session.scalar(failures.where(LoginAttempt.remote_addr == remote_addr[:64])) or 0
    return by_address >= limits.per_address


def record_login_attempt(session: Session, username: str, remote_addr: str, success: bool, *,
                         now: dt.datetime | None = None) -> None:
    """Count an attempt; a success clears the account's earlier failures."""
    now = now or utcnow()
    if success:
        session.execute(delete(LoginAttempt).where(LoginAttempt.username == username[:64],
                                                   LoginAttempt.success.is_(False)))
    session.add(LoginAttempt(username=username[:64], remote_addr=remote_addr[:64], at=now, success=success))
    session.flush()


# --- agent state ----------------------------------------------------------------------------------

AGENT_STATES = ("logged_out", "available", "paused", "wrapup")


def agent_state(session: Session, user_id: int) -> AgentState:
    """The agent's current state (logged out when never set)."""
    return session.get(AgentState, user_id) or AgentState(user_id=user_id, state="logged_out", reason=None,
                                                         since=utcnow())


def set_agent_state(session: Session, user_id: int, state: str, reason: str | None = None, *,
                    now: dt.datetime | None = None) -> AgentState:
    """Record the agent's availability (the caller mirrors it to Asterisk)."""
    if state not in AGENT_STATES:
        raise ValidationError(f"agent state {state!r} is not one of {', '.join(AGENT_STATES)}")
    clean = require_clean_text(reason, "pause reason", 64) if state in ("paused", "wrapup") else None
    row = session.get(AgentState, user_id)
    if row is None:
        row = AgentState(user_id=user_id)
        session.add(row)
    row.state, row.reason, row.since = state, clean or None, now or utcnow()
    session.flush()
    return row


# --- screen pops ----------------------------------------------------------------------------------

def add_screen_pop(session: Session, user_id: int, ticket_id: int, *, uniqueid: str | None = None,
                   now: dt.datetime | None = None) -> ScreenPop:
    """Queue a screen pop of the ticket for the agent."""
    pop = ScreenPop(user_id=user_id, ticket_id=ticket_id, uniqueid=(uniqueid or None), created_at=now or utcnow())
    session.add(pop)
    session.flush()
    return pop


def has_screen_pop(session: Session, user_id: int, *, max_age_seconds: int = 600,
                   now: dt.datetime | None = None) -> bool:
    """Whether the agent has an unseen recent pop (a cheap read for the browser's poll)."""
    since = (now or utcnow()) - dt.timedelta(seconds=max_age_seconds)
    stmt = select(ScreenPop.id).where(ScreenPop.user_id == user_id, ScreenPop.seen_at.is_(None),
                                      ScreenPop.created_at > since).limit(1)
    return session.scalars(stmt).first() is not None


def take_screen_pop(session: Session, user_id: int, *, max_age_seconds: int = 600,
                    now: dt.datetime | None = None) -> ScreenPop | None:
    """The agent's oldest unseen recent pop, marked seen (each pop is served once)."""
    now = now or utcnow()
    since = now - dt.timedelta(seconds=max_age_seconds)
    pop = session.scalars(select(ScreenPop).where(ScreenPop.user_id == user_id, ScreenPop.seen_at.is_(None),
                                                  ScreenPop.created_at > since)
                          .order_by(ScreenPop.id).limit(1)).first()
    if pop is None:
        return None
    taken = session.execute(update(ScreenPop).where(ScreenPop.id == pop.id, ScreenPop.seen_at.is_(None))
                            .values(seen_at=now).execution_options(synchronize_session=False)).rowcount
    return pop if taken == 1 else None
