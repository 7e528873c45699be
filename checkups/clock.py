"""The one source of "now": the system clock, or a settable clock for tests and simulation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SettableClock:
    """A clock that only moves when told to. Thread-safe."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SettableClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("SettableClock needs a timezone-aware instant")
        with self._lock:
            self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


_clock: Clock = SystemClock()


def now() -> datetime:
    """The current instant in UTC from the installed clock."""
    return _clock.now()


def install(clock: Clock) -> Clock:
    """Install a clock for the process; return the previous one so callers can restore it."""
    global _clock
    previous, _clock = _clock, clock
    return previous


class AcceleratedClock:
    """Simulated time that runs ``speed`` times faster than the wall clock, from ``start`` (the demo)."""

    def __init__(self, start: datetime, speed: float) -> None:
        import time as _time

        if start.tzinfo is None:
            raise ValueError("AcceleratedClock needs a timezone-aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = start.astimezone(UTC)
        self._speed = speed
        self._monotonic = _time.monotonic
        self._origin = _time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(self._monotonic() - self._origin) * self._speed)
