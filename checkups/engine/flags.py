"""Flags: a person who needs a human. One open flag per participant: new reasons add to it, may raise its
severity and pull its deadline earlier; they never create a second queue entry."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..channels import twilio_api
from ..models import Flag, Participant
from ..protocols.schema import Severity
from . import audit

# Provider error codes that mean the number cannot be used (staff must check it with the service), and the
# carrier's opt-out: the Twilio channel's own lists, so there is one source.
UNUSABLE_NUMBER_CODES = frozenset(str(code) for code in twilio_api.UNUSABLE_NUMBER)
OPTED_OUT_CODE = str(twilio_api.OPTED_OUT)


def raise_flag(
    session: Session,
    participant_id: int,
    severity: str,
    reason: str,
    due_by: datetime,
    now: datetime,
    source: str,
    detail: dict[str, object] | None = None,
) -> Flag:
    """Open a flag, or add this reason to the participant's open one (severity up, deadline earlier)."""
    participant = session.get(Participant, participant_id)
    if participant is None:
        raise ValueError(f"no participant {participant_id}")
    flag = session.scalars(
        select(Flag).where(Flag.participant_id == participant_id, Flag.state != "resolved").with_for_update()
    ).first()
    entry = {"reason": reason, "severity": severity, "at": now.isoformat(), "source": source, **(detail or {})}
    if flag is None:
        flag = Flag(
            participant_id=participant_id,
            organisation_id=participant.organisation_id,
            severity=severity,
            reasons=[entry],
            due_by=due_by,
            state="open",
            created_at=now,
            updated_at=now,
        )
        session.add(flag)
        session.flush()
        audit.record(
            session,
            now,
            "system",
            "flag.opened",
            "flag",
            flag.id,
            participant_id=participant_id,
            severity=severity,
            source=source,
        )
        return flag
    if any(r.get("reason") == reason and r.get("source") == source for r in flag.reasons):
        return flag  # the same thing again (a retried failure): nothing new for the volunteer
    flag.reasons = [*flag.reasons, entry]
    if Severity(severity).rank > Severity(flag.severity).rank:
        flag.severity = severity
    if due_by < flag.due_by:
        flag.due_by = due_by
    flag.updated_at = now
    audit.record(
        session,
        now,
        "system",
        "flag.updated",
        "flag",
        flag.id,
        participant_id=participant_id,
        severity=flag.severity,
        source=source,
    )
    return flag


def flag_unusable_number(session: Session, participant_id: int, code: str, now: datetime) -> Flag:
    why = twilio_api.describe(int(code), None) if code.isdigit() else "the number could not be reached"
    return raise_flag(
        session,
        participant_id,
        Severity.medium.value,
        f"Cannot reach this person: {why} (Twilio {code})",
        now + timedelta(hours=72),
        now,
        source=f"provider:{code}",
    )
