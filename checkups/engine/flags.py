"""Flags: a person who needs a human. One open flag per participant: new reasons add to it, may raise its
severity and pull its deadline earlier; they never create a second queue entry."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, literal_column, select, update
from sqlalchemy.orm import Session

from ..channels import twilio_api
from ..models import AttemptResult, Flag, FlagAttempt, FlagOutcome, Participant, Role, User
from ..protocols.schema import Severity
from . import audit

# Provider error codes that mean the number cannot be used (staff must check it with the service), and the
# carrier's opt-out: the Twilio channel's own lists, so there is one source.
UNUSABLE_NUMBER_CODES = frozenset(str(code) for code in twilio_api.UNUSABLE_NUMBER)
OPTED_OUT_CODE = str(twilio_api.OPTED_OUT)


# Not resolved, written as the partial indexes state it (uq_flags_open_participant, ix_flags_deadline): SQLite
# uses a partial index only when the query's terms imply its condition. This SQLite also matches a bound
# 'resolved' (it plans with the bound value), but not a bound list (see LEASED in dispatch.py); the literal
# matches on any version, and on PostgreSQL with a generic prepared plan too.
OPEN = Flag.state != literal_column("'resolved'")
# Statements built once, with bound parameters: building one costs more than running it on SQLite.
_OPEN_FLAG = select(Flag).where(Flag.participant_id == bindparam("participant_id"), OPEN).with_for_update()
# Open and not escalated yet: what the tick escalates once past its deadline. Its own partial index,
# ix_flags_deadline (0005): before, the tick read every open flag to find them (4 ms a tick at 3,000 open
# flags, when the volunteers of a 10,000-person simulation fell behind).
UNESCALATED = and_(OPEN, Flag.escalated_at.is_(None))
_OVERDUE = select(Flag).where(UNESCALATED, Flag.due_by < bindparam("now")).with_for_update(skip_locked=True)
_STALE_CLAIMS = (
    select(Flag)
    .where(Flag.state == "claimed", Flag.last_activity_at < bindparam("idle_since"))
    .with_for_update(skip_locked=True)
)


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
    flag = session.scalars(_OPEN_FLAG, {"participant_id": participant_id}).first()
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
    if any(
        r.get("reason") == reason and r.get("source") == source and r.get("inbound_id") == entry.get("inbound_id")
        for r in flag.reasons
    ):
        return flag  # the same thing again (a retried failure): nothing new; another message is something new
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


# --- the volunteer's side: claim, attempts, resolve; and what happens when nobody acts -------------------

SEVERITY_ORDER = ("urgent", "high", "medium", "low")  # the queue: most severe first, then earliest deadline
STALE_CLAIM = timedelta(hours=2)  # a claim with no attempt logged for this long goes back to the queue


class FlagError(ValueError):
    """The flag cannot be changed that way (already claimed, not yours, already resolved)."""


def claim(session: Session, flag_id: int, user_id: int, now: datetime) -> Flag:
    """Take an open flag. Two volunteers cannot both have it: the second is refused."""
    taken = session.execute(
        update(Flag)
        .where(Flag.id == flag_id, Flag.state == "open")
        .values(state="claimed", claimed_by=user_id, claimed_at=now, last_activity_at=now, updated_at=now)
    )
    flag = session.get(Flag, flag_id, populate_existing=True)
    if flag is None:
        raise FlagError(f"no flag {flag_id}")
    if not taken.rowcount:
        if flag.state == "claimed" and flag.claimed_by == user_id:
            return flag
        raise FlagError(f"flag {flag_id} is {flag.state}" + (" by someone else" if flag.state == "claimed" else ""))
    audit.record(session, now, f"user:{user_id}", "flag.claimed", "flag", flag_id, participant_id=flag.participant_id)
    return flag


def _mine(session: Session, flag_id: int, user_id: int) -> Flag:
    flag = session.get(Flag, flag_id, with_for_update=True)
    if flag is None:
        raise FlagError(f"no flag {flag_id}")
    if flag.state != "claimed" or flag.claimed_by != user_id:
        raise FlagError(f"flag {flag_id} is not claimed by you (it is {flag.state}); claim it first")
    return flag


def release(session: Session, flag_id: int, user_id: int, now: datetime, to_user: int | None = None) -> Flag:
    """Put a claimed flag back in the queue, or (``to_user``) hand it over: see :func:`hand_over`."""
    if to_user is not None:
        return hand_over(session, flag_id, user_id, to_user, now)
    flag = _mine(session, flag_id, user_id)
    flag.state, flag.claimed_by, flag.claimed_at = "open", None, None
    flag.updated_at = now
    audit.record(session, now, f"user:{user_id}", "flag.released", "flag", flag_id)
    return flag


# Who may take a flag over from a colleague: people who work the queue, in the flag's own organisation.
HAND_OVER_ROLES = (Role.volunteer.value, Role.lead.value)


def hand_over_candidates(session: Session, organisation_id: int, exclude_user_id: int | None = None) -> list[User]:
    """Active volunteers and leads of ``organisation_id`` who could take a flag over, by email."""
    query = select(User).where(
        User.organisation_id == organisation_id, User.active.is_(True), User.role.in_(HAND_OVER_ROLES)
    )
    if exclude_user_id is not None:
        query = query.where(User.id != exclude_user_id)
    return list(session.scalars(query.order_by(User.email)))


def hand_over(session: Session, flag_id: int, from_user_id: int, to_user_id: int, now: datetime) -> Flag:
    """Pass a flag you hold to a colleague of its organisation; they hold the claim from now on.

    The claim's clock starts again for them (a hand-over is not an idle claim), and the number is theirs
    to see, no longer yours.
    """
    flag = _mine(session, flag_id, from_user_id)
    if to_user_id == from_user_id:
        raise FlagError(f"flag {flag_id} is already yours")
    to_user = session.get(User, to_user_id)
    if (
        to_user is None
        or not to_user.active
        or to_user.role not in HAND_OVER_ROLES
        or to_user.organisation_id != flag.organisation_id
    ):
        raise FlagError("a flag can only be handed over to an active volunteer or lead of its organisation")
    flag.claimed_by, flag.claimed_at, flag.last_activity_at, flag.updated_at = to_user_id, now, now, now
    audit.record(
        session,
        now,
        f"user:{from_user_id}",
        "flag.handed_over",
        "flag",
        flag_id,
        participant_id=flag.participant_id,
        to_user=to_user_id,
    )
    return flag


def log_attempt(
    session: Session, flag_id: int, user_id: int, result: str, notes: str | None, now: datetime
) -> FlagAttempt:
    """Record one try to reach the person (every attempt counts: reaching people takes many)."""
    flag = _mine(session, flag_id, user_id)
    if result not in {r.value for r in AttemptResult}:
        raise FlagError(f"result must be one of {', '.join(r.value for r in AttemptResult)}")
    attempt = FlagAttempt(flag_id=flag_id, user_id=user_id, at=now, result=result, notes=_clean(notes))
    session.add(attempt)
    flag.last_activity_at = now
    flag.updated_at = now
    audit.record(session, now, f"user:{user_id}", "flag.attempt", "flag", flag_id, result=result)
    return attempt


def resolve(session: Session, flag_id: int, user_id: int, outcome: str, notes: str | None, now: datetime) -> Flag:
    """Close a claimed flag with its outcome."""
    flag = _mine(session, flag_id, user_id)
    if outcome not in {o.value for o in FlagOutcome}:
        raise FlagError(f"outcome must be one of {', '.join(o.value for o in FlagOutcome)}")
    flag.state, flag.outcome, flag.notes = "resolved", outcome, _clean(notes)
    flag.resolved_at, flag.resolved_by, flag.updated_at = now, user_id, now
    audit.record(session, now, f"user:{user_id}", "flag.resolved", "flag", flag_id, outcome=outcome)
    return flag


def _clean(notes: str | None) -> str | None:
    if notes is None:
        return None
    notes = notes.strip()
    if len(notes) > 4000:
        raise FlagError("notes are at most 4000 characters")
    return notes or None


def escalate_overdue(session: Session, now: datetime) -> list[int]:
    """Flags past their deadline and unresolved: severity up one step and marked for the lead. Once each."""
    overdue = session.scalars(_OVERDUE, {"now": now}).all()
    for flag in overdue:
        rank = Severity(flag.severity).rank
        flag.severity = list(Severity)[min(rank + 1, len(Severity) - 1)].value
        flag.escalated_at = now
        flag.updated_at = now
        audit.record(session, now, "system", "flag.escalated", "flag", flag.id, severity=flag.severity)
    return [f.id for f in overdue]


def return_stale_claims(session: Session, now: datetime, idle: timedelta = STALE_CLAIM) -> list[int]:
    """Claims nobody has touched for ``idle`` go back to the queue, so a flag cannot sit unseen."""
    stale = session.scalars(_STALE_CLAIMS, {"idle_since": now - idle}).all()
    for flag in stale:
        audit.record(session, now, "system", "flag.returned", "flag", flag.id, was_claimed_by=flag.claimed_by)
        flag.state, flag.claimed_by, flag.claimed_at = "open", None, None
        flag.updated_at = now
    return [f.id for f in stale]


def queue(session: Session, organisation_id: int | None = None, severity: str | None = None) -> list[Flag]:
    """Unresolved flags, most severe first, then by deadline."""
    order = case({s: i for i, s in enumerate(SEVERITY_ORDER)}, value=Flag.severity)
    query = select(Flag).where(OPEN)
    if organisation_id is not None:
        query = query.where(Flag.organisation_id == organisation_id)
    if severity is not None:
        query = query.where(Flag.severity == severity)
    return list(session.scalars(query.order_by(order, Flag.due_by, Flag.id)))
