"""Staff accounts: admin, lead, enroller, volunteer, each scoped to an organisation. Passwords are hashed
with Argon2id; the plain password is never stored or logged."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import ApiToken, Organisation, Role, User
from . import audit

_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 12


class UserError(ValueError):
    """The account cannot be created or found that way."""


def add_user(
    session: Session, email: str, role: str, organisation: str | None, password: str, now: datetime, actor: str
) -> User:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise UserError(f"{email!r} is not an email address")
    if role not in {r.value for r in Role}:
        raise UserError(f"role must be one of {', '.join(r.value for r in Role)}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password needs at least {MIN_PASSWORD} characters")
    org_id = None
    if organisation is not None:
        org = session.scalars(select(Organisation).where(Organisation.slug == organisation)).first()
        if org is None:
            raise UserError(f"unknown organisation {organisation!r}")
        org_id = org.id
    elif role != Role.admin.value:
        raise UserError("every role but admin belongs to an organisation: give --org")
    if session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise UserError(f"{email} already has an account")
    user = User(
        organisation_id=org_id,
        email=email,
        password_hash=_hasher.hash(password),
        role=role,
        active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(session, now, actor, "user.created", "user", user.id, role=role)
    return user


def by_email(session: Session, email: str) -> User:
    user = session.scalars(select(User).where(User.email == email.strip().lower(), User.active.is_(True))).first()
    if user is None:
        raise UserError(f"no active account {email!r}")
    return user


def check_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_decoys: dict[int, str] = {}


def check_no_one(password: str) -> bool:
    """Spend as long as :func:`check_password` does and fail: for an unknown email, so the answer's timing
    does not tell which accounts exist."""
    decoy = _decoys.get(id(_hasher))
    if decoy is None:
        decoy = _decoys.setdefault(id(_hasher), _hasher.hash(secrets.token_urlsafe(16)))
    with contextlib.suppress(VerificationError, InvalidHashError):
        _hasher.verify(decoy, password)
    return False


def issue_token(session: Session, user: User, label: str, now: datetime, actor: str) -> str:
    """A new API token for ``user``: returned once, stored only as a hash."""
    token = "ck_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), label=label[:100], created_at=now))
    session.flush()
    audit.record(session, now, actor, "token.issued", "user", user.id, label=label[:100])
    return token


def user_for_token(session: Session, token: str, now: datetime) -> User | None:
    """The active user a token belongs to, or None (unknown, revoked, or the user is inactive)."""
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == _token_hash(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = now
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
