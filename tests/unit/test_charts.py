"""The SVG charts: well-formed, escaped, accessible, honest about empty data, and the same bytes each time."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from checkups.charts import Series, _nice_top, _ticks, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def _texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def _bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]


def test_line_chart_is_valid_svg_with_title_and_gaps() -> None:
    start = date(2026, 1, 5)
    points = [(start + timedelta(days=7 * i), v) for i, v in enumerate([3, 4, None, 7, 8])]
    root = _parse(line_chart("Craving <score>", [Series("craving", points)], y_min=0, y_max=10))
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Craving <score>"
    assert root.find(f"{SVG}desc").text
    assert len(root.findall(f"{SVG}polyline")) == 2  # the None splits the line
    assert len(root.findall(f"{SVG}circle")) == 4
    assert {"05 Jan 2026", "02 Feb 2026"} <= set(_texts(root))  # the two ends of the x axis


def test_text_is_escaped() -> None:
    chart = str(bar_chart("<script>alert(1)</script>", ["<b>"], [('x"&', [2.0])], desc="<i>", value_labels=True))
    assert "<script>" not in chart
    assert "<b>" not in chart
    assert "<i>" not in chart
    _parse(chart)


def test_charts_have_no_inline_style_for_the_staff_pages_content_security_policy() -> None:
    charts = [
        line_chart("l", [Series("a", [(0, 1.0), (1, None), (2, 3.0)]), Series("b", [(0, 2.0)])], legend=True),
        bar_chart("b", ["w1", "w2"], [("a", [1, 2]), ("b", [3, 0])], stacked=False, value_labels=True),
    ]
    for chart in charts:
        assert "style" not in str(chart)
        assert "<script" not in str(chart)


def test_the_same_arguments_give_the_same_bytes() -> None:
    def draw() -> str:
        return str(bar_chart("Flags", ["w1", "w2"], [("urgent", [1, 0]), ("high", [3, 2])]))

    assert draw() == draw()


def test_stacked_bars_reach_the_total() -> None:
    root = _parse(bar_chart("Flags", ["w1", "w2"], [("urgent", [1, 0]), ("high", [3, 2])]))
    rects = _bars(root)
    assert len(rects) == 3  # zero-height bars are left out
    first_week = [r for r in rects if r.find(f"{SVG}title").text.startswith("w1")]
    top = min(float(r.get("y")) for r in first_week)
    bottom = max(float(r.get("y")) + float(r.get("height")) for r in first_week)
    only_high = next(r for r in rects if r.find(f"{SVG}title").text == "w2, high: 2")
    assert bottom - top == pytest.approx(2 * float(only_high.get("height")), abs=0.2)  # 4 is twice 2


def test_bars_are_drawn_to_scale_and_categories_without_a_value_have_no_bar() -> None:
    root = _parse(bar_chart("t", ["a", "b", "c"], [("n", [0, 5, 10])]))
    heights = [float(r.get("height")) for r in _bars(root)]
    assert len(heights) == 2
    assert heights[1] == pytest.approx(2 * heights[0], abs=0.2)


@pytest.mark.parametrize(
    ("value", "whole", "top"),
    [
        (0.05, False, 0.1),
        (0.3, False, 0.3),
        (7, False, 8),
        (12, False, 12.5),
        (23, False, 25),
        (26, False, 30),
        (1234, False, 1250),
        (0.3, True, 1),
        (12, True, 15),
        (44, True, 50),
    ],
)
def test_the_axis_ends_on_a_labelled_gridline_at_or_above_the_highest_value(
    value: float, whole: bool, top: float
) -> None:
    assert _nice_top(0, value, whole) == pytest.approx(top)
    ticks = _ticks(0, _nice_top(0, value, whole), whole)
    assert ticks[-1] == pytest.approx(top)
    if whole:
        assert all(tick.is_integer() for tick in ticks)


def test_counts_get_whole_gridlines_and_large_values_a_short_label() -> None:
    assert "0.2" not in _texts(_parse(bar_chart("t", ["a", "b"], [("n", [1, 0])])))
    assert "15k" in _texts(_parse(bar_chart("t", ["a"], [("n", [14_000])])))


def test_value_labels_stand_above_each_stack() -> None:
    root = _parse(bar_chart("t", ["a", "b", "c"], [("x", [1, 0, 2]), ("y", [2, 0, 0])], value_labels=True))
    frame = next(root.iter(f"{SVG}rect"))
    plot_bottom = float(frame.get("y")) + float(frame.get("height"))
    over_bars = [
        t.text for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "middle" and float(t.get("y")) < plot_bottom
    ]
    assert over_bars == ["3", "2"]  # the stack of 1 + 2, nothing over the empty category


def test_category_names_are_thinned_to_fit_or_as_asked() -> None:
    weeks = [f"week {i}" for i in range(40)]
    values = [("n", [1.0] * 40)]
    shown = [t for t in _texts(_parse(bar_chart("t", weeks, values))) if t.startswith("week")]
    assert 2 < len(shown) < 20
    asked = [t for t in _texts(_parse(bar_chart("t", weeks, values, label_every=13))) if t.startswith("week")]
    assert asked == ["week 0", "week 13", "week 26", "week 39"]


def test_a_legend_is_drawn_for_several_series_or_when_asked() -> None:
    assert "only" not in _texts(_parse(bar_chart("t", ["a"], [("only", [1])])))
    assert "only" in _texts(_parse(bar_chart("t", ["a"], [("only", [1])], legend=True)))
    assert "only" in _texts(_parse(line_chart("t", [Series("only", [(0, 1.0)])], legend=True)))


def test_a_given_description_replaces_the_generated_one() -> None:
    root = _parse(bar_chart("t", ["a"], [("n", [1])], desc="Counts of things."))
    assert root.find(f"{SVG}desc").text == "Counts of things."


def test_a_line_over_a_fixed_range_with_its_own_x_labels_and_a_fixed_top() -> None:
    points = [(week + 0.5, rate) for week, rate in enumerate([None, 0.5, 1.0, None, 0.25, None])]
    root = _parse(
        line_chart(
            "Rate",
            [Series("answered", points)],
            y_min=0,
            y_max=1,
            percent=True,
            x_range=(0, 6),
            x_ticks=[(0.5, "week 0"), (3.5, "week 3")],
        )
    )
    texts = _texts(root)
    assert {"0%", "100%", "week 0", "week 3"} <= set(texts)
    assert not {"0.5", "5.5"} & set(texts)  # no default end labels when x labels are given
    assert len(root.findall(f"{SVG}polyline")) == 1
    assert len(root.findall(f"{SVG}circle")) == 3  # far apart: a dot each; the lone 0.25 included
    frame = next(root.iter(f"{SVG}rect"))
    left, plot_w = float(frame.get("x")), float(frame.get("width"))
    first_x = float(root.find(f"{SVG}polyline").get("points").split()[0].split(",")[0])
    assert first_x == pytest.approx(left + plot_w * 1.5 / 6, abs=0.1)  # placed in the given range, not the data's


def test_dense_points_draw_a_plain_line_but_a_lone_point_keeps_its_dot() -> None:
    values: list[float | None] = [float(i % 7) for i in range(300)]
    values[150] = None
    values[152] = None  # 151 stands alone
    root = _parse(line_chart("Dense", [Series("a", list(enumerate(values)))]))
    assert len(root.findall(f"{SVG}circle")) == 1
    assert len(root.findall(f"{SVG}polyline")) == 2


def test_empty_data_says_so() -> None:
    assert "No data yet" in str(line_chart("Nothing", [Series("a", [])]))
    assert "No data yet" in str(line_chart("Nothing", [Series("a", [(0, None)])]))
    assert "No data yet" in str(bar_chart("Nothing", [], []))


def test_coordinates_have_at_most_one_decimal() -> None:
    chart = str(line_chart("t", [Series("a", [(0, 1 / 3), (1, 2 / 3), (2, 0.7)])]))
    assert re.search(r"\d\.\d\d", chart) is None
