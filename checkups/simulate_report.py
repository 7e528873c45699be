"""The HTML report of ``checkups simulate``: one self-contained file, its charts drawn by :mod:`checkups.charts`.

No JavaScript, no stylesheet or font from the network: the file opens offline, can be mailed to a programme
lead, and prints. Every piece of text that reaches the page goes through :func:`html.escape` (protocol
names come from YAML files that staff edit). The same figures give the same bytes: nothing in the page
depends on when or where it was made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from markupsafe import Markup

from .charts import PALETTE, SEVERITY_COLOURS, Series, bar_chart, line_chart

WIDTH, HEIGHT = 880, 240  # every chart the same size, so weekly charts line up week for week
CHANNEL_COLOURS = {"sms": PALETTE[0], "voice": PALETTE[1]}

# Relapse-to-flag delays, in days: fine steps early, where catching someone matters most.
DELAY_BINS: tuple[tuple[float, float, str], ...] = (
    (0, 1, "< 1 day"),
    (1, 3, "1-3"),
    (3, 7, "3-7"),
    (7, 14, "7-14"),
    (14, 28, "14-28"),
    (28, 56, "28-56"),
    (56, math.inf, "56 +"),
)


def _figure(title: str, chart: Markup) -> str:
    return f"<figure><figcaption>{escape(title)}</figcaption>{chart}</figure>"


def _week_step(weeks: int) -> int:
    """Label every quarter of a run of a year or less, every year of a longer one."""
    return 13 if weeks <= 53 else 52


def _weekly_bars(
    title: str, description: str, unit: str, rows: Mapping[str, Sequence[float]], weeks: int, colours: Mapping[str, str]
) -> str:
    """Weekly bars, one stack per week, the rows stacked in the order given (bottom first).

    Always with a legend, even for one row: its column keeps the plots of all weekly charts the same width.
    """
    chart = bar_chart(
        title,
        [f"week {week}" for week in range(weeks)],
        list(rows.items()),
        colours=colours,
        width=WIDTH,
        height=HEIGHT,
        y_label=unit,
        desc=description,
        legend=True,
        label_every=_week_step(weeks),
        bar_fill=0.9,
    )
    return _figure(title, chart)


def _categories(title: str, description: str, unit: str, labels: Sequence[str], values: Sequence[float]) -> str:
    """One bar per labelled category with its count above it (a histogram with the bins' names under it)."""
    chart = bar_chart(
        title,
        labels,
        [(unit, values)],
        width=WIDTH,
        height=HEIGHT,
        y_label=unit,
        desc=description,
        value_labels=True,
    )
    return _figure(title, chart)


def histogram(days: Sequence[float]) -> list[int]:
    """How many of ``days`` fall in each of :data:`DELAY_BINS`."""
    counts = [0] * len(DELAY_BINS)
    for value in days:
        for i, (low, high, _) in enumerate(DELAY_BINS):
            if low <= value < high:
                counts[i] += 1
                break
    return counts


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _rate(answered: int, closed: int) -> float | None:
    return answered / closed if closed else None


STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d1d;max-width:940px;margin:2em auto;
padding:0 1em}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.2em .8em;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}svg{width:100%;height:auto}.note{color:#555;font-size:.9em}
figure{margin:1em 0}figcaption{font-weight:600;font-size:.95em}
"""


def render(summary: Mapping[str, Any], series: Mapping[str, Any]) -> str:
    """The whole report as one HTML document."""
    weeks = int(series["weeks"])
    title = (
        f"Simulated check-ups: {summary['people']} people, {summary['years']:g} years, "
        f"protocol {summary['protocol']}, seed {summary['seed']}"
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        '<p class="note">A synthetic cohort run through the real scheduler, reply parser, risk rules and flag '
        "queue on a simulated clock. The people are a behaviour model with chosen parameters, not data: use "
        "the figures to compare protocols and plan volunteer time, not as predictions.</p>",
        _overview(summary),
        "<h2>Messages per week</h2>",
        _messages(series, weeks),
        "<h2>Response rate</h2>",
        _responses(summary, series, weeks),
        "<h2>Flags per week</h2>",
        _flags(series, weeks),
        "<h2>From relapse to flag</h2>",
        _delays(summary, series),
        "<h2>Volunteer hours needed per week</h2>",
        _hours(summary, series, weeks),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _overview(summary: Mapping[str, Any]) -> str:
    relapses = summary["relapses"]
    hours = summary["volunteer_hours_per_week"]
    rows: list[tuple[str, object]] = [
        ("Check-ups", summary["checkups"]),
        ("Messages sent", summary["messages_total"]),
        ("Check-up messages sent outside the person's send window", summary["outside_window"]),
        ("Replies received", summary["inbound"]),
        ("Automated calls picked up", summary["calls_answered"]),
        ("Answers keyed in on those calls", summary["keypad_answers"]),
        ("Flags raised", summary["flags_total"]),
        ("Flags per week (mean / max)", f"{summary['flags_per_week']['mean']:g} / {summary['flags_per_week']['max']}"),
        (
            f"Volunteer hours per week (mean / max, {hours['minutes_per_flag']:g} min per flag)",
            f"{hours['mean']:g} / {hours['max']:g}",
        ),
        ("Volunteer calls a day at most (--volunteer-capacity)", summary["volunteer_calls_per_day"]),
        (
            "Relapses simulated (judged: at least 4 weeks before the end)",
            f"{relapses['simulated']} ({relapses['evaluable']})",
        ),
        ("Relapses never flagged", relapses["never_flagged"]),
        ("Days from relapse to flag (median / 90th percentile)", _pair(relapses["days_to_flag"])),
        ("Days from relapse to a human contact (median / 90th percentile)", _pair(relapses["days_to_contact"])),
        ("Opted out / stopped answering", f"{summary['opted_out']} / {summary['dropped_out']}"),
        ("SMS segments (cost)", f"{summary['sms_segments']} ({summary['sms_cost']:.2f})"),
    ]
    return _table(("Figure", "Value"), rows)


def _pair(spread: Mapping[str, float | None]) -> str:
    return f"{_cell(spread['median'])} / {_cell(spread['p90'])}"


def _messages(series: Mapping[str, Any], weeks: int) -> str:
    return _weekly_bars(
        "Messages per week by channel",
        "Stacked weekly counts of messages and calls sent, by channel.",
        "messages",
        series["messages_by_channel"],
        weeks,
        CHANNEL_COLOURS,
    )


def _responses(summary: Mapping[str, Any], series: Mapping[str, Any], weeks: int) -> str:
    by_phase = summary["response_rate_by_phase"]
    table = _table(
        ("Phase", "Answered", "Closed", "Rate"),
        [
            (phase, row["answered"], row["closed"], "-" if row["rate"] is None else f"{row['rate']:.0%}")
            for phase, row in by_phase.items()
        ],
    )
    rates = zip(series["checkups_answered"], series["checkups_closed"], strict=True)
    title = "Response rate per week"
    chart = line_chart(
        title,
        # At the middle of each week, under the middle of that week's bars in the charts around it.
        [Series("answered", [(week + 0.5, _rate(a, c)) for week, (a, c) in enumerate(rates)])],
        y_label="% answered",
        y_min=0,
        y_max=1,
        width=WIDTH,
        height=HEIGHT,
        percent=True,
        desc="Share of the check-ups closed each week that were answered (at least one answer), in percent.",
        x_range=(0, weeks),
        x_ticks=[(week + 0.5, f"week {week}") for week in range(0, weeks, _week_step(weeks))],
        legend=True,  # as the weekly bars have, so the weeks line up
    )
    return table + _figure(title, chart) + '<p class="note">Weeks with no check-up closing have no point.</p>'


def _flags(series: Mapping[str, Any], weeks: int) -> str:
    found = series["flags_by_severity"]
    order = [s for s in SEVERITY_COLOURS if s in found] + sorted(s for s in found if s not in SEVERITY_COLOURS)
    chart = _weekly_bars(
        "Flags per week by severity",
        "Stacked weekly counts of flags opened, by the severity each flag reached.",
        "flags",
        {s: found[s] for s in order},
        weeks,
        SEVERITY_COLOURS,
    )
    note = (
        '<p class="note">A flag is counted in the week it opened, at the highest severity it reached (later '
        "reasons and an overdue escalation raise it).</p>"
    )
    return chart + note


def _delays(summary: Mapping[str, Any], series: Mapping[str, Any]) -> str:
    labels = [label for _, _, label in DELAY_BINS]
    relapses = summary["relapses"]
    flag_chart = _categories(
        "Days from relapse to first flag",
        "How many relapses were first flagged within each span of days.",
        "relapses",
        labels,
        histogram(series["days_to_flag"]),
    )
    contact_chart = _categories(
        "Days from relapse to first human contact",
        "How many relapses led to a volunteer taking the flag within each span of days.",
        "relapses",
        labels,
        histogram(series["days_to_contact"]),
    )
    return (
        f"<p>{relapses['evaluable']} relapses at least four weeks before the end; "
        f"{relapses['never_flagged']} of them never flagged.</p>" + flag_chart + contact_chart
    )


def _hours(summary: Mapping[str, Any], series: Mapping[str, Any], weeks: int) -> str:
    hours = summary["volunteer_hours_per_week"]
    chart = _weekly_bars(
        "Volunteer hours needed per week",
        f"Flags opened each week times {hours['minutes_per_flag']:g} minutes, in hours.",
        "hours",
        {"volunteer hours": series["volunteer_hours"]},
        weeks,
        {"volunteer hours": PALETTE[2]},
    )
    return chart + (
        f'<p class="note">{hours["minutes_per_flag"]:g} minutes per flag (set with --minutes-per-flag): reading '
        "the history, one to three call attempts and notes. A planning figure, not a measurement.</p>"
    )
