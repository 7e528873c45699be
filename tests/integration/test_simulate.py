"""`checkups simulate` on a small cohort (SQLite): the summary's figures, seeding, and send windows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from checkups.protocols.schedule import in_window, zone
from checkups.simulate import Simulation, format_summary
from tests.conftest import PROTOCOLS

PEOPLE = 20
YEARS = 0.25


def _simulate(template: Path, directory: Path, seed: int) -> Simulation:
    path = directory / f"sim-{seed}-{len(list(directory.iterdir()))}.db"
    shutil.copy(template, path)
    sim = Simulation(f"sqlite:///{path}", people_count=PEOPLE, years=YEARS, seed=seed, protocols_dir=PROTOCOLS)
    sim.run()
    sim.close()
    return sim


@pytest.fixture(scope="module")
def runs(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Simulation]:
    directory = tmp_path_factory.mktemp("simulate")
    return {
        "first": _simulate(sqlite_template, directory, 1),
        "again": _simulate(sqlite_template, directory, 1),
        "other": _simulate(sqlite_template, directory, 2),
    }


def test_the_summary_has_every_figure_in_a_sane_range(runs: dict[str, Simulation]) -> None:
    summary = runs["first"].summary()
    assert set(summary) >= {
        "messages",
        "messages_total",
        "inbound",
        "response_rate_by_phase",
        "flags_by_severity",
        "flags_total",
        "flags_per_week",
        "relapses",
        "opted_out",
        "dropped_out",
        "sms_segments",
        "sms_cost",
    }
    assert summary["people"] == PEOPLE
    # Weekly check-ups for up to 13 weeks, four questions each: some hundreds of messages, not thousands.
    assert 200 < summary["messages_total"] < 3000
    assert summary["messages"]["sms"]["question"] > 0
    assert 0 < summary["inbound"] < summary["messages_total"]
    weekly = summary["response_rate_by_phase"]["weekly"]
    assert weekly["closed"] > PEOPLE
    assert 0.5 < weekly["rate"] <= 1.0
    assert summary["flags_total"] == sum(summary["flags_by_severity"].values()) > 0
    assert set(summary["flags_by_severity"]) <= {"low", "medium", "high", "urgent"}
    assert len(summary["flags_per_week"]["weeks"]) == 14
    assert sum(summary["flags_per_week"]["weeks"]) == summary["flags_total"]
    assert summary["sms_segments"] >= sum(summary["messages"]["sms"].values())
    assert summary["sms_cost"] == pytest.approx(summary["sms_segments"] * 0.04)
    assert "Response rate by phase" in format_summary(summary)


def test_relapse_detection_figures_exist(runs: dict[str, Simulation]) -> None:
    relapses = runs["first"].summary()["relapses"]
    assert relapses["simulated"] >= relapses["evaluable"] >= relapses["never_flagged"] >= 0
    assert relapses["evaluable"] > 0
    flagged = relapses["evaluable"] - relapses["never_flagged"]
    if flagged:
        to_flag = relapses["days_to_flag"]
        assert 0 <= to_flag["median"] <= to_flag["p90"] < YEARS * 366
    if relapses["contacted"]:
        assert relapses["days_to_contact"]["median"] >= 0


def test_the_same_seed_gives_the_same_figures_and_another_differs(runs: dict[str, Simulation]) -> None:
    first, again, other = (runs[k].summary() for k in ("first", "again", "other"))
    assert first == again
    assert first != other


def test_check_up_messages_go_out_only_inside_the_send_window(runs: dict[str, Simulation]) -> None:
    sim = runs["first"]
    window = sim.ctx.protocols.current("standard-5y").send_window
    scheduled = [s for s in sim.channel.sent if s.scheduled]
    assert len(scheduled) > PEOPLE
    outside = [s for s in scheduled if not in_window(s.at, zone(s.timezone or "UTC"), window)]
    assert outside == []
    # Answers to what a person wrote (the next question, a closing line) go out at once, whatever the hour.
    assert any(not s.scheduled for s in sim.channel.sent)


def test_the_command_prints_the_summary(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from checkups.cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["simulate", "--people", "4", "--years", "0.05", "--seed", "3", "--database-url", url]
    result = CliRunner().invoke(app, [*args, "--json"], env={"CHECKUPS_PROTOCOLS_DIR": str(PROTOCOLS)})
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["people"] == 4
    assert summary["seed"] == 3
