"""Small server-side SVG charts (lines and bars) for the staff pages and the simulation report.

Plain SVG markup with no script and no inline style, so pages keep a strict Content-Security-Policy and the
charts print and zoom cleanly; colours and fonts are presentation attributes, the font family is the page's.
Every text is escaped here; callers may put the result into a page as-is (it is returned as
``markupsafe.Markup``). Each chart has a <title> and <desc> for screen readers; pages should also offer the
numbers as a table or CSV. The same arguments give the same bytes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape

from markupsafe import Markup

# Colour-blind-safe palette (Okabe-Ito), all at least 3:1 against white for lines and bars.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
SEVERITY_COLOURS = {"urgent": "#a4001d", "high": "#8a4b00", "medium": "#0072B2", "low": "#4a5360"}

INK, MUTED, GRID, FRAME = "#1b1f24", "#4a5360", "#e3e8ee", "#c9d1da"
LEGEND_WIDTH = 150
DOT_SPACING = 6.0  # px between points below which a dot on each one only thickens the line
CHAR_WIDTH = 6.5  # px, a generous average at font-size 11, to keep category names from running together

X = float | int | date | datetime


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[X, float | None]]  # (x, y); None leaves a gap
    colour: str | None = None


def _num(x: X) -> float:
    if isinstance(x, datetime):
        return x.timestamp()
    if isinstance(x, date):
        return float(x.toordinal())
    return float(x)


def _label(x: X) -> str:
    if isinstance(x, date):  # datetimes too
        return x.strftime("%d %b %Y")
    return f"{x:g}"


def _number(value: float) -> str:
    """An axis or bar value, short: 12000 is written 12k."""
    return f"{value:g}" if abs(value) < 10_000 else f"{value / 1000:g}k"


def _step(low: float, high: float, whole: bool = False) -> float:
    """A round gap between about five gridlines from ``low`` to ``high`` (at least 1 for ``whole`` counts)."""
    raw = (high - low) / 5
    if raw < 1:
        return 1.0 if whole else next((s for s in (0.1, 0.2, 0.25, 0.5, 1.0) if s >= raw), 1.0)
    magnitude = 10 ** len(str(int(raw))) / 10
    steps = [m * magnitude for m in (1, 2, 2.5, 5, 10) if not whole or (m * magnitude).is_integer()]
    return next((step for step in steps if step >= raw), raw)


def _ticks(low: float, high: float, whole: bool = False) -> list[float]:
    if high <= low:
        return [low]
    step = _step(low, high, whole)
    ticks = []
    value = (low // step) * step
    while value <= high + step * 1e-9:
        if value >= low - step * 1e-9:
            ticks.append(round(value, 6))
        value += step
    return ticks


def _nice_top(low: float, high: float, whole: bool = False) -> float:
    """The first gridline at or above ``high``, so the axis ends on a labelled round number."""
    step = _step(low, high, whole)
    return round(math.ceil(high / step - 1e-9) * step, 6)


def _frame(title: str, desc: str, width: int, height: int, body: list[str]) -> Markup:
    # A stable id (hash() is salted per process; the same data must give the same bytes).
    ident = "c" + hashlib.sha256(f"{title}\0{desc}".encode()).hexdigest()[:10]
    return Markup(  # noqa: S704 - every text in the body was escaped where it was written
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{ident}-t {ident}-d">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _no_data(title: str, desc: str, width: int) -> Markup:
    return _frame(title, desc + " (no data)", width, 60, ['<text x="8" y="34" font-size="13">No data yet</text>'])


def _text(x: float, y: float, text: str, anchor: str = "middle") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="{anchor}" fill="{MUTED}">{escape(text)}</text>'


def _plot(
    box: tuple[float, float, float, float],
    ticks: Sequence[float],
    sy: Callable[[float], float],
    y_label: str,
    percent: bool = False,
) -> list[str]:
    """The plot's frame, a gridline and label at each y tick, and the rotated y axis label."""
    left, top, plot_w, plot_h = box
    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="{FRAME}"/>']
    for tick in ticks:
        ty = sy(tick)
        text = f"{tick * 100:.0f}%" if percent else _number(tick)
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, ty + 4, text, "end"))
    if y_label:
        middle = top + plot_h / 2
        body.append(
            f'<text x="12" y="{middle:.1f}" font-size="11" fill="{MUTED}" '
            f'transform="rotate(-90 12 {middle:.1f})" text-anchor="middle">{escape(y_label)}</text>'
        )
    return body


def _legend(names: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    parts = []
    for i, (name, colour) in enumerate(names):
        ly = y + i * 16
        parts.append(f'<rect x="{x:.1f}" y="{ly - 9:.1f}" width="10" height="10" fill="{escape(colour)}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{ly:.1f}" font-size="12" fill="{INK}">{escape(name)}</text>')
    return parts


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    y_label: str = "",
    y_min: float | None = None,
    y_max: float | None = None,
    width: int = 640,
    height: int = 260,
    percent: bool = False,
    desc: str | None = None,
    x_range: tuple[X, X] | None = None,
    x_ticks: Sequence[tuple[X, str]] = (),
    legend: bool | None = None,
) -> Markup:
    """Lines over a shared x axis (numbers, dates or datetimes). Gaps where y is None.

    The x axis spans ``x_range`` (default: the points with a value) and is labelled at ``x_ticks``, (x, text)
    pairs (default: its two ends). Without ``y_max`` the y axis ends on the first gridline at or above the highest
    value. Points get a dot while they are far enough apart to tell apart; a point alone always gets one.
    ``desc`` replaces the generated description; a legend is drawn for several series or as ``legend`` says.
    """
    pts = [(_num(x), y) for s in series for x, y in s.points if y is not None]
    if desc is None:
        desc = f"{title}: " + "; ".join(
            f"{s.name} {len([p for p in s.points if p[1] is not None])} points" for s in series
        )
    if not pts:
        return _no_data(title, desc, width)
    legend_w = LEGEND_WIDTH if (len(series) > 1 if legend is None else legend) else 0
    left, right, top, bottom = 52, 12 + legend_w, 12, 34
    xs = [p[0] for p in pts]
    ys = [float(p[1]) for p in pts if p[1] is not None]
    x0, x1 = (_num(x_range[0]), _num(x_range[1])) if x_range else (min(xs), max(xs))
    lo = min(ys) if y_min is None else y_min
    hi = max(ys) if y_max is None else y_max
    if hi <= lo:
        hi = lo + 1
    if y_max is None:
        hi = _nice_top(lo, hi)
    if x1 <= x0:
        x1 = x0 + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + (1 - (y - lo) / (hi - lo)) * plot_h

    body = _plot((left, top, plot_w, plot_h), _ticks(lo, hi), sy, y_label, percent)
    if x_ticks:
        body += [_text(sx(_num(x)), height - 10, text) for x, text in x_ticks]
    else:
        first = x_range[0] if x_range else next(x for s in series for x, y in s.points if y is not None)
        last = x_range[1] if x_range else max((x for s in series for x, y in s.points if y is not None), key=_num)
        body += [
            _text(left, height - 10, _label(first), "start"),
            _text(left + plot_w, height - 10, _label(last), "end"),
        ]
    most = max(len([p for p in s.points if p[1] is not None]) for s in series)
    dots = plot_w / max(most - 1, 1) >= DOT_SPACING
    names = []
    for i, s in enumerate(series):
        colour = s.colour or PALETTE[i % len(PALETTE)]
        names.append((s.name, colour))
        colour = escape(colour)
        segments: list[list[str]] = [[]]
        for x, y in s.points:
            if y is None:
                segments.append([])
                continue
            segments[-1].append(f"{sx(_num(x)):.1f},{sy(float(y)):.1f}")
        for segment in segments:
            if len(segment) > 1:
                body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(segment)}"/>')
            if dots or len(segment) == 1:
                for point in segment:
                    cx, cy = point.split(",")
                    body.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
    if legend_w:
        body += _legend(names, width - legend_w + 8, top + 12)
    return _frame(title, desc, width, height, body)


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    colours: Mapping[str, str] | None = None,
    stacked: bool = True,
    width: int = 640,
    height: int = 260,
    y_label: str = "",
    desc: str | None = None,
    legend: bool | None = None,
    label_every: int | None = None,
    bar_fill: float = 0.7,
    value_labels: bool = False,
) -> Markup:
    """Bars per category; several series stack (or sit side by side with ``stacked=False``).

    The y axis ends on the first gridline at or above the tallest bar. Category names are written under
    every ``label_every``-th category (default: as many as fit without running together). ``bar_fill`` is the
    share of a category's width its bars take (near 1 for a histogram of weeks); ``value_labels`` writes the
    value above each stack (or bar). ``desc`` replaces the generated description; a legend is drawn for
    several series or as ``legend`` says. Zero-height bars are left out.
    """
    if desc is None:
        desc = f"{title}: " + "; ".join(
            f"{name}: " + ", ".join(f"{c} {v:g}" for c, v in zip(categories, values, strict=True))
            for name, values in series
        )
    if not categories or not series:
        return _no_data(title, desc, width)
    legend_w = LEGEND_WIDTH if (len(series) > 1 if legend is None else legend) else 0
    left, right, top, bottom = 52, 12 + legend_w, 22 if value_labels else 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    per_band = 1 if stacked else len(series)
    totals = [
        sum(values[i] for _, values in series) if stacked else max(values[i] for _, values in series)
        for i in range(len(categories))
    ]
    whole = all(float(v).is_integer() for _, values in series for v in values)  # no gridline at 0.2 flags
    hi = _nice_top(0, max(totals) or 1.0, whole)
    band = plot_w / len(categories)
    bar_w = max(1.0, band * bar_fill / per_band)

    def sy(y: float) -> float:
        return top + (1 - y / hi) * plot_h

    body = _plot((left, top, plot_w, plot_h), _ticks(0, hi, whole), sy, y_label)
    names = []
    base = [0.0] * len(categories)
    for s_index, (name, values) in enumerate(series):
        colour = (colours or {}).get(name) or PALETTE[s_index % len(PALETTE)]
        names.append((name, colour))
        colour = escape(colour)
        for i, value in enumerate(values):
            if value <= 0:
                continue
            x = left + i * band + (band - bar_w * per_band) / 2 + (0 if stacked else s_index * bar_w)
            y_top, y_bottom = sy(base[i] + value), sy(base[i])
            body.append(
                f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{bar_w:.1f}" height="{max(0.5, y_bottom - y_top):.1f}" '
                f'fill="{colour}"><title>{escape(f"{categories[i]}, {name}: {value:g}")}</title></rect>'
            )
            if stacked:
                base[i] += value
            elif value_labels:
                body.append(_text(x + bar_w / 2, y_top - 4, _number(value)))
    if stacked and value_labels:
        body += [_text(left + (i + 0.5) * band, sy(t) - 4, _number(t)) for i, t in enumerate(totals) if t > 0]
    if label_every is None:
        label_every = math.ceil((max(len(c) for c in categories) * CHAR_WIDTH + 8) / band)
    for i, category in enumerate(categories):
        if i % max(1, label_every) == 0:
            body.append(_text(left + i * band + band / 2, height - bottom + 16, category))
    if legend_w:
        body += _legend(names, width - legend_w + 8, top + 12)
    return _frame(title, desc, width, height, body)
