"""The leads' figures on a small scenario driven through the real engine (scheduler, replies, risk rules,
flag lifecycle), every number worked out by hand below, on SQLite and PostgreSQL.

The scenario, from Monday 5 January 2026 09:00 UTC (London winter time, so local = UTC):

    org-a  A  standard-5y, discharged today: weekly check-up 1 sent Mon 12 Jan 11:52, answered
              "no, 2, 9, Y" at 11:53 -> flag F2 (high, wants_call, due +24 h); a call attempt at 15:53 (4 h),
              resolved no_action_needed. A's next check-up (weekly) is on 19 Jan, after the range.
           B  standard-5y, discharged 12 weeks ago: fortnightly check-up sent Mon 5 Jan 11:34; replies
              "I want to end it all" at 11:35 -> flag F1 (urgent, crisis, due in 15 min); claimed 11:40, first
              attempt 12:05 (30 min: deadline missed), resolved referred_recovery_support 12:15. The
              check-up, never answered, is missed on Fri 9 Jan.
           D  tcc-12m, discharged in 60 days: active, nothing sent.
           P  standard-5y, paused at once.
    org-b  C  standard-5y, discharged today: check-up sent Mon 12 Jan 10:44, replies CALL at 11:54 -> flag F3
              (high, call_request, due Tue 13 Jan 11:54) that nobody works: escalated to urgent, deadline
              missed; the check-up is missed on Fri 16 Jan.

The range is the two weeks 5-18 January; "now" is Sunday 18 January 23:00.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from checkups.engine import enrolment as enrolment_ops
from checkups.engine import flags as flag_ops
from checkups.engine.inbound import process_inbound, store_inbound
from checkups.engine.metrics import CSV_COLUMNS, Filters, csv_rows, dashboard, enrolments_by_version, week_index
from checkups.migrate import upgrade
from checkups.models import Flag, Organisation
from tests.conftest import PG_ADMIN_URL

from .conftest import BACKENDS, World, _admin_connect, add_staff, make_world

PHONES = {"A": "+447700900101", "B": "+447700900102", "C": "+447700900103", "D": "+447700900104"}
WEEK0, WEEK1 = date(2026, 1, 5), date(2026, 1, 12)
END = datetime(2026, 1, 18, 23, 0, tzinfo=UTC)
_sids = count(1)


def says(world: World, who: str, text: str) -> None:
    """A text from ``who``, stored and processed as the webhook would."""
    with world.factory() as session, session.begin():
        stored = store_inbound(world.ctx, session, f"SM{next(_sids):030d}", PHONES[who], text)
    process_inbound(world.ctx, world.factory, stored.inbound_id)


def open_flag_of(world: World, client_ref: str) -> int:
    from checkups.models import Participant

    with world.factory() as session:
        return session.scalars(
            select(Flag.id)
            .join(Participant, Participant.id == Flag.participant_id)
            .where(Participant.client_ref == client_ref, Flag.state != "resolved")
        ).one()


def at(world: World, instant: datetime) -> datetime:
    world.clock.set(instant)
    return instant


@dataclass
class Scenario:
    world: World
    org_a: int
    org_b: int
    now: datetime


def build_scenario(world: World) -> Scenario:
    t0 = world.clock.now()
    assert t0 == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    a = world.enrol("c-a", phone=PHONES["A"])
    b = world.enrol("c-b", phone=PHONES["B"], anchor_date=(t0 - timedelta(weeks=12)).date())
    world.enrol("c-c", organisation="org-b", phone=PHONES["C"])
    world.enrol("c-d", phone=PHONES["D"], protocol="tcc-12m", anchor_date=(t0 + timedelta(days=60)).date())
    paused = world.enrol("c-p", phone="+447700900105")
    enrolment_ops.pause(world.ctx, world.factory, paused.enrolment.id, actor="test")
    assert b.first_checkup.due_at == datetime(2026, 1, 5, 11, 34, tzinfo=UTC)
    assert a.first_checkup.due_at == datetime(2026, 1, 12, 11, 52, tzinfo=UTC)
    volunteer = add_staff(world, "volunteer").id

    world.run(until=b.first_checkup.due_at + timedelta(minutes=1))
    says(world, "B", "I want to end it all")
    f1 = open_flag_of(world, "c-b")
    with world.factory() as session, session.begin():
        flag_ops.claim(session, f1, volunteer, at(world, datetime(2026, 1, 5, 11, 40, tzinfo=UTC)))
        flag_ops.log_attempt(
            session, f1, volunteer, "no_answer", None, at(world, datetime(2026, 1, 5, 12, 5, tzinfo=UTC))
        )
        flag_ops.resolve(
            session,
            f1,
            volunteer,
            "referred_recovery_support",
            None,
            at(world, datetime(2026, 1, 5, 12, 15, tzinfo=UTC)),
        )

    world.run(until=a.first_checkup.due_at + timedelta(minutes=1))
    for text in ("no", "2", "9", "Y"):
        says(world, "A", text)
    at(world, datetime(2026, 1, 12, 11, 54, tzinfo=UTC))
    says(world, "C", "CALL")
    f2 = open_flag_of(world, "c-a")
    with world.factory() as session, session.begin():
        flag_ops.claim(session, f2, volunteer, at(world, datetime(2026, 1, 12, 12, 0, tzinfo=UTC)))
        flag_ops.log_attempt(
            session, f2, volunteer, "reached", None, at(world, datetime(2026, 1, 12, 15, 53, tzinfo=UTC))
        )
        flag_ops.resolve(
            session, f2, volunteer, "no_action_needed", None, at(world, datetime(2026, 1, 12, 16, 0, tzinfo=UTC))
        )
    world.run(until=END)
    with world.factory() as session:
        orgs = {slug: ident for slug, ident in session.execute(select(Organisation.slug, Organisation.id))}
    return Scenario(world, orgs["org-a"], orgs["org-b"], END)


@contextmanager
def own_database(backend: str, request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    """A migrated database that no other test empties: a copy of the SQLite template, or a new PostgreSQL
    database, dropped afterwards."""
    if backend == "sqlite":
        path = directory / f"{uuid.uuid4().hex}.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    name = f"checkups_metrics_{uuid.uuid4().hex[:8]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=BACKENDS)
def scenario(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """The scenario, built once per backend for this module: its tests only read it."""
    with own_database(request.param, request, tmp_path_factory.mktemp("metrics")) as url:
        world = make_world(url, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        try:
            yield build_scenario(world)
        finally:
            world.engine.dispose()


def figures_for(scenario: Scenario, **filters: object):
    with scenario.world.factory() as session:
        return dashboard(session, Filters.covering(WEEK0, date(2026, 1, 18), **filters), scenario.now)  # type: ignore[arg-type]


def test_one_organisations_figures_week_by_week(scenario: Scenario) -> None:
    board = figures_for(scenario, organisation_id=scenario.org_a)
    assert board.weeks == [WEEK0, WEEK1]
    w0, w1 = board.by_week
    # Check-ups: B's sent in week 0 and missed; A's sent in week 1 and answered.
    assert (w0.sent, w0.answered, w0.missed, w0.response_rate) == (1, 0, 1, 0.0)
    assert (w1.sent, w1.answered, w1.missed, w1.response_rate) == (1, 1, 0, 1.0)
    assert (w0.enrolments_started, w1.enrolments_started) == (4, 0)  # A, B, D and P
    # Flags: F1 (week 0) first contacted after 30 minutes, past its 15-minute deadline; F2 after 4 hours.
    assert (w0.flags, w0.contacted, w0.median_hours_to_contact, w0.deadlines_missed) == (1, 1, 0.5, 1)
    assert (w1.flags, w1.contacted, w1.median_hours_to_contact, w1.deadlines_missed) == (1, 1, 4.0, 0)
    assert board.severity == {"urgent": [1, 0], "high": [0, 1], "medium": [0, 0], "low": [0, 0]}
    assert board.reasons == {"crisis": [1, 0], "wants_call": [0, 1]}
    assert board.outcomes["referred_recovery_support"] == [1, 0]
    assert board.outcomes["no_action_needed"] == [0, 1]
    assert sum(sum(v) for v in board.outcomes.values()) == 2


def test_totals_and_the_split_by_protocol_and_phase(scenario: Scenario) -> None:
    board = figures_for(scenario, organisation_id=scenario.org_a)
    total = board.total
    assert (total.active_enrolments, total.paused_enrolments) == (3, 1)
    assert (total.sent, total.answered, total.missed, total.response_rate) == (2, 1, 1, 0.5)
    assert (total.flags, total.contacted, total.deadlines_missed, total.resolved) == (2, 2, 1, 2)
    assert total.median_hours_to_contact == pytest.approx(2.25)  # of 0.5 and 4

    standard, tcc = board.by_protocol["standard-5y"], board.by_protocol["tcc-12m"]
    assert (standard.active_enrolments, standard.paused_enrolments, standard.sent, standard.flags) == (2, 1, 2, 2)
    assert (tcc.active_enrolments, tcc.sent, tcc.flags, tcc.response_rate) == (1, 0, 0, None)

    phases = board.by_phase
    # Active enrolments by the phase of their next check-up: A and D weekly, B fortnightly; P none.
    assert {k: v.active_enrolments for k, v in phases.items()} == {"(none)": 0, "fortnightly": 1, "weekly": 2}
    assert phases["(none)"].paused_enrolments == 1
    # Check-ups and flags by the phase they happened in.
    assert (phases["fortnightly"].sent, phases["fortnightly"].missed, phases["fortnightly"].flags) == (1, 1, 1)
    assert (phases["weekly"].sent, phases["weekly"].answered, phases["weekly"].flags) == (1, 1, 1)
    assert phases["fortnightly"].median_hours_to_contact == 0.5
    assert phases["weekly"].median_hours_to_contact == 4.0


def test_filters_by_protocol_and_phase(scenario: Scenario) -> None:
    weekly = figures_for(scenario, organisation_id=scenario.org_a, phase="weekly")
    assert (weekly.total.sent, weekly.total.answered, weekly.total.flags) == (1, 1, 1)
    assert weekly.reasons == {"wants_call": [0, 1]}
    assert weekly.total.active_enrolments == 2  # A and D, whose next check-ups are weekly ones

    tcc = figures_for(scenario, organisation_id=scenario.org_a, protocol="tcc-12m")
    assert (tcc.total.sent, tcc.total.flags, tcc.total.active_enrolments, tcc.total.enrolments_started) == (0, 0, 1, 1)
    assert tcc.reasons == {}


def test_another_organisation_and_everyone(scenario: Scenario) -> None:
    other = figures_for(scenario, organisation_id=scenario.org_b)
    assert (other.total.sent, other.total.missed, other.total.flags, other.total.deadlines_missed) == (1, 1, 1, 1)
    assert other.total.contacted == 0
    assert other.total.median_hours_to_contact is None
    assert other.severity["urgent"] == [0, 1]  # F3 was escalated when its deadline passed
    assert other.reasons == {"call_request": [0, 1]}

    everyone = figures_for(scenario)
    assert (everyone.total.sent, everyone.total.answered, everyone.total.missed) == (3, 1, 2)
    assert (everyone.total.flags, everyone.total.deadlines_missed, everyone.total.active_enrolments) == (3, 2, 4)
    assert everyone.severity["urgent"] == [1, 1]


def test_a_range_outside_the_activity_is_all_zero(scenario: Scenario) -> None:
    with scenario.world.factory() as session:
        board = dashboard(session, Filters.covering(date(2025, 11, 3), date(2025, 12, 28)), scenario.now)
    assert len(board.weeks) == 8
    assert all(w.sent == 0 and w.flags == 0 and w.response_rate is None for w in board.by_week)
    assert board.total.active_enrolments == 4  # "now" figures do not depend on the range


def test_csv_has_one_row_per_week_per_metric(scenario: Scenario) -> None:
    board = figures_for(scenario, organisation_id=scenario.org_a)
    rows = list(csv_rows(board))
    assert all(len(row) == len(CSV_COLUMNS) for row in rows)
    by_key = {(r[0], r[2], r[3]): r[4] for r in rows}
    assert by_key[("2026-01-05", "response_rate", "")] == "0.0000"
    assert by_key[("2026-01-12", "response_rate", "")] == "1.0000"
    assert by_key[("2026-01-05", "median_hours_to_first_contact", "")] == "0.50"
    assert by_key[("2026-01-12", "flags_by_reason", "wants_call")] == "1"
    assert by_key[("2026-01-05", "deadlines_missed", "")] == "1"
    assert by_key[("2026-01-12", "outcomes", "no_action_needed")] == "1"
    assert {r[1] for r in rows if r[0] == "2026-01-12"} == {"2026-01-18"}


def test_a_week_ends_exactly_at_monday_midnight(world: World) -> None:
    """Sunday 23:59:59.999999 is in its own week, Monday 00:00 in the next (no rounding up on SQLite)."""
    people = [world.enrol(f"c-{i}", phone=f"+44770090020{i}").enrolment.participant_id for i in range(2)]
    stamps = [datetime(2026, 1, 11, 23, 59, 59, 999999, tzinfo=UTC), datetime(2026, 1, 12, 0, 0, tzinfo=UTC)]
    with world.factory() as session, session.begin():
        for person, stamp in zip(people, stamps, strict=True):
            flag_ops.raise_flag(session, person, "low", "test", stamp + timedelta(days=3), stamp, "rule:test")
    with world.factory() as session:
        board = dashboard(session, Filters.covering(WEEK0, date(2026, 1, 18)), stamps[1])
        origin = Filters.covering(WEEK0, WEEK0).origin
        weeks = session.scalars(select(week_index(Flag.created_at, origin)).order_by(Flag.id)).all()
    assert board.severity["low"] == [1, 1]
    assert weeks == [0, 1]


def test_filters_snap_to_whole_weeks_and_refuse_nonsense() -> None:
    filters = Filters.covering(date(2026, 1, 7), date(2026, 1, 13))
    assert (filters.start, filters.end) == (WEEK0, date(2026, 1, 18))
    assert Filters.recent(date(2026, 3, 4)).weeks[-1] == date(2026, 3, 2)
    assert len(Filters.recent(date(2026, 3, 4)).weeks) == 12
    with pytest.raises(ValueError, match="before the start"):
        Filters.covering(date(2026, 1, 7), date(2026, 1, 6))
    with pytest.raises(ValueError, match="at most"):
        Filters.covering(date(2000, 1, 3), date(2026, 1, 6))


def test_enrolments_by_protocol_version(scenario: Scenario) -> None:
    with scenario.world.factory() as session:
        mine = enrolments_by_version(session, scenario.org_a)
        everyone = enrolments_by_version(session)
    assert {(v.protocol, v.running, v.by_status.get("paused", 0)) for v in mine} == {
        ("standard-5y", 3, 1),
        ("tcc-12m", 1, 0),
    }
    assert sum(v.total for v in everyone) == 5
