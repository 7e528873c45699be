"""The simulation report: self-contained HTML with inline SVG, every text escaped, the same bytes for the
same figures."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from checkups.simulate_report import DELAY_BINS, Series, _nice_ceiling, histogram, render, stacked_bars

WEEKS = 6


def _summary(protocol: str = "standard-5y") -> dict[str, Any]:
    return {
        "people": 10,
        "years": 0.1,
        "protocol": protocol,
        "seed": 4,
        "messages": {"sms": {"question": 40, "reminder": 5}, "voice": {"call": 3}},
        "messages_total": 48,
        "inbound": 30,
        "response_rate_by_phase": {"weekly": {"answered": 8, "closed": 10, "rate": 0.8}},
        "flags_by_severity": {"high": 3, "urgent": 1},
        "flags_total": 4,
        "flags_per_week": {"mean": 0.67, "max": 2, "weeks": [0, 1, 2, 0, 1, 0]},
        "volunteer_hours_per_week": {"minutes_per_flag": 30.0, "mean": 0.33, "max": 1.0},
        "relapses": {
            "simulated": 2,
            "evaluable": 2,
            "never_flagged": 1,
            "days_to_flag": {"median": 2.5, "p90": 2.5},
            "days_to_contact": {"median": None, "p90": None},
            "contacted": 0,
        },
        "opted_out": 1,
        "dropped_out": 0,
        "sms_segments": 45,
        "sms_cost": 1.8,
    }


def _series() -> dict[str, Any]:
    return {
        "weeks": WEEKS,
        "messages_by_channel": {"sms": [10, 9, 8, 7, 6, 5], "voice": [0, 1, 0, 2, 0, 0]},
        "checkups_closed": [0, 2, 2, 2, 2, 2],
        "checkups_answered": [0, 2, 1, 2, 1, 2],
        "flags_by_severity": {"high": [0, 1, 1, 0, 1, 0], "urgent": [0, 0, 1, 0, 0, 0]},
        "volunteer_hours": [0.0, 0.5, 1.0, 0.0, 0.5, 0.0],
        "days_to_flag": [2.5],
        "days_to_contact": [],
    }


def test_the_report_is_one_document_with_a_chart_per_figure_and_nothing_from_the_network() -> None:
    page = render(_summary(), _series())
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 6
    assert "<script" not in page
    assert re.search(r"""(src|href)\s*=""", page) is None  # no image, stylesheet or font to fetch
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        ET.fromstring(svg)  # each chart is well-formed XML


def test_every_text_is_escaped() -> None:
    page = render(_summary(protocol='<script>alert("x")</script> & co'), _series())
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page


def test_the_same_figures_give_the_same_bytes_and_different_ones_differ() -> None:
    assert render(_summary(), _series()) == render(_summary(), _series())
    changed = _series()
    changed["messages_by_channel"]["sms"][2] += 1
    assert render(_summary(), changed) != render(_summary(), _series())


def test_bars_are_drawn_to_scale_and_weeks_without_messages_have_no_bar() -> None:
    svg = stacked_bars("t", "d", "u", [Series("a", "#000", [0, 5, 10])], 3)
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 2
    assert heights[1] == pytest.approx(2 * heights[0], abs=0.2)


def test_the_delay_histogram_puts_each_delay_in_one_bin() -> None:
    days = [0.0, 0.99, 1.0, 2.9, 6.0, 13.9, 20.0, 40.0, 400.0]
    counts = histogram(days)
    assert len(counts) == len(DELAY_BINS)
    assert sum(counts) == len(days)
    assert counts == [2, 2, 1, 1, 1, 1, 1]


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1.0), (0.3, 0.5), (7, 10.0), (12, 20.0), (23, 25.0), (26, 50.0), (1234, 2000.0)]
)
def test_the_axis_ends_at_a_round_number_at_or_above_the_highest_value(value: float, top: float) -> None:
    assert _nice_ceiling(value) == pytest.approx(top)
