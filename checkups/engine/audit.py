"""The append-only audit trail: every staff view or change of a participant is written here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..models import AuditEvent


def record(
    session: Session,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: int | None,
    **detail: Any,
) -> None:
    """Add an audit event to the session's transaction. ``detail`` must not hold phone numbers or text."""
    session.add(
        AuditEvent(at=at, actor=actor, action=action, subject_type=subject_type, subject_id=subject_id, detail=detail)
    )
