"""The HTML report of ``checkups simulate``: one self-contained file, charts drawn here as inline SVG.

No JavaScript, no stylesheet or font from the network: the file opens offline, can be mailed to a programme
lead, and prints. Every piece of text that reaches the page goes through :func:`html.escape` (protocol
names come from YAML files that staff edit). The same figures give the same bytes: nothing in the page
depends on when or where it was made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

WIDTH = 880
HEIGHT = 240
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 28, 40

CHANNEL_COLOURS = {"sms": "#3b6ea8", "voice": "#e08a2c"}
# Most severe first; colours from a diverging scheme that stays distinct for common colour blindness.
SEVERITY_COLOURS = {"urgent": "#a50026", "high": "#f46d43", "medium": "#fdae61", "low": "#74add1"}
OTHER_COLOUR = "#888888"
LINE_COLOUR = "#2c7a4b"

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


@dataclass(frozen=True)
class Series:
    """One named, coloured row of values, one per x position."""

    name: str
    colour: str
    values: Sequence[float]


def _num(value: float) -> str:
    """A coordinate with at most one decimal: short SVG, and identical output for identical input."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (a readable axis top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _label(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def _frame(
    title: str,
    description: str,
    top: float,
    unit: str,
    body: list[str],
    x_labels: list[str],
    legend: Sequence[tuple[str, str]] = (),
) -> str:
    """A captioned SVG with a y axis from 0 to ``top`` (five gridlines), the given marks and x labels."""
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    parts = [
        f"<figure><figcaption>{escape(title)}</figcaption>",
        _legend(legend) if legend else "",
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="t-{_slug(title)} d-{_slug(title)}">',
        f'<title id="t-{_slug(title)}">{escape(title)}</title>',
        f'<desc id="d-{_slug(title)}">{escape(description)}</desc>',
    ]
    for i in range(6):
        value = top * i / 5
        y = MARGIN_TOP + plot_h - plot_h * i / 5
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{_num(y)}" y2="{_num(y)}" class="grid"/>'
        )
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{_num(y + 4)}" class="ytick">{escape(_label(value))}</text>')
    parts.append(
        f'<text x="12" y="{_num(MARGIN_TOP + plot_h / 2)}" class="unit" '
        f'transform="rotate(-90 12 {_num(MARGIN_TOP + plot_h / 2)})">{escape(unit)}</text>'
    )
    parts.extend(body)
    parts.extend(x_labels)
    parts.append("</svg></figure>")
    return "".join(parts)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")[:40]


def _week_labels(weeks: int) -> list[str]:
    """Year marks along a weekly x axis (every 13 weeks when the run is a year or less)."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    step = 13 if weeks <= 53 else 52
    out = []
    for week in range(0, weeks + 1, step):
        x = MARGIN_LEFT + plot_w * week / max(weeks, 1)
        text = f"week {week}" if step == 13 else f"year {week // 52}"
        out.append(f'<text x="{_num(x)}" y="{HEIGHT - MARGIN_BOTTOM + 16}" class="xtick">{escape(text)}</text>')
    return out


def stacked_bars(
    title: str, description: str, unit: str, series: Sequence[Series], weeks: int, legend: bool = True
) -> str:
    """Weekly bars, one stack per week, the series stacked in the order given (bottom first)."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    totals = [sum(s.values[i] for s in series) for i in range(weeks)]
    top = _nice_ceiling(max(totals, default=0))
    width = plot_w / max(weeks, 1)
    body = []
    for i in range(weeks):
        base = 0.0
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            height = plot_h * value / top
            y = MARGIN_TOP + plot_h - plot_h * base / top - height
            body.append(
                f'<rect x="{_num(MARGIN_LEFT + i * width)}" y="{_num(y)}" width="{_num(max(width - 0.4, 0.6))}" '
                f'height="{_num(height)}" fill="{s.colour}"><title>week {i}: {escape(s.name)} '
                f"{escape(_label(value))}</title></rect>"
            )
            base += value
    keys = [(s.name, s.colour) for s in series] if legend else []
    return _frame(title, description, top, unit, body, _week_labels(weeks), keys)


def line(title: str, description: str, unit: str, values: Sequence[float | None], weeks: int, top: float) -> str:
    """A weekly line; weeks without a value (None) break it."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    width = plot_w / max(weeks, 1)
    runs: list[list[str]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            runs.append([])
            continue
        x = MARGIN_LEFT + (i + 0.5) * width
        y = MARGIN_TOP + plot_h - plot_h * min(value, top) / top
        runs[-1].append(f"{_num(x)},{_num(y)}")
    body = [
        f'<polyline points="{" ".join(run)}" fill="none" stroke="{LINE_COLOUR}" stroke-width="1.5"/>'
        for run in runs
        if len(run) > 1
    ]
    body += [
        f'<circle cx="{run[0].split(",")[0]}" cy="{run[0].split(",")[1]}" r="1.5" fill="{LINE_COLOUR}"/>'
        for run in runs
        if len(run) == 1
    ]
    return _frame(title, description, top, unit, body, _week_labels(weeks))


def categories(title: str, description: str, unit: str, labels: Sequence[str], values: Sequence[float]) -> str:
    """One bar per labelled category (a histogram with the bins' names under the bars)."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    top = _nice_ceiling(max(values, default=0))
    slot = plot_w / max(len(values), 1)
    body = []
    x_labels = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = plot_h * value / top
        x = MARGIN_LEFT + i * slot + slot * 0.15
        body.append(
            f'<rect x="{_num(x)}" y="{_num(MARGIN_TOP + plot_h - height)}" width="{_num(slot * 0.7)}" '
            f'height="{_num(height)}" fill="{LINE_COLOUR}"><title>{escape(label)}: {escape(_label(value))}</title>'
            "</rect>"
        )
        if value:
            body.append(
                f'<text x="{_num(x + slot * 0.35)}" y="{_num(MARGIN_TOP + plot_h - height - 4)}" class="value">'
                f"{escape(_label(value))}</text>"
            )
        x_labels.append(
            f'<text x="{_num(MARGIN_LEFT + (i + 0.5) * slot)}" y="{HEIGHT - MARGIN_BOTTOM + 16}" class="xtick">'
            f"{escape(label)}</text>"
        )
    return _frame(title, description, top, unit, body, x_labels)


def histogram(days: Sequence[float]) -> list[int]:
    """How many of ``days`` fall in each of :data:`DELAY_BINS`."""
    counts = [0] * len(DELAY_BINS)
    for value in days:
        for i, (low, high, _) in enumerate(DELAY_BINS):
            if low <= value < high:
                counts[i] += 1
                break
    return counts


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<p class="legend">'
        + " ".join(f'<span><i style="background:{colour}"></i>{escape(name)}</span>' for name, colour in items)
        + "</p>"
    )


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
th:first-child,td:first-child{text-align:left}svg{width:100%;height:auto}svg .grid{stroke:#e4e4e4}
svg text{font:11px system-ui,sans-serif;fill:#555}svg .ytick{text-anchor:end}svg .xtick,svg .value{text-anchor:middle}
svg .unit{text-anchor:middle}.legend span{margin-right:1.2em}.legend i{display:inline-block;width:.8em;height:.8em;
margin-right:.35em;vertical-align:-.05em}.note{color:#555;font-size:.9em}figure{margin:1em 0}
figcaption{font-weight:600;font-size:.95em}
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
        ("Messages sent", summary["messages_total"]),
        ("Replies received", summary["inbound"]),
        ("Flags raised", summary["flags_total"]),
        ("Flags per week (mean / max)", f"{summary['flags_per_week']['mean']:g} / {summary['flags_per_week']['max']}"),
        (
            f"Volunteer hours per week (mean / max, {hours['minutes_per_flag']:g} min per flag)",
            f"{hours['mean']:g} / {hours['max']:g}",
        ),
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
    channels = series["messages_by_channel"]
    rows = [Series(name, CHANNEL_COLOURS.get(name, OTHER_COLOUR), values) for name, values in channels.items()]
    chart = stacked_bars(
        "Messages per week by channel",
        "Stacked weekly counts of messages and calls sent, by channel.",
        "messages",
        rows,
        weeks,
    )
    return chart


def _responses(summary: Mapping[str, Any], series: Mapping[str, Any], weeks: int) -> str:
    by_phase = summary["response_rate_by_phase"]
    table = _table(
        ("Phase", "Answered", "Closed", "Rate"),
        [
            (phase, row["answered"], row["closed"], "-" if row["rate"] is None else f"{row['rate']:.0%}")
            for phase, row in by_phase.items()
        ],
    )
    rates = [
        None if rate is None else round(rate * 100, 1)
        for rate in (_rate(a, c) for a, c in zip(series["checkups_answered"], series["checkups_closed"], strict=True))
    ]
    chart = line(
        "Response rate per week",
        "Share of the check-ups closed each week that were answered (at least one answer), in percent.",
        "% answered",
        rates,
        weeks,
        100.0,
    )
    return table + chart + '<p class="note">Weeks with no check-up closing have no point.</p>'


def _flags(series: Mapping[str, Any], weeks: int) -> str:
    found = series["flags_by_severity"]
    order = [s for s in SEVERITY_COLOURS if s in found] + sorted(s for s in found if s not in SEVERITY_COLOURS)
    rows = [Series(s, SEVERITY_COLOURS.get(s, OTHER_COLOUR), found[s]) for s in order]
    chart = stacked_bars(
        "Flags per week by severity",
        "Stacked weekly counts of flags opened, by the severity each flag reached.",
        "flags",
        rows,
        weeks,
    )
    note = (
        '<p class="note">A flag is counted in the week it opened, at the highest severity it reached (later '
        "reasons and an overdue escalation raise it).</p>"
    )
    return chart + note


def _delays(summary: Mapping[str, Any], series: Mapping[str, Any]) -> str:
    labels = [label for _, _, label in DELAY_BINS]
    relapses = summary["relapses"]
    flag_chart = categories(
        "Days from relapse to first flag",
        "How many relapses were first flagged within each span of days.",
        "relapses",
        labels,
        histogram(series["days_to_flag"]),
    )
    contact_chart = categories(
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
    chart = stacked_bars(
        "Volunteer hours needed per week",
        f"Flags opened each week times {hours['minutes_per_flag']:g} minutes, in hours.",
        "hours",
        [Series("hours", LINE_COLOUR, series["volunteer_hours"])],
        weeks,
        legend=False,
    )
    return chart + (
        f'<p class="note">{hours["minutes_per_flag"]:g} minutes per flag (set with --minutes-per-flag): reading '
        "the history, one to three call attempts and notes. A planning figure, not a measurement.</p>"
    )
