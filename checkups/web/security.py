"""Staff sign-in for the pages: signed session cookies, CSRF tokens on every form, a login throttle, and the
role check each page declares.

The session cookie holds only the user's id, when they signed in, and the CSRF token; it is signed with
``CHECKUPS_SECRET_KEY`` (itsdangerous, through Starlette's SessionMiddleware), never encrypted, so nothing
else goes in it. Every request re-reads the user, so a deactivated account is out at its next click.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..engine import audit
from ..models import AuditEvent, Role, User
from .api import session_dep

CSRF_FIELD = "csrf_token"
# Failed sign-ins allowed per account and per client address in the window; more wait it out.
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_FAILURES_PER_ACCOUNT = 5
LOGIN_FAILURES_PER_ADDRESS = 20

ALL_ROLES = frozenset(r.value for r in Role)


class LoginRequired(Exception):
    """Not signed in: the page sends you to the sign-in form and back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use; every form carries it in a hidden field."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def verify_csrf(request: Request) -> None:
    """A dependency of every form POST: the hidden field must match the session's token.

    Starlette caches the parsed form, so the route's own ``Form`` fields read the same body afterwards.
    """
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "This form has expired or did not come from this site. Reload the page and try again.")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def login_throttled(session: Session, email: str, address: str, now: datetime) -> bool:
    """Too many failed sign-ins for this account or from this address in the last window.

    Counted from the audit trail, so every web process (and a restart) sees the same count.
    """
    since = now - LOGIN_WINDOW
    failures = (
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "login.failed", AuditEvent.at >= since)
    )
    by_account = session.scalar(failures.where(AuditEvent.actor == f"email:{email.strip().lower()[:90]}")) or 0
    by_address = session.scalar(failures.where(AuditEvent.subject_type == "address:" + address[:23])) or 0
    return by_account >= LOGIN_FAILURES_PER_ACCOUNT or by_address >= LOGIN_FAILURES_PER_ADDRESS


def record_login_failure(session: Session, email: str, address: str, now: datetime) -> None:
    audit.record(session, now, f"email:{email.strip().lower()[:90]}", "login.failed", "address:" + address[:23], None)


def wall_clock() -> float:
    return time.time()


def sign_in(request: Request, user: User) -> None:
    """A fresh session for ``user`` (never reuse one from before sign-in) with a new CSRF token."""
    request.session.clear()
    request.session["uid"] = user.id
    request.session["at"] = wall_clock()
    request.session["csrf"] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    request.session.clear()


def signed_in_user(request: Request, session: Session) -> User | None:
    uid = request.session.get("uid")
    if not isinstance(uid, int):
        return None
    user = session.get(User, uid)
    if user is None or not user.active:
        return None
    # Session age is real time, whatever the service clock does (the demo runs on a fast clock).
    started = request.session.get("at")
    hours = request.app.state.runtime.settings.session_hours
    if not isinstance(started, int | float) or wall_clock() - started > hours * 3600:
        return None
    return user


def requires(*roles: str) -> Callable[..., User]:
    """A page dependency: the signed-in user, who must hold one of ``roles`` (admin always may)."""
    allowed = frozenset(roles) | {Role.admin.value}
    unknown = allowed - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def dependency(request: Request, session: Annotated[Session, Depends(session_dep)]) -> User:
        user = signed_in_user(request, session)
        if user is None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(path)
        if user.role not in allowed:
            raise HTTPException(403, "Your role does not give access to this page.")
        # Detached with its columns loaded: a page that raises (a 404) rolls the request's transaction back,
        # which would expire the user before the error page shows their name and navigation.
        session.expunge(user)
        request.state.user = user
        return user

    return dependency


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="/")


def safe_next(next_path: str | None) -> str:
    """Only a path on this site: never an open redirect to somewhere else."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//") or "\\" in next_path:
        return "/"
    return next_path


def in_organisation(user: User, organisation_id: int | None) -> bool:
    """Whether ``user`` may see a record of ``organisation_id`` (admins without an organisation see all)."""
    return user.organisation_id is None or user.organisation_id == organisation_id
