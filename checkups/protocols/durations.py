"""Durations as program leads write them: ``8 weeks``, ``12 months``, ``5 years``, ``24 hours``.

Months and years are calendar months (added on the calendar, clamped to the month's end), not 30-day
blocks, so "monthly from 31 January" gives 28/29 February, 31 March, 30 April.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum


class Unit(StrEnum):
    minutes = "minutes"
    hours = "hours"
    days = "days"
    weeks = "weeks"
    months = "months"


_UNIT_WORDS = {
    "minute": Unit.minutes,
    "minutes": Unit.minutes,
    "min": Unit.minutes,
    "mins": Unit.minutes,
    "hour": Unit.hours,
    "hours": Unit.hours,
    "h": Unit.hours,
    "day": Unit.days,
    "days": Unit.days,
    "d": Unit.days,
    "week": Unit.weeks,
    "weeks": Unit.weeks,
    "w": Unit.weeks,
    "month": Unit.months,
    "months": Unit.months,
    "year": Unit.months,  # a year is 12 calendar months
    "years": Unit.months,
    "y": Unit.months,
}

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([a-zA-Z]+)\s*$")
# Used only to order durations of different units when validating (a month is 28 to 31 days).
_NOMINAL_DAYS = {
    Unit.minutes: 1 / 1440,
    Unit.hours: 1 / 24,
    Unit.days: 1,
    Unit.weeks: 7,
    Unit.months: 365.2425 / 12,
}


class DurationError(ValueError):
    """Not a duration."""


@dataclass(frozen=True, order=False)
class Duration:
    amount: int
    unit: Unit

    @classmethod
    def parse(cls, text: object) -> Duration:
        if isinstance(text, Duration):
            return text
        if not isinstance(text, str):
            raise DurationError(f"expected a duration such as '2 weeks' or '12 months', got {text!r}")
        match = _DURATION_RE.match(text)
        if not match:
            raise DurationError(f"expected a duration such as '2 weeks' or '12 months', got {text!r}")
        amount, word = int(match.group(1)), match.group(2).lower()
        unit = _UNIT_WORDS.get(word)
        if unit is None:
            raise DurationError(f"unknown unit {word!r} in {text!r}: use minutes, hours, days, weeks, months or years")
        if word.startswith("y"):
            amount *= 12
        return cls(amount, unit)

    @property
    def nominal_days(self) -> float:
        """Approximate length in days, for ordering and sanity checks only."""
        return self.amount * _NOMINAL_DAYS[self.unit]

    @property
    def is_calendar(self) -> bool:
        return self.unit is Unit.months

    def times(self, k: int) -> Duration:
        return Duration(self.amount * k, self.unit)

    def to_timedelta(self) -> timedelta:
        """Exact length; only for units of fixed length (not months)."""
        if self.unit is Unit.months:
            raise ValueError("a calendar month has no fixed length")
        return {
            Unit.minutes: timedelta(minutes=self.amount),
            Unit.hours: timedelta(hours=self.amount),
            Unit.days: timedelta(days=self.amount),
            Unit.weeks: timedelta(weeks=self.amount),
        }[self.unit]

    def after(self, start: date) -> date:
        """The calendar date this long after ``start`` (day units and longer only)."""
        if self.unit is Unit.months:
            return add_months(start, self.amount)
        if self.unit in (Unit.minutes, Unit.hours):
            raise ValueError("a schedule date cannot move by minutes or hours")
        return start + self.to_timedelta()

    def after_instant(self, start: datetime) -> datetime:
        """The instant this long after ``start``; months move on the calendar."""
        if self.unit is Unit.months:
            return start.replace(**_ymd(add_months(start.date(), self.amount)))
        return start + self.to_timedelta()

    def __str__(self) -> str:
        if self.unit is Unit.months and self.amount % 12 == 0:
            years = self.amount // 12
            return f"{years} year" + ("s" if years != 1 else "")
        word = self.unit.value if self.amount != 1 else self.unit.value[:-1]
        return f"{self.amount} {word}"


def _ymd(d: date) -> dict[str, int]:
    return {"year": d.year, "month": d.month, "day": d.day}


def add_months(start: date, months: int) -> date:
    """``start`` moved by whole calendar months, the day clamped to the end of the target month."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return date(year, month + 1, day)
