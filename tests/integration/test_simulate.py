"""`checkups simulate` on a small cohort: the summary's figures and weekly series, seeding (the same seed gives
the same figures and the same report), shards (splitting the cohort over databases and worker processes, or
running it on PostgreSQL, changes no figure), send windows, and the command with its report."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from checkups.channels.base import Outgoing
from checkups.simulate import START, Behaviour, Plan, Shard, Simulation, SimulationError, _Workers, format_summary
from checkups.simulate_report import render
from tests.conftest import PROTOCOLS

from .conftest import sqlite_plan

PEOPLE = 20
YEARS = 0.25
# Seeding is checked on a smaller cohort (three runs of it): enough people and weeks for every kind of
# event, small enough to keep the module quick.
SMALL_PEOPLE = 8
SMALL_YEARS = 0.15
# One call a day: on some days more flags wait than the volunteers can take, so the order of the queue the
# shards share decides who is called first (the split test below depends on it).
CAPACITY = 1


def _simulate(
    template: Path,
    directory: Path,
    seed: int,
    people: int = PEOPLE,
    years: float = YEARS,
    shards: int = 1,
    workers: int | None = None,
) -> Simulation:
    urls = []
    for _ in range(shards):
        path = directory / f"sim-{seed}-{len(list(directory.iterdir()))}.db"
        shutil.copy(template, path)
        urls.append(f"sqlite:///{path}")
    sim = Simulation(
        urls,
        people_count=people,
        years=years,
        seed=seed,
        protocols_dir=PROTOCOLS,
        workers=workers or shards,
        volunteer_capacity=CAPACITY,
    )
    sim.run()
    return sim


@pytest.fixture(scope="module")
def runs(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Simulation]:
    directory = tmp_path_factory.mktemp("simulate")
    return {
        "first": _simulate(sqlite_template, directory, 1),
        "small": _simulate(sqlite_template, directory, 1, SMALL_PEOPLE, SMALL_YEARS),
        "again": _simulate(sqlite_template, directory, 1, SMALL_PEOPLE, SMALL_YEARS),
        # The same cohort split over three databases, run by two worker processes.
        "split": _simulate(sqlite_template, directory, 1, shards=3, workers=2),
        "other": _simulate(sqlite_template, directory, 2, SMALL_PEOPLE, SMALL_YEARS),
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
        "volunteer_hours_per_week",
    }
    assert summary["people"] == PEOPLE
    # Weekly check-ups for up to 13 weeks, four questions each: some hundreds of messages, not thousands.
    assert 200 < summary["messages_total"] < 3000
    assert summary["messages"]["sms"]["question"] > 0
    assert 0 < summary["inbound"] < summary["messages_total"]
    # Keypad people (enrolled for calls) and people who pick up the fallback call key in their answers
    # through the engine's call steps: three to four answers a call, fewer when they hang up.
    assert summary["messages"]["voice"]["call"] >= summary["calls_answered"] > 0
    assert summary["calls_answered"] <= summary["keypad_answers"] <= 4 * summary["calls_answered"]
    weekly = summary["response_rate_by_phase"]["weekly"]
    assert weekly["closed"] > PEOPLE
    assert 0.5 < weekly["rate"] <= 1.0
    assert summary["flags_total"] == sum(summary["flags_by_severity"].values()) > 0
    assert set(summary["flags_by_severity"]) <= {"low", "medium", "high", "urgent"}
    assert len(summary["flags_per_week"]["weeks"]) == 14
    assert sum(summary["flags_per_week"]["weeks"]) == summary["flags_total"]
    assert summary["sms_segments"] >= sum(summary["messages"]["sms"].values())
    assert summary["sms_cost"] == pytest.approx(summary["sms_segments"] * 0.04)
    hours = summary["volunteer_hours_per_week"]
    assert hours["minutes_per_flag"] == 30.0
    assert hours["mean"] == pytest.approx(summary["flags_per_week"]["mean"] * 30 / 60, abs=0.01)
    assert hours["max"] == summary["flags_per_week"]["max"] * 30 / 60
    text = format_summary(summary)
    assert "Response rate by phase" in text
    assert f"automated calls picked up: {summary['calls_answered']}" in text
    assert "Volunteer hours needed per week: mean" in text


def test_the_weekly_series_add_up_to_the_summary(runs: dict[str, Simulation]) -> None:
    sim = runs["first"]
    summary, series = sim.summary(), sim.series()
    weeks = series["weeks"]
    assert weeks == len(summary["flags_per_week"]["weeks"]) == 14
    for values in [*series["messages_by_channel"].values(), *series["flags_by_severity"].values()]:
        assert len(values) == weeks
    assert sum(sum(v) for v in series["messages_by_channel"].values()) == summary["messages_total"]
    by_channel = {c: sum(v) for c, v in series["messages_by_channel"].items()}
    assert by_channel == {c: sum(kinds.values()) for c, kinds in summary["messages"].items()}
    closed = sum(row["closed"] for row in summary["response_rate_by_phase"].values())
    answered = sum(row["answered"] for row in summary["response_rate_by_phase"].values())
    assert (sum(series["checkups_closed"]), sum(series["checkups_answered"])) == (closed, answered)
    by_severity = {s: sum(v) for s, v in series["flags_by_severity"].items()}
    assert by_severity == summary["flags_by_severity"]
    assert series["volunteer_hours"] == [n * 0.5 for n in summary["flags_per_week"]["weeks"]]
    relapses = summary["relapses"]
    assert len(series["days_to_flag"]) == relapses["evaluable"] - relapses["never_flagged"]
    assert len(series["days_to_contact"]) == relapses["contacted"]


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
    first, again, other = (runs[k].summary() for k in ("small", "again", "other"))
    assert first["messages_total"] > 100
    assert first == again
    assert first != other


def test_the_same_seed_gives_the_same_report_byte_for_byte(runs: dict[str, Simulation]) -> None:
    first, again, other = (render(runs[k].summary(), runs[k].series()) for k in ("small", "again", "other"))
    assert runs["small"].series() == runs["again"].series()
    assert first == again
    assert first != other
    assert first.count("<svg") == 6


def test_splitting_the_cohort_over_shards_and_processes_changes_no_figure(runs: dict[str, Simulation]) -> None:
    """People never meet in the engine and the volunteers work one queue across the shards, so three
    databases in two worker processes give what one database in this process gives, to the last figure."""
    whole, split = runs["first"], runs["split"]
    assert split.summary()["flags_total"] > 0
    assert split.summary() == whole.summary()
    assert split.series() == whole.series()


def test_postgresql_gives_the_same_figures_as_sqlite(runs: dict[str, Simulation], postgres_url: str) -> None:
    from .conftest import truncate_all

    sim = Simulation(
        [truncate_all(postgres_url)],
        people_count=PEOPLE,
        years=YEARS,
        seed=1,
        protocols_dir=PROTOCOLS,
        volunteer_capacity=CAPACITY,
    )
    assert sim.run() == runs["first"].summary()
    assert sim.series() == runs["first"].series()


def test_a_failing_worker_stops_the_run_with_its_error(sqlite_template: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.db"
    shutil.copy(sqlite_template, good)
    empty = tmp_path / "not-migrated.db"  # no tables: the worker's first statement fails
    sim = Simulation(
        [f"sqlite:///{good}", f"sqlite:///{empty}"], people_count=4, years=0.05, protocols_dir=PROTOCOLS, workers=2
    )
    with pytest.raises(SimulationError, match="no such table"):
        sim.run()


def test_a_worker_killed_mid_run_stops_the_run_with_a_clear_error(sqlite_template: Path, tmp_path: Path) -> None:
    urls = []
    for n in range(2):
        shutil.copy(sqlite_template, tmp_path / f"{n}.db")
        urls.append(f"sqlite:///{tmp_path / f'{n}.db'}")
    sim = Simulation(urls, people_count=4, years=0.05, protocols_dir=PROTOCOLS, workers=2)
    runner = sim._runner()
    try:
        assert isinstance(runner, _Workers)
        runner.processes[1].kill()
        runner.processes[1].join()
        with pytest.raises(SimulationError, match="stopped unexpectedly"):
            runner.step({}, START + timedelta(days=1))
    finally:
        runner.close()
    assert not any(process.is_alive() for process in runner.processes)


def test_a_check_up_message_outside_the_window_is_counted(sqlite_template: Path, tmp_path: Path) -> None:
    """The summary's outside-window figure is a real check, not a constant: a check-up message at 03:00 local
    counts, an answer to what the person wrote at that hour does not."""
    path = tmp_path / "shard.db"
    shutil.copy(sqlite_template, path)
    shard = Shard(0, f"sqlite:///{path}", Plan(1, 0.1, "standard-5y", 1, Behaviour(), PROTOCOLS), [0])
    try:
        shard.setup()
        shard.clock.set(START.replace(hour=3))  # 03:00 in London
        for key in ("checkup:1:send", "checkup:1:q:urges"):
            shard.channel.send(
                Outgoing(key, 1, "+447700900000", "How are you?", "question", "sms", None, "Europe/London")
            )
    finally:
        shard.close()
    assert (shard.facts.scheduled, shard.facts.outside_window) == (1, 1)
    assert shard.facts.messages[("sms", "question")] == 2


def test_check_up_messages_go_out_only_inside_the_send_window(runs: dict[str, Simulation]) -> None:
    sim = runs["first"]
    assert sim.facts.scheduled > PEOPLE
    assert sim.summary()["outside_window"] == sim.facts.outside_window == 0
    # Answers to what a person wrote (the next question, a closing line) go out at once, whatever the hour.
    assert sim.summary()["messages_total"] > sim.facts.scheduled


def test_the_command_prints_the_summary(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from checkups.cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    report = tmp_path / "out" / "report.html"
    args = ["simulate", "--people", "4", "--years", "0.05", "--seed", "3", "--database-url", url]
    args += ["--report", str(report), "--minutes-per-flag", "45"]
    result = CliRunner().invoke(app, [*args, "--json"], env={"CHECKUPS_PROTOCOLS_DIR": str(PROTOCOLS)})
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["people"] == 4
    assert summary["seed"] == 3
    assert summary["volunteer_hours_per_week"]["minutes_per_flag"] == 45
    assert summary["report"] == str(report)
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "<svg" in page
    assert "<script" not in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page


def test_the_command_prints_where_the_report_is(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from checkups.cli import app

    report = tmp_path / "report.html"
    args = ["simulate", "--people", "2", "--years", "0.02", "--database-url", f"sqlite:///{tmp_path / 'c.db'}"]
    result = CliRunner().invoke(app, [*args, "--report", str(report)], env={"CHECKUPS_PROTOCOLS_DIR": str(PROTOCOLS)})
    assert result.exit_code == 0, result.output
    assert "Volunteer hours needed per week" in result.output
    assert result.output.rstrip().endswith(f"Report: {report}")
    assert report.exists()


def test_the_next_action_query_reads_only_the_partial_indexes_on_sqlite(sqlite_template: Path, tmp_path: Path) -> None:
    """Asked after every event: it must not read the whole checkups or flags table (SQLite uses a partial index
    only when the query repeats its condition with literal values; the lease sweep's own plan is checked in
    test_dispatch)."""
    from checkups.simulate import _NEXT_EVENT

    plan = sqlite_plan(sqlite_template, tmp_path, lambda session: session.execute(_NEXT_EVENT).all(), "lease_until")
    assert "USING INDEX ix_checkups_due" in plan, plan
    assert "USING INDEX ix_checkups_leased" in plan, plan
    assert "USING INDEX ix_flags_deadline" in plan, plan  # not every open flag: volunteers can fall behind
    assert "SCAN checkups" not in plan, plan


def test_the_command_runs_the_cohort_in_worker_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --database-url: one fresh SQLite file per worker under var/simulate-<seed>/, made again on the
    next run (nothing of the last run left in them)."""
    import json

    from typer.testing import CliRunner

    from checkups.cli import app

    monkeypatch.chdir(tmp_path)
    args = ["simulate", "--people", "6", "--years", "0.05", "--seed", "4", "--workers", "2", "--json"]
    env = {"CHECKUPS_PROTOCOLS_DIR": str(PROTOCOLS)}
    first = CliRunner().invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in (tmp_path / "var" / "simulate-4").glob("*.db")) == ["shard-0.db", "shard-1.db"]
    again = CliRunner().invoke(app, [*args, "--workers", "1"], env=env)
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in (tmp_path / "var" / "simulate-4").glob("*.db")) == ["shard-0.db"]
    assert json.loads(again.output) == json.loads(first.output)
    assert json.loads(first.output)["people"] == 6


def test_workers_with_a_database_url_is_refused(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from checkups.cli import app

    args = ["simulate", "--people", "4", "--workers", "2", "--database-url", f"sqlite:///{tmp_path / 'one.db'}"]
    result = CliRunner().invoke(app, args, env={"CHECKUPS_PROTOCOLS_DIR": str(PROTOCOLS)})
    assert result.exit_code != 0
    assert "--workers" in result.output
    assert "--database-url" in result.output
    assert not (tmp_path / "one.db").exists()


def test_a_database_in_use_is_refused_untouched(sqlite_template: Path, tmp_path: Path) -> None:
    """A simulation enrols its people: in a database in use they would be real enrolments to `checkups run`,
    which would send them check-ups. So a database holding any participant, organisation or user is refused,
    before it is migrated, and the run stops before its first enrolment."""
    from typer.testing import CliRunner

    from checkups.cli import app
    from checkups.db import make_engine, session_factory
    from checkups.engine.enrolment import ensure_organisation

    path = tmp_path / "live.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with session_factory(engine)() as session, session.begin():
        ensure_organisation(session, "live", "A real service", START)
    engine.dispose()
    before = path.read_bytes()

    args = ["simulate", "--people", "2", "--years", "0.02", "--database-url", f"sqlite:///{path}"]
    result = CliRunner().invoke(app, args, env={"CHECKUPS_PROTOCOLS_DIR": str(PROTOCOLS)})
    assert result.exit_code != 0
    assert "already holds organisations" in result.output
    assert "empty database" in result.output
    assert path.read_bytes() == before

    # Through the library too: the shard refuses before enrolling anyone.
    sim = Simulation([f"sqlite:///{path}"], people_count=2, years=0.02, protocols_dir=PROTOCOLS)
    with pytest.raises(SimulationError, match="already holds"):
        sim.run()


@pytest.mark.parametrize("protocol", ["rmc-quarterly-4y", "tcc-12m"])
def test_every_shipped_protocol_runs_with_replies_the_engine_reads(
    sqlite_template: Path, tmp_path: Path, protocol: str
) -> None:
    """A lead simulates their own protocol: people answer its questions on its scales (rmc asks for days of
    use out of 30 and support from 1 to 6) and by its channels (tcc-12m calls first, then texts), so no
    clarification is ever needed and replies come by text and by keypad."""
    path = tmp_path / "one.db"
    shutil.copy(sqlite_template, path)
    sim = Simulation(
        [f"sqlite:///{path}"], people_count=12, years=0.5, seed=3, protocol=protocol, protocols_dir=PROTOCOLS
    )
    summary = sim.run()
    sms = summary["messages"].get("sms", {})
    assert "clarify" not in sms
    assert summary["inbound"] > 0
    assert summary["keypad_answers"] > 0
    assert sum(row["answered"] for row in summary["response_rate_by_phase"].values()) > 0
    assert summary["outside_window"] == 0
