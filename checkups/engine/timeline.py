"""A participant's history in one list, newest first: check-ups, answers, messages, flags and outcomes.

For staff. Message text is decrypted here for the people whose job it is to read it; callers audit the
view. Phone numbers are not part of a timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Answer, Checkup, Enrolment, Flag, FlagAttempt, InboundMessage, OutboundMessage
from .context import Context


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # checkup, answer, sent, received, flag, attempt, outcome
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "summary": self.summary, "detail": self.detail}


def timeline(ctx: Context, session: Session, participant_id: int, limit: int = 200) -> list[Event]:
    events: list[Event] = []
    checkups = session.scalars(select(Checkup).join(Enrolment).where(Enrolment.participant_id == participant_id)).all()
    for c in checkups:
        when = c.closed_at or c.sent_at or c.due_at
        events.append(
            Event(
                when,
                "checkup",
                f"check-up {c.seq} ({c.phase}): {c.status}",
                {"id": c.id, "seq": c.seq, "status": c.status, "due_at": c.due_at.isoformat()},
            )
        )
    for a in session.scalars(select(Answer).where(Answer.participant_id == participant_id)):
        value = a.value_text if a.value_text is not None else a.value_int
        events.append(
            Event(
                a.answered_at,
                "answer",
                f"{a.question_id}: {value if a.parsed else 'not understood'}",
                {"question": a.question_id, "value": value, "parsed": a.parsed, "checkup_id": a.checkup_id},
            )
        )
    for m in session.scalars(select(OutboundMessage).where(OutboundMessage.participant_id == participant_id)):
        events.append(
            Event(
                m.sent_at or m.created_at,
                "sent",
                f"{m.kind} by {m.channel}: {m.status}",
                {"text": ctx.vault.decrypt(m.body_cipher), "status": m.status, "error": m.error_code},
            )
        )
    for i in session.scalars(select(InboundMessage).where(InboundMessage.participant_id == participant_id)):
        events.append(Event(i.received_at, "received", "reply", {"text": ctx.vault.decrypt(i.body_cipher)}))
    for f in session.scalars(select(Flag).where(Flag.participant_id == participant_id)):
        reasons = "; ".join(r["reason"] for r in f.reasons)
        events.append(
            Event(
                f.created_at,
                "flag",
                f"{f.severity} flag: {reasons}",
                {"id": f.id, "state": f.state, "due_by": f.due_by.isoformat()},
            )
        )
        for attempt in session.scalars(select(FlagAttempt).where(FlagAttempt.flag_id == f.id)):
            events.append(Event(attempt.at, "attempt", f"call attempt: {attempt.result}", {"notes": attempt.notes}))
        if f.resolved_at is not None:
            events.append(Event(f.resolved_at, "outcome", f"outcome: {f.outcome}", {"notes": f.notes}))
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]
