"""The simulation report: self-contained HTML with inline SVG drawn by checkups.charts, every text escaped, the
same bytes for the same figures."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from typing import Any

from checkups.simulate import terminal_progress
from checkups.simulate_report import DELAY_BINS, histogram, render

WEEKS = 6
SVG = "{http://www.w3.org/2000/svg}"


def _summary(protocol: str = "standard-5y") -> dict[str, Any]:
    return {
        "people": 10,
        "years": 0.1,
        "protocol": protocol,
        "seed": 4,
        "messages": {"sms": {"question": 40, "reminder": 5}, "voice": {"call": 3}},
        "messages_total": 48,
        "inbound": 30,
        "calls_answered": 4,
        "keypad_answers": 13,
        "checkups": 17,
        "outside_window": 0,
        "response_rate_by_phase": {"weekly": {"answered": 8, "closed": 10, "rate": 0.8}},
        "flags_by_severity": {"high": 3, "urgent": 1},
        "flags_total": 4,
        "flags_per_week": {"mean": 0.67, "max": 2, "weeks": [0, 1, 2, 0, 1, 0]},
        "volunteer_calls_per_day": 7,
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


def test_the_overview_says_how_many_calls_a_day_the_volunteers_made() -> None:
    """Days to a human contact depend on it, and its default grows with the cohort: the report says it."""
    page = render(_summary(), _series())
    assert re.search(r"Volunteer calls a day at most \(--volunteer-capacity\)</t[hd]>\s*<td[^>]*>7</td>", page)


def test_every_text_is_escaped() -> None:
    page = render(_summary(protocol='<script>alert("x")</script> & co'), _series())
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page


def test_the_same_figures_give_the_same_bytes_and_different_ones_differ() -> None:
    assert render(_summary(), _series()) == render(_summary(), _series())
    changed = _series()
    changed["messages_by_channel"]["sms"][2] += 1
    assert render(_summary(), changed) != render(_summary(), _series())


def test_every_chart_has_a_caption_a_title_and_a_description_and_no_inline_style() -> None:
    page = render(_summary(), _series())
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    charts = [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S)]
    assert [chart.find(f"{SVG}title").text for chart in charts] == captions
    assert all(chart.find(f"{SVG}desc").text for chart in charts)
    assert "style=" not in page  # the only CSS is the page's own <style> block


def test_the_weekly_charts_line_up_week_for_week() -> None:
    page = render(_summary(), _series())
    frames = [ET.fromstring(svg).find(f"{SVG}rect") for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S)]
    weekly = [frames[i] for i in (0, 1, 2, 5)]  # messages, response rate, flags, hours
    assert len({(f.get("x"), f.get("width")) for f in weekly}) == 1


def test_the_response_rate_is_drawn_in_percent_up_to_100() -> None:
    page = render(_summary(), _series())
    rate = ET.fromstring(re.findall(r"<svg.*?</svg>", page, flags=re.S)[1])
    texts = {t.text for t in rate.iter(f"{SVG}text")}
    assert {"0%", "100%", "week 0"} <= texts


def test_the_delay_histogram_puts_each_delay_in_one_bin() -> None:
    days = [0.0, 0.99, 1.0, 2.9, 6.0, 13.9, 20.0, 40.0, 400.0]
    counts = histogram(days)
    assert len(counts) == len(DELAY_BINS)
    assert sum(counts) == len(days)
    assert counts == [2, 2, 1, 1, 1, 1, 1]


def test_the_overview_shows_the_check_ups_and_the_send_window_check() -> None:
    page = render(_summary(), _series())
    assert "<tr><td>Check-ups</td><td>17</td></tr>" in page
    assert "<tr><td>Check-up messages sent outside the person&#x27;s send window</td><td>0</td></tr>" in page


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_shows_time_taken_and_about_how_long_is_left() -> None:
    now = [100.0]
    stream = _Terminal()
    show = terminal_progress(stream, clock=lambda: now[0])
    assert show is not None
    show(0.01)
    now[0] += 30
    show(0.25)  # a quarter in 30 s: about 90 s to go
    now[0] += 60
    show(0.25)  # the same percent again writes nothing
    now[0] += 100
    show(1.0)
    lines = stream.getvalue().split("\r")[1:]
    assert lines[0].startswith("simulating [")
    assert lines[0].rstrip().endswith("1%  0 s")
    assert lines[1].rstrip().endswith(" 25%  30 s, about 1 min 30 s left")
    assert len(lines) == 3
    assert lines[2].startswith("simulating [#########################] 100%  done in 3 min 10 s")
    assert len(lines[2].rstrip("\n")) >= len(lines[1])  # padded over the longer line before it
    assert stream.getvalue().endswith("\n")


def test_no_progress_line_when_the_output_is_not_a_terminal() -> None:
    assert terminal_progress(io.StringIO()) is None
