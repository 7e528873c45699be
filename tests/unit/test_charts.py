"""The SVG charts: well-formed, escaped, accessible, and honest about empty data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

from checkups.charts import Series, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def test_line_chart_is_valid_svg_with_title_and_gaps() -> None:
    start = date(2026, 1, 5)
    points = [(start + timedelta(days=7 * i), v) for i, v in enumerate([3, 4, None, 7, 8])]
    root = _parse(line_chart("Craving <score>", [Series("craving", points)], y_min=0, y_max=10))
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Craving <score>"
    assert len(root.findall(f"{SVG}polyline")) == 2  # the None splits the line
    assert len(root.findall(f"{SVG}circle")) == 4


def test_text_is_escaped() -> None:
    chart = str(bar_chart("<script>alert(1)</script>", ["<b>"], [("x\"&", [2.0])]))
    assert "<script>" not in chart
    assert "<b>" not in chart
    _parse(chart)


def test_stacked_bars_reach_the_total() -> None:
    root = _parse(bar_chart("Flags", ["w1", "w2"], [("urgent", [1, 0]), ("high", [3, 2])]))
    rects = [r for r in root.findall(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(rects) == 3  # zero-height bars are left out


def test_empty_data_says_so() -> None:
    assert "No data yet" in str(line_chart("Nothing", [Series("a", [])]))
    assert "No data yet" in str(bar_chart("Nothing", [], []))
