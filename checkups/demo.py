"""Demo data for `checkups run --demo`: three people in three time zones, on the standard protocol."""

from __future__ import annotations

from datetime import timedelta

from .engine.enrolment import EnrolmentRequest, enrol, ensure_organisation
from .runtime import Runtime

DEMO_PEOPLE = (
    ("demo-london", "+447700900001", "Europe/London"),
    ("demo-newyork", "+12125550101", "America/New_York"),
    ("demo-sydney", "+447700900002", "Australia/Sydney"),
)


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
