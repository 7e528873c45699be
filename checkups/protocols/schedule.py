"""Schedule expansion and send-window arithmetic: pure functions, no I/O.

``expand(protocol, anchor, tz, window)`` turns a protocol into the ordered list of planned check-ups.
Dates come from the protocol, counted from the anchor (discharge) date with calendar months; each
check-up then goes out at the opening of the participant's send window on its due date, or on the next
open day. Local times are resolved through zoneinfo:

- a window opening in a skipped hour (spring forward) moves to the first real instant after the gap, if
  that is still inside the window; otherwise that day has no window;
- a window opening in a repeated hour (fall back) uses its first occurrence only;
- two check-ups never share a local day: one pushed onto the day of the next merges with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .schema import Phase, Protocol, SendWindow

# A window can be closed every day of a week only if its days are empty, which the schema forbids; DST
# can close it on one day at most. A search longer than this means a bug.
_MAX_SEARCH_DAYS = 15


@dataclass(frozen=True)
class DueDate:
    """A check-up as the protocol places it: a phase and a calendar date, before any window."""

    phase: str
    due: date


@dataclass(frozen=True)
class PlannedCheckup:
    seq: int  # 1-based, in order
    phase: str
    due: date  # the date the protocol gives
    local: datetime  # when it goes out, in the participant's zone
    utc: datetime  # the same instant in UTC

    def as_json(self) -> dict[str, object]:
        return {"seq": self.seq, "phase": self.phase, "local": self.local.isoformat(), "utc": self.utc.isoformat()}


class UnknownTimeZone(ValueError):
    """Not an IANA time zone."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (e.g. ``Europe/London``); :class:`UnknownTimeZone` if there is none."""
    if not isinstance(name, str) or not name or name.startswith("/") or ".." in name:
        raise UnknownTimeZone(f"unknown time zone {name!r}: use an IANA name such as Europe/London")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownTimeZone(f"unknown time zone {name!r}: use an IANA name such as Europe/London") from None


def _phase_end(phase: Phase, start: date, anchor: date) -> date | None:
    if phase.for_ is not None:
        return phase.for_.after(start)
    if phase.until is not None:
        return phase.until.after(anchor)
    return None


def due_dates(phases: list[Phase], anchor: date) -> list[DueDate]:
    """Every check-up date of the protocol, in order, strictly increasing."""
    out: list[DueDate] = []
    phase_start = anchor
    for phase in phases:
        start = phase.start.after(anchor) if phase.start is not None else phase_start
        end = _phase_end(phase, start, anchor)
        k = 1
        while True:
            # Counted from the phase start each time (not by repeated adding), so 31 Jan + 1 month
            # steps give 28 Feb, 31 Mar, not 28 Feb, 28 Mar.
            due = phase.every.times(k).after(start)
            if (end is not None and due > end) or (phase.count is not None and k > phase.count):
                break
            if not out or due > out[-1].due:
                out.append(DueDate(phase.name, due))
            k += 1
            if k > 10_000:  # the schema bounds phases; this guards against a bug, not a lead
                raise RuntimeError(f"phase {phase.name!r} does not end")
        phase_start = end if end is not None else phase.every.times(phase.count or 0).after(start)
    return out


def _resolve(local: datetime, tz: ZoneInfo) -> datetime:
    """The instant for a naive local wall time: the first occurrence if repeated, moved past a gap."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _gap_end(local: datetime, tz: ZoneInfo) -> datetime | None:
    """If wall time ``local`` does not exist (a clock change skipped it), the instant the gap ends."""
    after_gap = local.replace(tzinfo=tz, fold=0).astimezone(UTC)  # offset from before: lands past the gap
    before_gap = local.replace(tzinfo=tz, fold=1).astimezone(UTC)  # offset from after: lands before it
    if before_gap >= after_gap:
        return None  # the wall time exists (once, or twice in a repeated hour)
    # The clock change is between the two; find its minute by bisection.
    low, high = before_gap, after_gap
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == after_gap.astimezone(tz).utcoffset():
            high = middle
        else:
            low = middle
    whole_minute = high.replace(second=0, microsecond=0)
    return whole_minute if whole_minute.astimezone(tz).utcoffset() == high.astimezone(tz).utcoffset() else high


def window_opening(day: date, tz: ZoneInfo, window: SendWindow, offset: timedelta = timedelta(0)) -> datetime | None:
    """When the window opens on local ``day`` (plus ``offset`` into it), in UTC; None if closed that day.

    If the opening falls in a skipped hour, the window opens when the gap ends, if that is inside it.
    """
    if day.weekday() not in window.day_indexes:
        return None
    local = datetime.combine(day, window.start) + offset
    for instant in (_gap_end(local, tz), _resolve(local, tz)):
        if instant is not None and in_window(instant, tz, window) and instant.astimezone(tz).date() == day:
            return instant
    return None


def in_window(instant: datetime, tz: ZoneInfo, window: SendWindow) -> bool:
    """Whether ``instant`` falls inside the send window in zone ``tz``."""
    local = instant.astimezone(tz)
    return window.allows(local.weekday(), local.time().replace(tzinfo=None))


def next_window_opening(after: datetime, tz: ZoneInfo, window: SendWindow) -> datetime:
    """The earliest instant at or after ``after`` inside the window (``after`` itself if it is inside)."""
    if after.tzinfo is None:
        raise ValueError("next_window_opening needs a timezone-aware instant")
    after = after.astimezone(UTC)
    if in_window(after, tz, window):
        return after
    first_day = after.astimezone(tz).date()
    for i in range(_MAX_SEARCH_DAYS):
        opening = window_opening(first_day + timedelta(days=i), tz, window)
        if opening is not None and opening >= after:
            return opening
    raise RuntimeError("no send window in the next two weeks")  # unreachable with a valid window


def window_closing(instant: datetime, tz: ZoneInfo, window: SendWindow) -> datetime:
    """When the window that ``instant`` is in closes, in UTC (the earlier one if the hour repeats)."""
    local = instant.astimezone(tz)
    if window.end == time.max:
        return _resolve(datetime.combine(local.date() + timedelta(days=1), time(0)), tz)
    return _resolve(datetime.combine(local.date(), window.end), tz)


def spread_offset(key: str, window: SendWindow, within: timedelta = timedelta(hours=2)) -> timedelta:
    """A stable offset into the window for one participant, so that not everyone is sent at opening time.

    Whole minutes, at most ``within`` and less than half the window's length.
    """
    length = datetime.combine(date.min, window.end) - datetime.combine(date.min, window.start)
    span = min(within, length / 2)
    minutes = int(span.total_seconds() // 60)
    if minutes <= 0:
        return timedelta(0)
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return timedelta(minutes=digest % minutes)


def expand(
    protocol: Protocol,
    anchor: date,
    tz: ZoneInfo | str,
    window: SendWindow | None = None,
    offset: timedelta = timedelta(0),
) -> list[PlannedCheckup]:
    """Every check-up of ``protocol`` for someone discharged on ``anchor``, living in ``tz``."""
    return place(due_dates(protocol.schedule.phases, anchor), tz, window or protocol.send_window, offset)


def place(
    dues: list[DueDate], tz: ZoneInfo | str, window: SendWindow, offset: timedelta = timedelta(0)
) -> list[PlannedCheckup]:
    """Put due dates into the send window: opening time on the due day or the next open day."""
    tz = zone(tz) if isinstance(tz, str) else tz
    planned: list[PlannedCheckup] = []
    for item in dues:
        day = item.due
        if planned and day <= planned[-1].local.date():
            continue  # pushed onto a day that already has one: merge
        for _ in range(_MAX_SEARCH_DAYS):
            opening = window_opening(day, tz, window, offset) or window_opening(day, tz, window)
            if opening is not None:
                break
            day += timedelta(days=1)
        else:  # pragma: no cover - a valid window opens within a week
            raise RuntimeError("no send window in two weeks")
        if planned and opening.astimezone(tz).date() <= planned[-1].local.date():
            continue
        planned.append(PlannedCheckup(len(planned) + 1, item.phase, item.due, opening.astimezone(tz), opening))
    return planned


__all__ = [
    "DueDate",
    "PlannedCheckup",
    "UnknownTimeZone",
    "due_dates",
    "expand",
    "in_window",
    "next_window_opening",
    "place",
    "spread_offset",
    "window_closing",
    "window_opening",
    "zone",
]
