"""The demo of `checkups run --demo` (the README's main command) at any hour: a first check-up is due soon for
every demo person, and at once for whoever is inside their window; a run on a later day starts cleanly."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from checkups.clock import SettableClock
from checkups.demo import DEMO_PEOPLE, seed
from checkups.models import Action, Checkup, Enrolment, Participant
from checkups.runtime import build
from checkups.settings import load_settings
from tests.conftest import PROTOCOLS

# Every 5 hours through a week from Monday 00:00 UTC: each hour of the day, on every day of the week.
STARTS = [datetime(2026, 11, 23, tzinfo=UTC) + timedelta(hours=5 * i) for i in range(34)]


def _in_window(instant: datetime, tz: str) -> bool:
    local = instant.astimezone(ZoneInfo(tz))
    return local.weekday() < 6 and time(10) <= local.time() < time(19)  # standard-5y: 10:00-19:00, Mon-Sat


def _first_checkups(sqlite_template: Path, directory: Path, start: datetime):
    path = directory / f"demo-{start:%d%H}.db"
    shutil.copy(sqlite_template, path)
    clock = SettableClock(start)
    rt = build(load_settings(database_url=f"sqlite:///{path}", protocols_dir=PROTOCOLS), clock=clock)
    try:
        lines = seed(rt)
        with rt.factory() as session:
            rows = session.execute(
                select(Participant.client_ref, Checkup.seq, Checkup.action_at)
                .join(Enrolment, Enrolment.participant_id == Participant.id)
                .join(Checkup, Checkup.enrolment_id == Enrolment.id)
                .where(Checkup.action == Action.send.value)
            ).all()
        return rt, clock, lines, {ref: (seq, at) for ref, seq, at in rows}
    except BaseException:
        rt.close()
        raise


def test_at_any_hour_of_the_week_the_demo_has_a_first_checkup_due_soon(sqlite_template: Path, tmp_path: Path) -> None:
    for start in STARTS:
        rt, _clock, lines, first = _first_checkups(sqlite_template, tmp_path, start)
        rt.close()
        assert sorted(first) == sorted(ref for ref, _phone, _tz in DEMO_PEOPLE), (start, lines)
        for ref, (seq, at) in first.items():
            assert seq == 1, (start, ref)  # the week's first check-up, never skipped to the next week
            assert start <= at <= start + timedelta(days=2), (start, ref, at)
        open_now = [ref for ref, _phone, tz in DEMO_PEOPLE if _in_window(start, tz)]
        if open_now:  # someone is inside their window: their check-up goes at once
            assert any(first[ref][1] == start for ref in open_now), (start, first)
        assert len(lines) == len(DEMO_PEOPLE) + 2  # four enrolments, two people asking for a call


def test_a_demo_run_on_a_later_day_keeps_the_people_already_enrolled(sqlite_template: Path, tmp_path: Path) -> None:
    rt, clock, _lines, first = _first_checkups(sqlite_template, tmp_path, STARTS[3])
    try:
        clock.set(STARTS[3] + timedelta(days=3))  # their discharge dates would now differ: not a conflict
        lines = seed(rt)
        assert [line.split(":")[0] for line in lines] == ["already enrolled"] * len(DEMO_PEOPLE)
        with rt.factory() as session:
            assert session.scalar(select(Enrolment.id).where(Enrolment.id > len(DEMO_PEOPLE))) is None
            assert {c.seq for c in session.scalars(select(Checkup))} == {1}
        assert first
    finally:
        rt.close()
