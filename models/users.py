"""Console accounts and password hashing (scrypt from the standard library)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.entities import User
from models.enums import Role
from models.errors import ValidationError
from models.text import require_clean_text

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """A salted scrypt hash, ``scrypt$N$r$p$salt$hash`` (base64)."""
    if not password or len(password) < 8:
        raise ValidationError("password: at least 8 characters")
    if len(password) > 256:
        raise ValidationError("password: at most 256 characters")
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(["scrypt", str(_N), str(_R), str(_P), base64.b64encode(salt).decode(),
                     base64.b64encode(digest).decode()])


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time compare)."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt" or len(password) > 256:
            return False
        digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=int(n), r=int(r),
                                p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def user_by_username(session: Session, username: str) -> User | None:
    """The account with this login name, if any."""
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def create_user(session: Session, *, username: str, password: str, display_name: str, role: Role,
                station_id: int, worker_id: int | None = None, seat: str | None = None,
                language: str = "zh") -> User:
    """Create a console account; the login name must be unused."""
    name = require_clean_text(username, "username", 64, required=True)
    assert name is not None
    if not all(ch.isalnum() or ch in "._-" for ch in name):
        raise ValidationError("username: letters, digits, '.', '_' and '-' only")
    if user_by_username(session, name) is not None:
        raise ValidationError(f"username {name!r} is taken")
    user = User(username=name, password_hash=hash_password(password),
                display_name=require_clean_text(display_name, "display name", 64, required=True) or name,
                role=Role(role), station_id=station_id, worker_id=worker_id, seat=seat, language=language)
    session.add(user)
    session.flush()
    return user
