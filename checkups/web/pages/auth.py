"""Sign in, sign out, and the start page that sends each role to its own work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ...engine import audit
from ...engine.users import UserError, by_email, check_no_one, check_password
from ..api import session_dep
from ..security import (
    client_address,
    login_throttled,
    record_login_failure,
    safe_next,
    sign_in,
    sign_out,
    signed_in_user,
    verify_csrf,
)
from ..templating import HOME_BY_ROLE, render


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/", response_class=HTMLResponse)
    def home(request: Request, session: Annotated[Session, Depends(session_dep)]) -> Response:
        user = signed_in_user(request, session)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse(HOME_BY_ROLE.get(user.role, "/login"), status_code=303)

    @pages.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:
        return render(request, "login.html", next_path=safe_next(next), email="")

    @pages.post("/login", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
    def login(
        request: Request,
        session: Annotated[Session, Depends(session_dep)],
        email: Annotated[str, Form(max_length=254)],
        password: Annotated[str, Form(max_length=1000)],
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        now = request.app.state.runtime.ctx.now()
        address = client_address(request)
        if login_throttled(session, email, address, now):
            return render(
                request,
                "login.html",
                status_code=429,
                next_path=safe_next(next),
                email=email,
                error="Too many failed sign-ins. Wait 15 minutes, or ask an admin to check your account.",
            )
        try:
            user = by_email(session, email)
        except UserError:
            user = None
            check_no_one(password)  # as long as a wrong password takes
        if user is None or not check_password(user, password):
            record_login_failure(session, email, address, now)
            return render(
                request,
                "login.html",
                status_code=401,
                next_path=safe_next(next),
                email=email,
                error="That email and password do not match an active account.",
            )
        sign_in(request, user)
        audit.record(session, now, f"user:{user.id}", "login", "user", user.id)
        target = safe_next(next)
        return RedirectResponse(HOME_BY_ROLE.get(user.role, "/") if target == "/" else target, status_code=303)

    @pages.post("/logout", dependencies=[Depends(verify_csrf)])
    def logout(request: Request) -> Response:
        sign_out(request)
        return RedirectResponse("/login", status_code=303)

    return pages
