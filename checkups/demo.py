"""Demo data for `checkups run --demo`: four people in four time zones on the standard protocol (between
them someone is inside their 10:00-19:00 send window at any hour of Monday to Saturday), and a staff account
for each role.

Each person was discharged a week before their own local today, so their first check-up is due today: at
once for whoever is inside their window, at their window time for the others (the planner sends a first
check-up whose time passed earlier the same day late rather than dropping it)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from .engine.enrolment import EnrolmentRequest, enrol, ensure_organisation
from .engine.errors import EnrolmentConflict
from .engine.inbound import process_inbound, store_inbound
from .engine.users import UserError, add_user, by_email
from .models import Action, ActionState, Checkup
from .runtime import Runtime

DEMO_PEOPLE = (
    ("demo-london", "+447700900001", "Europe/London"),
    ("demo-newyork", "+12125550101", "America/New_York"),
    ("demo-sydney", "+447700900002", "Australia/Sydney"),
    ("demo-mumbai", "+447700900003", "Asia/Kolkata"),
)

# A local demo bound to 127.0.0.1: the password is printed, and shared by the four demo accounts.
DEMO_PASSWORD = "demo-checkups-password"  # noqa: S105
DEMO_ACCOUNTS = (
    ("volunteer@demo.example", "volunteer", "demo"),
    ("enroller@demo.example", "enroller", "demo"),
    ("lead@demo.example", "lead", "demo"),
    ("admin@demo.example", "admin", None),
)


def ensure_accounts(rt: Runtime) -> list[str]:
    """The demo's staff accounts, made once."""
    now = rt.ctx.now()
    with rt.factory() as session, session.begin():
        for email, role, org in DEMO_ACCOUNTS:
            try:
                by_email(session, email)
            except UserError:
                add_user(session, email, role, org, DEMO_PASSWORD, now, actor="demo")
    return [f"{role:<9} {email}" for email, role, _org in DEMO_ACCOUNTS]


def seed(rt: Runtime) -> list[str]:
    """Enrol the demo people, discharged a week before their local today (idempotent: a later run, on another
    day, leaves the people already enrolled as they are)."""
    now = rt.ctx.now()
    with rt.factory() as session, session.begin():
        ensure_organisation(session, "demo", "Demo recovery service", now)
    lines = []
    for ref, phone, tz in DEMO_PEOPLE:
        request = EnrolmentRequest(
            organisation="demo",
            client_ref=ref,
            phone=phone,
            timezone=tz,
            anchor_date=now.astimezone(ZoneInfo(tz)).date() - timedelta(days=7),
            protocol="standard-5y",
            consent_by="demo",
            consent_method="verbal",
            consent_channels=("sms", "voice"),
        )
        try:
            result = enrol(rt.ctx, rt.factory, request, actor="demo")
        except EnrolmentConflict as conflict:  # enrolled by a run on an earlier day
            enrolment_id, state = conflict.enrolment_id, "already enrolled"
        else:
            enrolment_id = result.enrolment.id
            state = "enrolled" if result.created else "already enrolled"
        lines.append(f"{state}: {ref} ({tz}), enrolment {enrolment_id}{_next_checkup(rt, enrolment_id, tz)}")
    lines += _demo_replies(rt)
    return lines


def _next_checkup(rt: Runtime, enrolment_id: int, tz: str) -> str:
    with rt.factory() as session:
        due = session.scalar(
            select(func.min(Checkup.action_at)).where(
                Checkup.enrolment_id == enrolment_id,
                Checkup.action_state == ActionState.ready.value,
                Checkup.action == Action.send.value,
            )
        )
    if due is None:
        return "; awaiting a reply"
    return f"; next check-up {due.astimezone(ZoneInfo(tz)):%a %d %b %H:%M %Z}"


# Messages the demo people "send" at start, through the real inbound path (stored, matched, parsed, flagged),
# so the volunteers' queue has work. The ids make a second run a replay that changes nothing.
DEMO_REPLIES = (
    ("SMdemo00000000000000000000000001", "+12125550101", "CALL"),
    ("SMdemo00000000000000000000000002", "+447700900003", "call me please"),
)


def _demo_replies(rt: Runtime) -> list[str]:
    lines = []
    for sid, phone, body in DEMO_REPLIES:
        with rt.factory() as session, session.begin():
            stored = store_inbound(rt.ctx, session, sid, phone, body)
        if stored.created:
            process_inbound(rt.ctx, rt.factory, stored.inbound_id)
            lines.append(f"a demo person asked for a call (message {stored.inbound_id}): see the volunteers' queue")
    return lines
