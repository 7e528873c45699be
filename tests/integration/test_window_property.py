"""Invariant 1, through the engine on a real store: no one is messaged outside their own send window, in
their own time zone, across DST changes, however late the scheduler runs; a late check-up is deferred,
never sent at night and never dropped while it is still useful."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from checkups.engine.planner import enrolment_window
from checkups.models import Checkup, ConsoleOutbox, Enrolment
from checkups.protocols.schedule import in_window, zone

from .conftest import World, fresh_database, make_world

ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
    "Pacific/Auckland",
    "America/St_Johns",
    "Europe/Dublin",
]
# Dates near clock changes in several zones, so schedules cross them.
DST_DATES = [
    date(2026, 3, 8),
    date(2026, 3, 29),
    date(2026, 4, 5),
    date(2026, 9, 27),
    date(2026, 10, 4),
    date(2026, 10, 25),
    date(2026, 11, 1),
    date(2027, 3, 14),
    date(2027, 3, 28),
]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@st.composite
def windows(draw, shortest: int = 30) -> tuple[time, time, tuple[str, ...]]:
    start = draw(st.integers(0, 24 * 60 - shortest))
    end = draw(st.integers(start + shortest, 24 * 60))
    days = tuple(draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)))
    return _as_time(start), _as_time(end), days


def _as_time(minutes: int) -> time:
    return time.max if minutes == 24 * 60 else time(minutes // 60, minutes % 60)


def _simulate(world: World, start: datetime, lateness: list[int]) -> None:
    """Twelve weeks of scheduler ticks, each late by the next drawn number of minutes."""
    ticker = world.ticker()
    until = start + timedelta(weeks=12)
    i = 0
    while world.clock.now() < until:
        ticker.tick()
        upcoming = world.next_event_after(world.clock.now())
        if upcoming is None:
            break
        late = timedelta(minutes=lateness[i % len(lateness)])
        i += 1
        world.clock.set(max(upcoming + late, world.clock.now() + timedelta(seconds=1)))


def _check(world: World, tz_name: str) -> tuple[list[ConsoleOutbox], list[str]]:
    with world.factory() as session:
        enrolment = session.scalars(select(Enrolment)).one()
        tz = zone(tz_name)
        send_window = enrolment_window(enrolment)
        sends = list(session.scalars(select(ConsoleOutbox)))
        for sent in sends:
            local = sent.sent_at.astimezone(tz)
            assert in_window(sent.sent_at, tz, send_window), f"{sent.kind} at {local:%a %H:%M %Z} outside window"
        seqs = session.scalars(select(Checkup.seq).order_by(Checkup.seq)).all()
        assert seqs == sorted(set(seqs)), "a check-up was planned twice"
        statuses = list(session.scalars(select(Checkup.status).order_by(Checkup.seq)))
    return sends, statuses


COMMON = {
    "tz_name": st.sampled_from(ZONES),
    "near": st.sampled_from(DST_DATES),
    "days_before": st.integers(0, 60),
}
SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _run_case(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tz_name: str,
    window: tuple[time, time, tuple[str, ...]],
    near: date,
    days_before: int,
    lateness: list[int],
) -> tuple[list[ConsoleOutbox], list[str]]:
    """Enrol one person near a clock change and run twelve weeks; check every send was in the window."""
    anchor = near - timedelta(days=days_before)
    start = datetime.combine(anchor, time(0, 0), tzinfo=UTC)
    world = make_world(fresh_database(backend, request, tmp_path), start)
    try:
        world.enrol(
            timezone=tz_name, anchor_date=anchor, window_start=window[0], window_end=window[1], window_days=window[2]
        )
        _simulate(world, start, lateness)
        return _check(world, tz_name)
    finally:
        world.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@SETTINGS
@given(window=windows(), lateness=st.lists(st.integers(0, 6 * 60), min_size=5, max_size=40), **COMMON)
def test_no_message_ever_goes_out_outside_the_local_window(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tz_name: str,
    window: tuple[time, time, tuple[str, ...]],
    near: date,
    days_before: int,
    lateness: list[int],
) -> None:
    """However late the scheduler runs (up to six hours each time), nothing is sent outside the window."""
    _run_case(backend, request, tmp_path, tz_name, window, near, days_before, lateness)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@SETTINGS
@given(window=windows(shortest=60), lateness=st.lists(st.integers(0, 10), min_size=5, max_size=40), **COMMON)
def test_with_a_healthy_scheduler_every_checkup_goes_out_in_its_window(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tz_name: str,
    window: tuple[time, time, tuple[str, ...]],
    near: date,
    days_before: int,
    lateness: list[int],
) -> None:
    """A scheduler a few minutes late at most drops nothing: every check-up due in twelve weeks is sent."""
    sends, statuses = _run_case(backend, request, tmp_path, tz_name, window, near, days_before, lateness)
    assert "skipped" not in statuses
    assert sum(1 for s in sends if s.kind == "question") >= 8  # at least the weekly phase
