"""How long the program leads' dashboard takes at production scale, and which of its queries are slow.

    .venv/bin/python bench/dashboard_queries.py                       # 10,000 people x 5 years
    .venv/bin/python bench/dashboard_queries.py --participants 2000   # a quick check
    .venv/bin/python bench/dashboard_queries.py --keep                # look around with psql afterwards

Creates its own scratch PostgreSQL database (``bench_dash_<random>``), migrates it with
``checkups.migrate.upgrade`` (the real schema and indexes) and fills it with server-side SQL
(``INSERT ... SELECT generate_series``, no ORM): organisations, participants (dummy ciphertext, distinct
hashes), one enrolment each on a stored protocol version, about 14 check-ups a person-year up to a fixed
'now' (answered or missed mostly; the last one pending, or cancelled for a paused or withdrawn
enrolment), two answers per answered check-up, flags with reasons as ``checkups.engine.flags`` writes them
(at most one unresolved per person), and call attempts on the resolved ones. Then ``VACUUM ANALYZE``.

It times the real code, each in a read transaction of its own as the dashboard page reads it: the
default 12-week ``checkups.engine.metrics.dashboard`` (``Filters.recent``) for every organisation and for
one, and ``enrolments_by_version``; one warm-up, then ``--runs`` runs; median and max in ms. Then, for
every SELECT those calls send (captured with a ``before_cursor_execute`` listener), its own time (median
over the runs) and the top of ``EXPLAIN (ANALYZE, BUFFERS)``, with every ``Seq Scan`` in the plan.

The database is dropped at the end unless ``--keep``. This is a measurement, not a test: nothing here
asserts on time.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from scratch_db import create_database, drop_database
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from checkups.db import make_engine
from checkups.engine import metrics
from checkups.engine.context import ProtocolStore
from checkups.logging import configure

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ROOT / "config" / "protocols"
DEFAULT_ADMIN_URL = os.environ.get(
    "CHECKUPS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)  # a Wednesday: the dashboard's current week is part-way through
CHECKUPS_PER_YEAR = 14  # about 70 a person over five years
FLAGS_PER_YEAR = 0.32  # flags a person-year: about 16,000 for 10,000 people x 5 years
PHONE = b"bench-dummy-ciphertext:+447700900000"  # never decrypted; a reserved UK drama number inside
PLAN_LINES = 15


# --- the scratch database -------------------------------------------------------------------------------


def vacuum(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


# --- filling ----------------------------------------------------------------------------------------------


def store_protocol_versions(engine: Engine, start: datetime) -> list[tuple[int, str]]:
    """(id, protocol name) of the versions enrolments run on: the shipped standard-5y and rmc-quarterly-4y
    stored as the engine stores them (``ProtocolStore.ensure_version``), and an older standard-5y version."""
    store = ProtocolStore(PROTOCOLS)
    with Session(engine) as session, session.begin():
        current = store.ensure_version(session, store.current("standard-5y"), start + timedelta(days=300))
        quarterly = store.ensure_version(session, store.current("rmc-quarterly-4y"), start)
        older = session.execute(
            text(
                "INSERT INTO protocol_versions (name, version, source, created_at) "
                "VALUES ('standard-5y', 'bench-older', :source, :at) RETURNING id"
            ),
            {"source": current.source, "at": start - timedelta(days=30)},
        ).scalar_one()
        return [(older, "standard-5y"), (current.id, "standard-5y"), (quarterly.id, "rmc-quarterly-4y")]


# Flag reasons as the engine writes them: (source, severity, hours to respond, reason, share of flags).
REASONS = [
    ("rule:any_use", "high", 24, "Said they have used since the last check-in", 0.30),
    ("rule:two_missed", "medium", 72, "Missed two check-ins in a row", 0.22),
    ("rule:lost_contact", "high", 72, "Lost contact (three missed check-ins in a row)", 0.08),
    ("rule:urges_rising", "medium", 72, "Urges have risen well above their usual level", 0.10),
    ("rule:urges_high_confidence_low", "high", 24, "Strong urges with low confidence about staying on track", 0.05),
    ("rule:wants_call", "high", 24, "Asked for a call", 0.06),
    ("call-request", "high", 24, "Asked for a call in their own words", 0.05),
    ("message", "medium", 72, "Wrote between check-ins", 0.07),
    ("crisis", "urgent", 2, "Crisis words in a message", 0.03),
    ("provider:30003", "medium", 72, "Cannot reach this person: unreachable handset (Twilio 30003)", 0.02),
    ("rule:use_in_overdose_window", "low", 168, "Used in the first four weeks after discharge", 0.02),
]


def _reason_values() -> str:
    rows, low = [], 0.0
    for source, severity, hours, reason, share in REASONS:
        high = 1.0 if source == REASONS[-1][0] else low + share
        rows.append(f"('{source}', '{severity}', {hours}, '{reason}', {low:.4f}, {high:.4f})")
        low = high
    return "(VALUES " + ", ".join(rows) + ") AS r(source, severity, hours, reason, lo, hi)"


ISO = """to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


def fill(engine: Engine, participants: int, years: float, organisations: int) -> dict[str, float]:
    """The synthetic history, table by table; returns the seconds each step took."""
    start = NOW - timedelta(days=365.25 * years)
    versions = store_protocol_versions(engine, start)
    per_person = max(2, round(CHECKUPS_PER_YEAR * years))
    params: dict[str, Any] = {
        "n": participants,
        "orgs": organisations,
        "now": NOW,
        "start": start,
        "span": NOW - start,
        "k": per_person,
        "flags": max(1, round(FLAGS_PER_YEAR * participants * years)),
        "phone": PHONE,
        "v_older": versions[0][0],
        "v_current": versions[1][0],
        "v_quarterly": versions[2][0],
    }
    steps: dict[str, float] = {}

    def step(name: str, sql: str) -> None:
        t = time.perf_counter()
        for statement in sql.split(";\n"):  # one statement per execute: psycopg binds parameters server-side
            if statement.strip():
                conn.execute(text(statement), params)
        steps[name] = time.perf_counter() - t

    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SELECT setseed(0.42)")
        step(
            "organisations+users",
            """
            INSERT INTO organisations (id, slug, name, created_at)
            SELECT g, 'bench-org-' || g, 'Bench organisation ' || g, :start - interval '60 days'
            FROM generate_series(1, :orgs) AS g;
            INSERT INTO users (id, organisation_id, email, password_hash, role, active, created_at)
            SELECT g, g, 'volunteer-' || g || '@bench.invalid', 'bench-not-a-hash', 'volunteer', true,
                   :start - interval '60 days'
            FROM generate_series(1, :orgs) AS g;
            """,
        )
        # Enrolments start over the first fifth of the period, so each person has about the same number
        # of check-ups up to now (spaced a little closer for the later starters).
        step(
            "participants",
            """
            INSERT INTO participants
                (id, organisation_id, client_ref, phone_cipher, phone_hash, alias_cipher, timezone, language,
                 created_at)
            SELECT g, 1 + (g - 1) % :orgs, 'bench-' || g, :phone,
                   encode(sha256(convert_to('bench-phone-' || g, 'UTF8')), 'hex'), NULL, 'Europe/London', 'en',
                   :start + random() * (:span / 5)
            FROM generate_series(1, :n) AS g
            """,
        )
        step(
            "enrolments",
            """
            INSERT INTO enrolments
                (id, participant_id, protocol_version_id, protocol_name, anchor_date, status, channel,
                 window_start, window_end, window_days, consent_by, consent_at, consent_method,
                 consent_channels, overdose_risk, missed_in_a_row, last_seq, step_up_until, created_at,
                 updated_at)
            SELECT p.id, p.id, v.id, v.name, (p.created_at AT TIME ZONE 'UTC')::date,
                   CASE WHEN (p.id * 37) % 100 < 93 THEN 'active'
                        WHEN (p.id * 37) % 100 < 97 THEN 'paused' ELSE 'withdrawn' END,
                   'sms', time '10:00', time '19:00', 'mon,tue,wed,thu,fri,sat', 'bench', p.created_at,
                   'verbal', 'sms,voice', NULL, 0, :k, NULL, p.created_at, p.created_at
            FROM (
                SELECT id, created_at, CASE WHEN (id * 53) % 100 < 25 THEN :v_older
                                            WHEN (id * 53) % 100 < 85 THEN :v_current
                                            ELSE :v_quarterly END AS version_id
                FROM participants
            ) AS p
            JOIN protocol_versions AS v ON v.id = p.version_id
            """,
        )
        # Check-up k of K is due k / (K - 0.5) of the way from the start to now: all but the last are due
        # at least half an interval before now (closed), the last after now (pending).
        step(
            "checkups",
            """
            INSERT INTO checkups
                (enrolment_id, seq, phase, due_at, status, action, action_at, action_state, attempts, deferrals,
                 reminders_sent, channel, sent_at, closes_at, closed_at)
            SELECT enrolment_id, k,
                   CASE WHEN protocol_name = 'rmc-quarterly-4y' THEN 'quarterly'
                        WHEN due_at < created_at + interval '8 weeks' THEN 'weekly'
                        WHEN due_at < created_at + interval '12 months' THEN 'fortnightly'
                        WHEN due_at < created_at + interval '24 months' THEN 'monthly'
                        ELSE 'quarterly' END,
                   due_at, status,
                   CASE WHEN status = 'pending' THEN 'send' END,
                   CASE WHEN status = 'pending' THEN due_at END,
                   'ready',
                   CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END,
                   0,
                   CASE WHEN status = 'missed' THEN 1 ELSE 0 END,
                   CASE WHEN sent_at IS NULL THEN NULL WHEN r2 < 0.15 THEN 'voice' ELSE 'sms' END,
                   sent_at,
                   sent_at + interval '4 days',
                   CASE status
                       WHEN 'answered' THEN sent_at + r2 * r2 * interval '2 days'
                       WHEN 'missed' THEN sent_at + interval '4 days'
                       WHEN 'failed' THEN sent_at + interval '1 minute'
                       WHEN 'skipped' THEN due_at + interval '1 day'
                       WHEN 'cancelled' THEN :now - r2 * interval '20 days'
                   END
            FROM (
                SELECT *, CASE WHEN status IN ('answered', 'missed', 'failed')
                               THEN due_at + r2 * interval '8 hours' END AS sent_at
                FROM (
                    SELECT e.id AS enrolment_id, e.protocol_name, e.created_at, k,
                           e.created_at + (:now - e.created_at) * (k / (CAST(:k AS float8) - 0.5)) AS due_at,
                           CASE WHEN k = :k THEN CASE WHEN e.status = 'active' THEN 'pending' ELSE 'cancelled' END
                                WHEN r < 0.70 THEN 'answered'
                                WHEN r < 0.95 THEN 'missed'
                                WHEN r < 0.97 THEN 'failed'
                                ELSE 'skipped' END AS status,
                           r2
                    FROM (
                        SELECT e.*, k, random() AS r, random() AS r2
                        FROM enrolments AS e CROSS JOIN generate_series(1, :k) AS k
                    ) AS e
                ) AS planned
            ) AS sent
            """,
        )
        step(
            "answers",
            """
            INSERT INTO answers
                (checkup_id, participant_id, question_id, value_int, value_text, parsed, inbound_id, answered_at)
            SELECT c.id, e.participant_id, q.question_id,
                   CASE WHEN q.question_id = 'urges' THEN floor(random() * 11)::int END,
                   CASE WHEN q.question_id = 'any_use' THEN CASE WHEN random() < 0.12 THEN 'yes' ELSE 'no' END END,
                   true, NULL, c.closed_at
            FROM checkups AS c
            JOIN enrolments AS e ON e.id = c.enrolment_id
            CROSS JOIN (VALUES ('any_use'), ('urges')) AS q(question_id)
            WHERE c.status = 'answered'
            """,
        )
        # Each flag: a person at random, a time within their enrolment, reasons as raise_flag writes them
        # (a fifth carry a second reason). A person's latest flag stays open (or claimed) when it is under
        # a week old; every other one is resolved, most with call attempts (the first one late for some).
        step(
            "flags (planned)",
            f"""
            CREATE TEMP TABLE bench_flags ON COMMIT DROP AS
            SELECT *, created_at + hours * interval '1 hour' AS due_by,
                   row_number() OVER (PARTITION BY participant_id ORDER BY created_at DESC) AS latest
            FROM (
                SELECT f.id, f.participant_id, p.organisation_id,
                       p.created_at + f.r_when * (:now - p.created_at) AS created_at,
                       f.r_state, f.r_delay, f.r_outcome, f.two,
                       r.source, r.severity, r.hours, r.reason,
                       CASE WHEN f.r_outcome < 0.05 THEN 0 ELSE 1 + f.id % 3 END AS attempts
                FROM (
                    SELECT g AS id, 1 + floor(random() * :n)::bigint AS participant_id, random() AS r_source,
                           random() AS r_when, random() AS r_state, random() AS r_delay, random() AS r_outcome,
                           random() < 0.2 AS two
                    FROM generate_series(1, :flags) AS g
                ) AS f
                JOIN participants AS p ON p.id = f.participant_id
                JOIN {_reason_values()} ON f.r_source >= r.lo AND f.r_source < r.hi
            ) AS planned;
            ALTER TABLE bench_flags ADD COLUMN state text, ADD COLUMN first_at timestamptz,
                ADD COLUMN resolved_at timestamptz, ADD COLUMN outcome text;
            UPDATE bench_flags SET state = CASE
                WHEN latest = 1 AND created_at > :now - interval '7 days'
                    THEN CASE WHEN r_state < 0.3 THEN 'claimed' ELSE 'open' END
                ELSE 'resolved' END;
            UPDATE bench_flags SET
                first_at = CASE WHEN attempts > 0
                    THEN least(:now, created_at + hours * (0.05 + 1.4 * r_delay * r_delay) * interval '1 hour') END,
                outcome = (ARRAY['re_engaged_treatment', 'referred_recovery_support', 'no_action_needed',
                                 'not_reached', 'wrong_number', 'declined_contact'])
                          [1 + floor(r_outcome * 6)::int]
            WHERE state = 'resolved';
            UPDATE bench_flags SET resolved_at = least(
                :now, coalesce(first_at, created_at + hours * r_delay * interval '1 hour')
                      + greatest(attempts - 1, 0) * interval '6 hours' + interval '10 minutes')
            WHERE state = 'resolved';
            """,
        )
        step(
            "flags",
            f"""
            INSERT INTO flags
                (id, participant_id, organisation_id, severity, reasons, due_by, state, claimed_by, claimed_at,
                 resolved_at, resolved_by, outcome, notes, escalated_at, last_activity_at, created_at, updated_at)
            SELECT id, participant_id, organisation_id, severity,
                   CASE WHEN two THEN json_build_array(
                            json_build_object('reason', reason, 'severity', severity,
                                              'at', {ISO.format("created_at")}, 'source', source),
                            json_build_object('reason', 'Missed two check-ins in a row', 'severity', 'medium',
                                              'at', {ISO.format("least(:now, created_at + interval '1 hour')")},
                                              'source', 'rule:two_missed'))
                        ELSE json_build_array(
                            json_build_object('reason', reason, 'severity', severity,
                                              'at', {ISO.format("created_at")}, 'source', source)) END,
                   due_by, state,
                   CASE WHEN state <> 'open' THEN organisation_id END,
                   CASE WHEN state <> 'open' THEN least(:now, created_at + interval '30 minutes') END,
                   resolved_at,
                   CASE WHEN state = 'resolved' THEN organisation_id END,
                   outcome, NULL,
                   CASE WHEN coalesce(first_at, resolved_at, :now) > due_by THEN due_by + interval '1 minute' END,
                   CASE WHEN state <> 'open' THEN coalesce(resolved_at, least(:now, created_at + interval '30 minutes'))
                        END,
                   created_at, coalesce(resolved_at, created_at)
            FROM bench_flags
            """,
        )
        step(
            "flag_attempts",
            """
            INSERT INTO flag_attempts (flag_id, user_id, at, result, notes)
            SELECT f.id, f.organisation_id, least(:now, f.first_at + (j - 1) * interval '6 hours'),
                   CASE WHEN j < f.attempts THEN CASE WHEN j % 2 = 0 THEN 'voicemail' ELSE 'no_answer' END
                        WHEN f.outcome = 'wrong_number' THEN 'wrong_number'
                        WHEN f.outcome = 'not_reached' THEN 'no_answer'
                        ELSE 'reached' END,
                   NULL
            FROM bench_flags AS f CROSS JOIN LATERAL generate_series(1, f.attempts) AS j
            WHERE f.state = 'resolved' AND f.attempts > 0
            """,
        )
        for table in ("organisations", "users", "participants", "enrolments", "flags"):
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    t = time.perf_counter()
    vacuum(engine)
    steps["VACUUM ANALYZE"] = time.perf_counter() - t
    return steps


TABLES = ("organisations", "participants", "enrolments", "checkups", "answers", "flags", "flag_attempts")


def row_counts(engine: Engine) -> list[tuple[str, int, int]]:
    """(table, rows, MB with indexes)."""
    with engine.connect() as conn:
        return [
            (
                table,
                conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one(),
                conn.exec_driver_sql(f"SELECT pg_total_relation_size('{table}')").scalar_one() // 2**20,
            )
            for table in TABLES
        ]


# --- measuring ------------------------------------------------------------------------------------------


@dataclass
class Statement:
    label: str  # the metrics function that sent it
    sql: str
    parameters: Any
    seconds: list[float] = field(default_factory=list)


class Recorder:
    """Every statement sent while recording, with the time the driver took to run it and fetch its rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.runs: list[list[Statement]] = []
        self._recording = False

    def __enter__(self) -> Recorder:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    @contextmanager
    def run(self) -> Iterator[None]:
        self.runs.append([])
        self._recording = True
        try:
            yield
        finally:
            self._recording = False

    def _before(self, conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if self._recording:
            self.runs[-1].append(Statement(_caller(), statement, parameters))
            conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, _cursor: Any, _statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
        if self._recording and "bench_started" in conn.info:
            self.runs[-1][-1].seconds.append(time.perf_counter() - conn.info.pop("bench_started"))


def _caller() -> str:
    """The innermost function of checkups/engine/metrics.py on the stack: which query this is."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename == metrics.__file__:
            return frame.f_code.co_name
        frame = frame.f_back
    return "?"


@dataclass
class Timing:
    name: str
    seconds: list[float]
    statements: list[Statement]  # one entry per statement of a run, the times of every timed run

    @property
    def selects(self) -> list[Statement]:
        return [s for s in self.statements if s.sql.lstrip().upper().startswith("SELECT")]


def time_calls(engine: Engine, name: str, call: Callable[[Session], object], runs: int) -> Timing:
    """One warm-up, then ``runs`` runs, each in a read transaction of its own (as the page's ``reading``)."""
    with Recorder(engine) as recorder:
        seconds = []
        for i in range(runs + 1):
            with Session(engine) as session, session.begin():
                t = time.perf_counter()
                if i == 0:
                    call(session)
                    continue
                with recorder.run():
                    call(session)
                seconds.append(time.perf_counter() - t)
    statements = recorder.runs[0]
    for later in recorder.runs[1:]:
        for mine, theirs in zip(statements, later, strict=True):
            mine.seconds.extend(theirs.seconds)
    return Timing(name, seconds, statements)


def explain(engine: Engine, statement: Statement) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement exactly as sent, with JIT off as ``dashboard`` sets it."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SET LOCAL jit = off")
        plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement.sql}", statement.parameters)
        lines = list(plan.scalars())
        conn.rollback()
    return lines


SEQ_SCAN = re.compile(r"Seq Scan on (\w+)(?: (\w+))?.*actual time=[\d.]+\.\.([\d.]+) rows=(\d+) loops=(\d+)")


def seq_scans(plan: list[str]) -> list[str]:
    """Each Seq Scan in the plan: table, rows kept x loops, rows filtered out, and its filter."""
    found = []
    for i, line in enumerate(plan):
        match = SEQ_SCAN.search(line)
        if not match:
            continue
        table, alias, _ms, rows, loops = match.groups()
        depth = len(line) - len(line.lstrip())
        details = []
        for below in plan[i + 1 :]:
            if len(below) - len(below.lstrip()) <= depth or "->" in below:
                break
            if below.strip().startswith(("Filter:", "Rows Removed by Filter:")):
                details.append(below.strip())
        name = table if not alias or alias == table else f"{table} {alias}"
        found.append(f"{name}: {rows} rows x {loops} loops; " + ("; ".join(details) or "no filter (whole table)"))
    return found


# --- report ---------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def one_line(sql: str, width: int = 110) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def print_plans(engine: Engine, timing: Timing, ranking: list[tuple[float, str, str]]) -> None:
    print(f"--- statements of {timing.name} ---")
    for n, statement in enumerate(timing.selects, 1):
        median = statistics.median(statement.seconds)
        ranking.append((median, f"{timing.name} / {statement.label}", one_line(statement.sql, 80)))
        print(
            f"[{n}] {statement.label}: median {ms(median)} ms, max {ms(max(statement.seconds))} ms "
            f"over {len(statement.seconds)} runs"
        )
        print(f"    {one_line(statement.sql)}")
        plan = explain(engine, statement)
        for line in plan[:PLAN_LINES]:
            print(f"    | {line}")
        if len(plan) > PLAN_LINES:
            print(f"    | ... {len(plan) - PLAN_LINES} more lines; {plan[-1].strip()}")
        for scan in seq_scans(plan):
            print(f"    seq scan: {scan}")
        print()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--participants", type=int, default=10_000, help="people, one enrolment each (10,000)")
    parser.add_argument("--years", type=float, default=5.0, help="years of history up to 'now' (5)")
    parser.add_argument("--organisations", type=int, default=10, help="organisations the people belong to (10)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each call, after one warm-up (5)")
    parser.add_argument(
        "--url", default=DEFAULT_ADMIN_URL, help="admin URL (or CHECKUPS_BENCH_POSTGRES_URL); a database is created"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards and print its URL")
    args = parser.parse_args(argv)
    if args.participants < 1 or args.organisations < 1 or args.runs < 1:
        parser.error("--participants, --organisations and --runs must be positive")
    if not 0.2 <= args.years <= 10:
        parser.error("--years must be between 0.2 and 10")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure(log_format="console", level="WARNING")
    name = f"bench_dash_{secrets.token_hex(4)}"
    try:
        url = create_database(args.url, name)
    except psycopg.OperationalError as error:
        print(f"bench: cannot reach PostgreSQL at {args.url}: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    engine = make_engine(url, pool_size=2)
    try:
        with engine.connect() as conn:
            server = conn.exec_driver_sql("SHOW server_version").scalar_one()
        print(
            f"checkups dashboard benchmark: PostgreSQL {server}, database {name}, {args.participants:,} people "
            f"x {args.years:g} years, {args.organisations} organisations, now = {NOW.isoformat()}"
        )
        t = time.perf_counter()
        steps = fill(engine, args.participants, args.years, args.organisations)
        print(f"fill: {time.perf_counter() - t:.1f} s (" + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) + ")")
        print(f"{'table':<16} {'rows':>12} {'MB':>6}")
        for table, rows, size in row_counts(engine):
            print(f"{table:<16} {rows:>12,} {size:>6,}")
        print()

        today = NOW.date()
        everyone = metrics.Filters.recent(today)
        one_org = metrics.Filters.recent(today, organisation_id=1)
        timings = [
            time_calls(
                engine, "dashboard, all organisations", lambda s: metrics.dashboard(s, everyone, NOW), args.runs
            ),
            time_calls(engine, "dashboard, one organisation", lambda s: metrics.dashboard(s, one_org, NOW), args.runs),
            time_calls(engine, "enrolments_by_version, all", metrics.enrolments_by_version, args.runs),
            time_calls(
                engine, "enrolments_by_version, one org", lambda s: metrics.enrolments_by_version(s, 1), args.runs
            ),
        ]
        with Session(engine) as session, session.begin():
            board = metrics.dashboard(session, everyone, NOW)
        total = board.total
        print(
            f"dashboard {everyone.start} to {everyone.end} ({len(board.weeks)} weeks), all organisations: "
            f"{total.sent:,} check-ups sent ({total.answered:,} answered, {total.missed:,} missed), "
            f"{total.active_enrolments:,} active + {total.paused_enrolments:,} paused enrolments, "
            f"{total.flags:,} flags raised ({total.contacted:,} contacted, {total.deadlines_missed:,} late), "
            f"{total.resolved:,} resolved"
        )
        print(f"{'call':<34} {'median ms':>10} {'max ms':>8} {'SQL ms':>7} {'statements':>11}")
        for timing in timings:
            sql = statistics.median(sum(s.seconds[i] for s in timing.statements) for i in range(len(timing.seconds)))
            print(
                f"{timing.name:<34} {ms(statistics.median(timing.seconds)):>10} {ms(max(timing.seconds)):>8} "
                f"{ms(sql):>7} {len(timing.statements):>11}"
            )
        print(f"  ({args.runs} runs after a warm-up; SQL ms = time in the driver, the rest is Python folding rows)")
        print()

        ranking: list[tuple[float, str, str]] = []
        for timing in timings:
            print_plans(engine, timing, ranking)
        print("slowest statements (median ms):")
        for seconds, where, sql in sorted(ranking, reverse=True)[:5]:
            print(f"  {ms(seconds):>8}  {where}: {sql}")
    finally:
        engine.dispose()
        if args.keep:
            print(f"\nkept database {name}: {url}")
        else:
            drop_database(args.url, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
