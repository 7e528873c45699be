"""Server-rendered pages: one Jinja2 environment with autoescaping on (replies are written by strangers),
filters for times shown to staff, and the navigation each role sees."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from .security import CSRF_FIELD, csrf_token

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
# Never render a template without escaping: Jinja2Templates turns it on for .html, and this makes it so for
# every name (an .svg or .txt partial included by a page too).
templates.env.autoescape = True

# (label, path, roles that see it); admin sees everything.
NAV: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("Queue", "/queue", frozenset({"volunteer", "lead"})),
    ("Participants", "/participants", frozenset({"enroller", "lead"})),
    ("Enrol", "/enrol", frozenset({"enroller"})),
    ("Protocols", "/protocols", frozenset({"lead"})),
    ("Dashboard", "/dashboard", frozenset({"lead"})),
    ("Audit", "/audit", frozenset()),
    ("Unmatched texts", "/inbound/unmatched", frozenset()),
    ("Accounts", "/users", frozenset()),
)

HOME_BY_ROLE = {"volunteer": "/queue", "enroller": "/participants", "lead": "/dashboard", "admin": "/dashboard"}


def nav_for(role: str | None) -> list[tuple[str, str]]:
    if role is None:
        return []
    return [(label, path) for label, path, roles in NAV if role == "admin" or role in roles]


def staff_zone(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.runtime.settings.staff_timezone)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``name`` with what every page needs: the user, their navigation, the CSRF field, the clock."""
    user = getattr(request.state, "user", None)
    runtime = request.app.state.runtime
    now = runtime.ctx.now()
    zone = staff_zone(request)
    base = {
        "user": user,
        "nav": nav_for(user.role if user else None),
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(request),
        "now": now,
        "zone": zone,
        "path": request.url.path,
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _local(value: datetime | None, zone: ZoneInfo, fmt: str = "%a %d %b %Y %H:%M %Z") -> str:
    if value is None:
        return "—"
    return value.astimezone(zone).strftime(fmt)


def _span(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours and days < 3 else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes and hours < 6 else f"{hours} h"
    return f"{minutes} min"


def time_left(due: datetime, now: datetime) -> str:
    """Plain words for a deadline: "5 h 20 min left" or "2 h overdue"."""
    delta = due - now
    return f"{_span(delta)} left" if delta.total_seconds() >= 0 else f"{_span(delta)} overdue"


def ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    delta = now - value
    return f"{_span(delta)} ago" if delta.total_seconds() >= 0 else f"in {_span(delta)}"


templates.env.filters["local"] = lambda value, zone, fmt="%a %d %b %Y %H:%M %Z": _local(value, zone, fmt)
templates.env.globals["time_left"] = time_left
templates.env.globals["ago"] = ago
