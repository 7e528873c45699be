"""Demo data for `checkups run --demo`: four people in four time zones on the standard protocol (between
them someone is inside their 10:00-19:00 send window at any hour), and a staff account for each role."""

from __future__ import annotations

from datetime import timedelta

from .engine.enrolment import EnrolmentRequest, enrol, ensure_organisation
from .engine.users import UserError, add_user, by_email
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
    """Enrol the demo people (idempotent); discharged a week ago, so the first check-up is due today."""
    now = rt.ctx.now()
    with rt.factory() as session, session.begin():
        ensure_organisation(session, "demo", "Demo recovery service", now)
    lines = []
    for ref, phone, tz in DEMO_PEOPLE:
        result = enrol(
            rt.ctx,
            rt.factory,
            EnrolmentRequest(
                organisation="demo",
                client_ref=ref,
                phone=phone,
                timezone=tz,
                anchor_date=(now - timedelta(days=7)).date(),
                protocol="standard-5y",
                consent_by="demo",
                consent_method="verbal",
                consent_channels=("sms", "voice"),
            ),
            actor="demo",
        )
        state = "enrolled" if result.created else "already enrolled"
        lines.append(f"{state}: {ref} ({tz}), enrolment {result.enrolment.id}")
    return lines
