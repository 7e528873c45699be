"""Plan the next check-up of an enrolment. Only the next one is stored; the one after is planned when it
closes. Check-ups whose time has passed (late enrolment, resume, an outage) are not created: the schedule
continues from where the protocol now is. One exception: at enrolment, a check-up the protocol placed earlier
the same local day is sent late (at once if the window is open, else when it next opens) rather than dropped,
so someone enrolled at 15:00 for a check-up due that day at 11:00 gets it that day, not a week later.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ..models import Action, ActionState, Checkup, CheckupStatus, Enrolment, EnrolmentStatus
from ..protocols.schedule import (
    DueDate,
    PlannedCheckup,
    expand,
    next_window_opening,
    place,
    spread_offset,
    window_opening,
    zone,
)
from ..protocols.schema import Protocol, SendWindow
from .context import Context


def enrolment_window(enrolment: Enrolment) -> SendWindow:
    return window_of(enrolment.window_start, enrolment.window_end, enrolment.window_days)


@lru_cache(maxsize=1024)
def window_of(start: time, end: time, days: str) -> SendWindow:
    return SendWindow.model_validate({"start": start, "end": end, "days": days.split(",")})


class _ByVersion:
    """A protocol keyed by name and version (the content hash), so schedules can be cached."""

    __slots__ = ("key", "protocol")

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.key = (protocol.name, protocol.version)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ByVersion) and other.key == self.key


@lru_cache(maxsize=4096)
def _expand_cached(
    protocol: _ByVersion, anchor: date, tz_name: str, window: SendWindow, offset: timedelta
) -> tuple[PlannedCheckup, ...]:
    return tuple(expand(protocol.protocol, anchor, zone(tz_name), window, offset))


def planned_checkups(ctx: Context, session: Session, enrolment: Enrolment) -> tuple[PlannedCheckup, ...]:
    """The whole schedule of ``enrolment`` (its protocol version, anchor, zone and window)."""
    protocol = ctx.protocols.by_version_id(session, enrolment.protocol_version_id)
    window = enrolment_window(enrolment)
    offset = spread_offset(f"participant:{enrolment.participant_id}", window)
    return _expand_cached(_ByVersion(protocol), enrolment.anchor_date, enrolment.participant.timezone, window, offset)


STEP_UP_SEQ = 100_000  # step-up check-ups are numbered apart from the protocol's own
STEP_UP_PHASE = "step_up"
# Built once: building a statement costs more than running it on SQLite.
_STEP_UPS_SO_FAR = (
    select(func.count())
    .select_from(Checkup)
    .where(Checkup.enrolment_id == bindparam("enrolment_id"), Checkup.seq > STEP_UP_SEQ)
)


def _step_up(
    ctx: Context, session: Session, enrolment: Enrolment, now: datetime, upcoming: PlannedCheckup | None
) -> Checkup | None:
    """During a step-up (after a flag), the next check-up comes after the step-up interval if that is sooner
    than the protocol's own next one. The protocol's sequence is not advanced: it resumes afterwards."""
    until = enrolment.step_up_until
    if until is None or now >= until:
        return None
    protocol = ctx.protocols.by_version_id(session, enrolment.protocol_version_id)
    if protocol.step_up is None:
        return None
    tz = zone(enrolment.participant.timezone)
    window = enrolment_window(enrolment)
    local_day = now.astimezone(tz).date()
    due_day = protocol.step_up.every.after(local_day)
    offset = spread_offset(f"participant:{enrolment.participant_id}", window)
    placed = place([DueDate(STEP_UP_PHASE, due_day)], tz, window, offset)
    if not placed or placed[0].utc >= until or (upcoming is not None and placed[0].utc >= upcoming.utc):
        return None
    count = session.scalar(_STEP_UPS_SO_FAR, {"enrolment_id": enrolment.id}) or 0
    checkup = Checkup(
        enrolment_id=enrolment.id,
        seq=STEP_UP_SEQ + count + 1,
        phase=STEP_UP_PHASE,
        due_at=placed[0].utc,
        status=CheckupStatus.pending.value,
        action=Action.send.value,
        action_at=placed[0].utc,
        action_state=ActionState.ready.value,
        attempts=0,
        deferrals=0,
        reminders_sent=0,
    )
    session.add(checkup)
    enrolment.updated_at = now
    session.flush()
    return checkup


def plan_next(ctx: Context, session: Session, enrolment: Enrolment, now: datetime) -> Checkup | None:
    """Store the next check-up of ``enrolment`` due at or after ``now``; complete the enrolment if none is left.

    The caller holds the transaction. Returns the new check-up, or None.
    """
    if enrolment.status != EnrolmentStatus.active.value:
        return None
    planned = planned_checkups(ctx, session, enrolment)
    upcoming = next((p for p in planned if p.seq > enrolment.last_seq and p.utc >= now), None)
    stepped = _step_up(ctx, session, enrolment, now, upcoming)
    if stepped is not None:
        return stepped
    late = _due_earlier_today(enrolment, planned, upcoming, now) if enrolment.last_seq == 0 else None
    if late is not None:
        upcoming, at = late
    elif upcoming is None:
        enrolment.status = EnrolmentStatus.completed.value
        enrolment.updated_at = now
        return None
    else:
        at = upcoming.utc
    checkup = Checkup(
        enrolment_id=enrolment.id,
        seq=upcoming.seq,
        phase=upcoming.phase,
        due_at=at,
        status=CheckupStatus.pending.value,
        action=Action.send.value,
        action_at=at,
        action_state=ActionState.ready.value,
        attempts=0,
        deferrals=0,
        reminders_sent=0,
    )
    session.add(checkup)
    enrolment.last_seq = upcoming.seq
    enrolment.updated_at = now
    session.flush()
    return checkup


def _due_earlier_today(
    enrolment: Enrolment, planned: tuple[PlannedCheckup, ...], upcoming: PlannedCheckup | None, now: datetime
) -> tuple[PlannedCheckup, datetime] | None:
    """The first check-up of an enrolment, if the protocol placed it earlier today (the participant's day) and
    its time has passed: with when it goes instead (now, if the window is open; else on the next open day at the
    person's usual time in the window), as long as that is on an earlier day than the check-up after it. None
    otherwise."""
    tz = zone(enrolment.participant.timezone)
    today = now.astimezone(tz).date()
    passed = [p for p in planned if p.seq > enrolment.last_seq and p.utc < now and p.local.date() == today]
    if not passed:
        return None
    window = enrolment_window(enrolment)
    at = next_window_opening(now, tz, window)
    if at > now:  # closed now: the next open day, at this person's own time in it (no burst at the opening)
        offset = spread_offset(f"participant:{enrolment.participant_id}", window)
        at = window_opening(at.astimezone(tz).date(), tz, window, offset) or at
    if upcoming is not None and at.astimezone(tz).date() >= upcoming.local.date():
        return None  # it would share a day with the next one: that one goes instead
    return passed[-1], at
