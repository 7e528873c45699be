"""Schedule expansion: calendar months, send windows, DST. Property-tested with hypothesis."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkups.protocols.durations import Duration, add_months
from checkups.protocols.loader import load_file
from checkups.protocols.schedule import (
    UnknownTimeZone,
    due_dates,
    expand,
    in_window,
    next_window_opening,
    spread_offset,
    window_closing,
    window_opening,
    zone,
)
from checkups.protocols.schema import Phase, SendWindow

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = ROOT / "config" / "protocols"

# Zones with odd rules: 30-minute DST (Lord Howe), negative DST (Dublin), southern hemisphere, DST
# changes at midnight (Santiago, Havana), no DST at all (Kolkata), a half-hour offset (St John's).
ZONES = [
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Lord_Howe",
    "Europe/Dublin",
    "America/Santiago",
    "America/Havana",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Auckland",
    "Africa/Cairo",
    "Asia/Tehran",
    "UTC",
]


def protocol(name: str):
    result = load_file(PROTOCOLS / f"{name}.yaml")
    assert result.ok, result.problems
    return result.protocol


def window(start: str, end: str, days: list[str] | None = None) -> SendWindow:
    data: dict = {"start": start, "end": end}
    if days is not None:
        data["days"] = days
    return SendWindow.model_validate(data)


# --- durations and dates ---------------------------------------------------------------------------------


def test_calendar_months_clamp_to_the_end_of_the_month() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 1, 31), 2) == date(2026, 3, 31)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


def test_monthly_phase_is_counted_from_its_start_not_by_repeated_adding() -> None:
    phase = Phase.model_validate({"name": "m", "every": "1 month", "count": 3})
    dues = [d.due for d in due_dates([phase], date(2026, 1, 31))]
    assert dues == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]


def test_years_are_twelve_calendar_months() -> None:
    assert Duration.parse("5 years") == Duration(60, Duration.parse("1 month").unit)
    assert str(Duration.parse("48 months")) == "4 years"


def test_rmc_quarterly_lists_exactly_16_check_ups_from_2026_01_05() -> None:
    planned = expand(protocol("rmc-quarterly-4y"), date(2026, 1, 5), "Europe/London")
    assert len(planned) == 16
    assert [p.seq for p in planned] == list(range(1, 17))
    assert planned[0].due == date(2026, 4, 5)
    assert planned[-1].due == date(2030, 1, 5)


def test_standard_5y_tapers_weekly_fortnightly_monthly_quarterly() -> None:
    planned = expand(protocol("standard-5y"), date(2026, 1, 5), "Europe/London")
    phases = [p.phase for p in planned]
    assert phases.count("weekly") == 8
    assert phases.count("fortnightly") == 22
    assert phases.count("monthly") == 12
    assert phases.count("quarterly") == 12
    assert planned[-1].due == date(2031, 1, 5)
    # 2031-01-05 is a Sunday, and the standard window is closed on Sundays.
    assert planned[-1].local.date() == date(2031, 1, 6)


def test_tcc_first_year_is_weekly_then_twice_a_month() -> None:
    planned = expand(protocol("tcc-12m"), date(2026, 1, 5), "Europe/London")
    assert [p.phase for p in planned[:9]] == ["weekly"] * 8 + ["fortnightly"]
    assert planned[-1].due <= date(2027, 1, 5)


def test_checkups_go_out_at_window_opening_in_local_time_across_dst() -> None:
    planned = expand(protocol("standard-5y"), date(2026, 1, 5), "Europe/London")
    for item in planned:
        assert item.local.time() == time(10, 0)
    offsets = {item.local.utcoffset() for item in planned}
    assert offsets == {timedelta(0), timedelta(hours=1)}


# --- windows and DST, examples ----------------------------------------------------------------------------


def test_window_opening_in_a_skipped_hour_moves_past_the_gap() -> None:
    london = ZoneInfo("Europe/London")  # 2026-03-29 01:00 GMT -> 02:00 BST
    opening = window_opening(date(2026, 3, 29), london, window("01:30", "03:00"))
    assert opening == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 BST, the first real minute
    assert opening.astimezone(london).time() == time(2, 0)


def test_window_entirely_inside_a_skipped_hour_has_no_opening_that_day() -> None:
    new_york = ZoneInfo("America/New_York")  # 2026-03-08 02:00 EST -> 03:00 EDT
    assert window_opening(date(2026, 3, 8), new_york, window("02:00", "02:59")) is None
    after = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    assert next_window_opening(after, new_york, window("02:00", "02:59")).astimezone(new_york) == datetime(
        2026, 3, 9, 2, 0, tzinfo=new_york
    )


def test_repeated_hour_uses_the_first_occurrence_only() -> None:
    new_york = ZoneInfo("America/New_York")  # 2026-11-01 02:00 EDT -> 01:00 EST
    opening = window_opening(date(2026, 11, 1), new_york, window("01:30", "02:00"))
    assert opening == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, not 01:30 EST


def test_next_window_opening_is_now_when_inside_the_window() -> None:
    london = ZoneInfo("Europe/London")
    now = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)  # 13:00 BST, a Wednesday
    assert next_window_opening(now, london, window("10:00", "19:00")) == now


def test_late_at_night_defers_to_next_morning_never_sent_at_night() -> None:
    london = ZoneInfo("Europe/London")
    late = datetime(2026, 6, 3, 22, 30, tzinfo=UTC)  # 23:30 BST
    opening = next_window_opening(late, london, window("10:00", "19:00"))
    assert opening.astimezone(london) == datetime(2026, 6, 4, 10, 0, tzinfo=london)


def test_closed_day_defers_to_the_next_open_day() -> None:
    london = ZoneInfo("Europe/London")
    saturday_evening = datetime(2026, 6, 6, 19, 0, tzinfo=UTC)
    opening = next_window_opening(saturday_evening, london, window("10:00", "19:00", ["mon", "tue"]))
    assert opening.astimezone(london) == datetime(2026, 6, 8, 10, 0, tzinfo=london)


def test_window_closing_is_the_end_of_the_current_window() -> None:
    london = ZoneInfo("Europe/London")
    now = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
    assert window_closing(now, london, window("10:00", "19:00")) == datetime(2026, 6, 3, 18, 0, tzinfo=UTC)
    assert window_closing(now, london, window("10:00", "24:00")) == datetime(2026, 6, 3, 23, 0, tzinfo=UTC)


def test_unknown_time_zone_is_refused_clearly() -> None:
    for bad in ("Mars/Olympus", "", "../etc/passwd", "/etc/localtime"):
        with pytest.raises(UnknownTimeZone, match="unknown time zone"):
            zone(bad)


def test_spread_offset_is_stable_and_inside_half_the_window() -> None:
    w = window("10:00", "12:00")
    offsets = {spread_offset(f"participant-{i}", w) for i in range(200)}
    assert spread_offset("participant-1", w) == spread_offset("participant-1", w)
    assert max(offsets) < timedelta(hours=1)
    assert len(offsets) > 20


def test_offset_schedule_stays_in_window() -> None:
    w = window("10:00", "19:00")
    planned = expand(protocol("standard-5y"), date(2026, 1, 5), "Europe/London", w, timedelta(minutes=47))
    assert all(p.local.time() == time(10, 47) for p in planned)


# --- properties -------------------------------------------------------------------------------------------

DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@st.composite
def windows(draw) -> SendWindow:
    start_minutes = draw(st.integers(0, 23 * 60 + 58))
    end_minutes = draw(st.integers(start_minutes + 1, 24 * 60))
    days = draw(st.lists(st.sampled_from(DAY_NAMES), min_size=1, max_size=7, unique=True))

    def hhmm(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    return window(hhmm(start_minutes), hhmm(end_minutes), days)


anchors = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2037, 1, 1), timezones=st.just(UTC))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tz_name=st.sampled_from(ZONES), w=windows(), anchor=anchors, minutes=st.integers(0, 180))
def test_every_planned_checkup_is_inside_the_local_window(
    tz_name: str, w: SendWindow, anchor: date, minutes: int
) -> None:
    tz = ZoneInfo(tz_name)
    planned = expand(protocol("standard-5y"), anchor, tz, w, timedelta(minutes=minutes))
    assert planned, "a five-year protocol always has check-ups"
    previous = None
    for item in planned:
        assert in_window(item.utc, tz, w), f"{item.local} outside {w}"
        assert item.local == item.utc.astimezone(tz)
        assert item.local.date() >= item.due
        # At most a week to the next open day, plus a week when DST swallows that day's whole window
        # (Cairo, 2023-04-28: clocks jumped at 00:00 on a Friday).
        assert item.local.date() - item.due < timedelta(days=15)
        if previous is not None:
            assert item.utc > previous.utc
            assert item.local.date() > previous.local.date(), "two check-ups on one local day"
        previous = item


@settings(max_examples=300, deadline=None)
@given(tz_name=st.sampled_from(ZONES), w=windows(), after=instants)
def test_next_window_opening_is_the_earliest_instant_inside_the_window(
    tz_name: str, w: SendWindow, after: datetime
) -> None:
    tz = ZoneInfo(tz_name)
    opening = next_window_opening(after, tz, w)
    assert opening >= after
    assert in_window(opening, tz, w)
    # Brute force: no minute in the 26 hours before the opening (and after ``after``) was open.
    t = max(after, opening - timedelta(hours=26))
    while t < opening:
        assert not in_window(t, tz, w), (
            f"{t.astimezone(tz)} was open, but the opening found is {opening.astimezone(tz)}"
        )
        t += timedelta(minutes=1)


def test_window_swallowed_by_dst_moves_to_the_next_open_week() -> None:
    cairo = ZoneInfo("Africa/Cairo")  # 2023-04-28 00:00 -> 01:00, a Friday
    fridays_at_midnight = window("00:00", "00:01", ["fri"])
    assert window_opening(date(2023, 4, 28), cairo, fridays_at_midnight) is None
    after = datetime(2023, 4, 27, 12, 0, tzinfo=UTC)
    assert next_window_opening(after, cairo, fridays_at_midnight).astimezone(cairo).date() == date(2023, 5, 5)


@pytest.mark.parametrize(
    ("tz_name", "day", "start", "end", "expected_local"),
    [
        ("Europe/London", date(2026, 3, 29), "01:30", "02:10", time(2, 0)),  # gap 01:00-02:00
        ("America/New_York", date(2026, 3, 8), "02:30", "03:15", time(3, 0)),  # gap 02:00-03:00
        ("Australia/Lord_Howe", date(2026, 10, 4), "02:00", "02:40", time(2, 30)),  # 30-minute gap
    ],
)
def test_window_starting_in_a_gap_opens_when_the_gap_ends(tz_name, day, start, end, expected_local) -> None:
    tz = ZoneInfo(tz_name)
    opening = window_opening(day, tz, window(start, end))
    assert opening is not None
    assert opening.astimezone(tz).time() == expected_local
    assert opening.astimezone(tz).date() == day


@settings(max_examples=200, deadline=None)
@given(tz_name=st.sampled_from(ZONES), w=windows(), after=instants)
def test_a_window_closes_after_it_opens_and_before_the_next_day_ends(
    tz_name: str, w: SendWindow, after: datetime
) -> None:
    tz = ZoneInfo(tz_name)
    opening = next_window_opening(after, tz, w)
    closing = window_closing(opening, tz, w)
    assert closing > opening
    assert closing - opening <= timedelta(hours=25)
