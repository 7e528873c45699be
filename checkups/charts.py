"""Small server-side SVG charts (line and bar) for the staff pages and the simulation report.

Plain SVG markup with no script and no inline style, so pages keep a strict Content-Security-Policy and the
charts print and zoom cleanly. Every text is escaped here; callers may put the result into a page as-is
(it is returned as ``markupsafe.Markup``). Each chart has a <title> and <desc> for screen readers; pages
should also offer the numbers as a table or CSV.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape

from markupsafe import Markup

# Colour-blind-safe palette (Okabe-Ito), all at least 3:1 against white for lines and bars.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
SEVERITY_COLOURS = {"urgent": "#a4001d", "high": "#8a4b00", "routine": "#2f5d2f"}

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
    if isinstance(x, datetime):
        return x.strftime("%d %b %Y")
    if isinstance(x, date):
        return x.strftime("%d %b %Y")
    return f"{x:g}"


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1.0
    step = next((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), raw)
    if raw < 1:
        step = next((s for s in (0.1, 0.2, 0.25, 0.5, 1.0) if s >= raw), 1.0)
    start = (low // step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        if value >= low - step * 1e-9:
            ticks.append(round(value, 6))
        value += step
    return ticks


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


def _y_tick(left: float, y: float, text: str) -> str:
    return f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#4a5360">{escape(text)}</text>'


def _legend(names: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    parts = []
    for i, (name, colour) in enumerate(names):
        ly = y + i * 16
        parts.append(f'<rect x="{x:.1f}" y="{ly - 9:.1f}" width="10" height="10" fill="{escape(colour)}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{ly:.1f}" font-size="12" fill="#1b1f24">{escape(name)}</text>')
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
) -> Markup:
    """Lines over a shared x axis (numbers, dates or datetimes). Gaps where y is None."""
    pts = [(_num(x), y) for s in series for x, y in s.points if y is not None]
    desc = f"{title}: " + "; ".join(f"{s.name} {len([p for p in s.points if p[1] is not None])} points" for s in series)
    if not pts:
        return _frame(title, desc + " (no data)", width, 60, ['<text x="8" y="34" font-size="13">No data yet</text>'])
    legend_w = 150 if len(series) > 1 else 0
    left, right, top, bottom = 52, 12 + legend_w, 12, 34
    xs = [p[0] for p in pts]
    ys = [float(p[1]) for p in pts if p[1] is not None]
    x0, x1 = min(xs), max(xs)
    lo = min(ys) if y_min is None else y_min
    hi = max(ys) if y_max is None else y_max
    if hi <= lo:
        hi = lo + 1
    if x1 <= x0:
        x1 = x0 + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + (1 - (y - lo) / (hi - lo)) * plot_h

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#c9d1da"/>']
    for tick in _ticks(lo, hi):
        ty = sy(tick)
        text = f"{tick * 100:.0f}%" if percent else f"{tick:g}"
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#e3e8ee"/>')
        body.append(
            f'<text x="{left - 6}" y="{ty + 4:.1f}" font-size="11" text-anchor="end" fill="#4a5360">{text}</text>'
        )
    first = next(x for s in series for x, y in s.points if y is not None)
    last = max((x for s in series for x, y in s.points if y is not None), key=_num)
    body.append(f'<text x="{left}" y="{height - 10}" font-size="11" fill="#4a5360">{escape(_label(first))}</text>')
    body.append(
        f'<text x="{left + plot_w}" y="{height - 10}" font-size="11" text-anchor="end" fill="#4a5360">'
        f"{escape(_label(last))}</text>"
    )
    if y_label:
        body.append(
            f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="11" fill="#4a5360" '
            f'transform="rotate(-90 12 {top + plot_h / 2:.1f})" text-anchor="middle">{escape(y_label)}</text>'
        )
    names = []
    for i, s in enumerate(series):
        colour = s.colour or PALETTE[i % len(PALETTE)]
        names.append((s.name, colour))
        segments: list[list[str]] = [[]]
        for x, y in s.points:
            if y is None:
                segments.append([])
                continue
            segments[-1].append(f"{sx(_num(x)):.1f},{sy(float(y)):.1f}")
        for segment in segments:
            if len(segment) > 1:
                body.append(
                    f'<polyline fill="none" stroke="{escape(colour)}" stroke-width="2" points="{" ".join(segment)}"/>'
                )
            for point in segment:
                cx, cy = point.split(",")
                body.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{escape(colour)}"/>')
    if legend_w:
        body += _legend(names, width - legend_w + 8, top + 12)
    return _frame(title, desc, width, height, body)


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    colours: dict[str, str] | None = None,
    stacked: bool = True,
    width: int = 640,
    height: int = 260,
    y_label: str = "",
) -> Markup:
    """Bars per category; several series stack (or sit side by side with ``stacked=False``)."""
    desc = f"{title}: " + "; ".join(
        f"{name}: " + ", ".join(f"{c} {v:g}" for c, v in zip(categories, values, strict=True))
        for name, values in series
    )
    if not categories or not series:
        return _frame(title, desc + " (no data)", width, 60, ['<text x="8" y="34" font-size="13">No data yet</text>'])
    legend_w = 150 if len(series) > 1 else 0
    left, right, top, bottom = 52, 12 + legend_w, 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [
        sum(values[i] for _, values in series) if stacked else max(values[i] for _, values in series)
        for i in range(len(categories))
    ]
    hi = max(totals) or 1.0
    band = plot_w / len(categories)
    bar_w = max(1.0, band * 0.7 / (1 if stacked else len(series)))

    def sy(y: float) -> float:
        return top + (1 - y / hi) * plot_h

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#c9d1da"/>']
    for tick in _ticks(0, hi):
        ty = sy(tick)
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#e3e8ee"/>')
        body.append(
            f'<text x="{left - 6}" y="{ty + 4:.1f}" font-size="11" text-anchor="end" fill="#4a5360">{tick:g}</text>'
        )
    if y_label:
        body.append(
            f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="11" fill="#4a5360" '
            f'transform="rotate(-90 12 {top + plot_h / 2:.1f})" text-anchor="middle">{escape(y_label)}</text>'
        )
    names = []
    base = [0.0] * len(categories)
    for s_index, (name, values) in enumerate(series):
        colour = (colours or {}).get(name) or PALETTE[s_index % len(PALETTE)]
        names.append((name, colour))
        for i, value in enumerate(values):
            if value <= 0:
                continue
            x = left + i * band + (band - bar_w * (1 if stacked else len(series))) / 2
            if not stacked:
                x += s_index * bar_w
            y_top = sy(base[i] + value) if stacked else sy(value)
            y_bottom = sy(base[i]) if stacked else sy(0)
            body.append(
                f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{bar_w:.1f}" height="{max(0.5, y_bottom - y_top):.1f}" '
                f'fill="{escape(colour)}"><title>{escape(f"{categories[i]}, {name}: {value:g}")}</title></rect>'
            )
            if stacked:
                base[i] += value
    every = max(1, len(categories) // 8)
    for i, category in enumerate(categories):
        if i % every == 0:
            cx = left + i * band + band / 2
            body.append(
                f'<text x="{cx:.1f}" y="{height - bottom + 16}" font-size="11" text-anchor="middle" fill="#4a5360">'
                f"{escape(category)}</text>"
            )
    if legend_w:
        body += _legend(names, width - legend_w + 8, top + 12)
    return _frame(title, desc, width, height, body)
