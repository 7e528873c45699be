"""How fast the scheduler claims due check-ups, and what a tick costs when nothing is due.

    .venv/bin/python bench/claim_throughput.py --enrolments 1000000 --due 50000 [--celery]

Creates its own PostgreSQL database (``checkups_bench``), migrates it with ``checkups.migrate.upgrade``,
fills it with SQL (``INSERT ... SELECT generate_series``), runs the figures below and prints a table.
The database is dropped at the end unless ``--keep``. See bench/README.md for what each figure means.
This is a measurement, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from scratch_db import create_database, drop_database, libpq
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from checkups.clock import SystemClock
from checkups.crypto import Vault, generate_key
from checkups.db import make_engine, session_factory
from checkups.engine.context import Context, ProtocolStore, Tuning
from checkups.engine.dispatch import Claim, claim_due, sweep_expired
from checkups.engine.ticker import Ticker
from checkups.logging import configure

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ROOT / "config" / "protocols"
PROTOCOL = "standard-5y"
DEFAULT_ADMIN_URL = os.environ.get("CHECKUPS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SMALL = 10_000  # the small population of the tick-cost comparison


# --- set-up -----------------------------------------------------------------------------------------------


def vacuum(engine: Engine, *tables: str) -> None:
    """VACUUM ANALYZE: every run starts without dead index entries left by the one before."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")


def seed_reference_rows(ctx: Context, factory: sessionmaker[Session]) -> tuple[int, int]:
    """The organisation and the stored protocol version every enrolment points at."""
    with factory() as session, session.begin():
        now = datetime.now(UTC)
        org_id = session.execute(
            text("INSERT INTO organisations (slug, name, created_at) VALUES ('bench', 'Bench', :now) RETURNING id"),
            {"now": now},
        ).scalar_one()
        version = ctx.protocols.ensure_version(session, ctx.protocols.current(PROTOCOL), now)
        return org_id, version.id


def populate(engine: Engine, vault: Vault, org_id: int, version_id: int, first: int, last: int, due: int) -> None:
    """Enrol people ``first``..``last`` (ids), each with one pending check-up.

    ``due`` of them, spread evenly over the ids, are due in the last hour; the rest fall due over the next
    five years.
    Phone columns hold one constant ciphertext; ``phone_hash`` differs per row. Windows are all day, so the
    window check at claim time keeps every claim (a deferral would be a different measurement).
    """
    params = {
        "first": first,
        "last": last,
        "org": org_id,
        "version": version_id,
        "protocol": PROTOCOL,
        "phone": vault.encrypt("+447700900000"),
        "due_every": (last - first + 1) // due if due else 0,
        "due": due,
    }
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        conn.exec_driver_sql("SELECT setseed(0.42)")
        conn.execute(
            text(
                """
                INSERT INTO participants
                    (id, organisation_id, client_ref, phone_cipher, phone_hash, alias_cipher, timezone, language,
                     created_at)
                SELECT g, :org, 'bench-' || g, :phone, md5(g::text) || md5((g + 1)::text), NULL, 'Europe/London',
                       'en', now()
                FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
                """
            ),
            params,
        )
        conn.execute(
            text(
                """
                INSERT INTO enrolments
                    (id, participant_id, protocol_version_id, protocol_name, anchor_date, status, channel,
                     window_start, window_end, window_days, consent_by, consent_at, consent_method,
                     consent_channels, overdose_risk, missed_in_a_row, last_seq, step_up_until, created_at,
                     updated_at)
                SELECT g, g, :version, :protocol, current_date - 7, 'active', 'sms',
                       time '00:00', time '23:59:59.999999', 'mon,tue,wed,thu,fri,sat,sun', 'bench', now(),
                       'verbal', 'sms,voice', NULL, 0, 1, NULL, now(), now()
                FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
                """
            ),
            params,
        )
        conn.execute(
            text(
                """
                INSERT INTO checkups
                    (id, enrolment_id, seq, phase, due_at, status, action, action_at, action_state,
                     attempts, deferrals, reminders_sent)
                SELECT g, g, 1, 'early', at, 'pending', 'send', at, 'ready', 0, 0, 0
                FROM (
                    SELECT g, CASE
                        WHEN :due_every > 0 AND (g - :first + 1) % :due_every = 0
                                            AND (g - :first + 1) / :due_every <= :due
                            THEN now() - random() * interval '1 hour'
                        ELSE now() + interval '1 hour' + random() * interval '5 years'
                    END AS at
                    FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
                ) AS planned
                """
            ),
            params,
        )
        for table in ("participants", "enrolments", "checkups"):
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})")
    vacuum(engine, "participants", "enrolments", "checkups")


def release_claims(engine: Engine, push_to_future: bool = False) -> None:
    """Undo a run: claimed rows back to ready; with ``push_to_future``, nothing is due afterwards."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE checkups SET action_state = 'ready', claim_token = NULL, lease_until = NULL "
            "WHERE action_state = 'claimed'"
        )
        if push_to_future:
            conn.exec_driver_sql(
                "UPDATE checkups SET action_at = now() + interval '1 day' + random() * interval '1 year' "
                "WHERE action_state = 'ready' AND action IS NOT NULL AND action_at <= now()"
            )
    vacuum(engine, "checkups")


def count_due(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT count(*) FROM checkups WHERE action_state = 'ready' AND action IS NOT NULL AND action_at <= now()"
        ).scalar_one()


# --- measuring --------------------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    claimed: int = 0
    seconds: float = 0.0
    batches: list[float] = field(default_factory=list)  # seconds per batch; empty when not timed one by one

    @property
    def per_second(self) -> float:
        return self.claimed / self.seconds if self.seconds else 0.0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def claim_loop(name: str, factory: sessionmaker[Session], batch: int, enqueue: Callable[[Claim], None]) -> Run:
    """The scheduler's inner loop: claim a batch in one short transaction, then hand each claim out."""
    run = Run(name)
    lease = timedelta(minutes=5)
    started = time.perf_counter()
    while True:
        t = time.perf_counter()
        with factory() as session, session.begin():
            now = datetime.now(UTC)
            claims = claim_due(session, now, batch, now + lease)
        for claim in claims:
            enqueue(claim)
        run.batches.append(time.perf_counter() - t)
        run.claimed += len(claims)
        if len(claims) < batch:
            break
    run.seconds = time.perf_counter() - started
    return run


def ticker_loop(name: str, ctx: Context, factory: sessionmaker[Session]) -> Run:
    """Whole ticks, as the scheduler runs them: lead, sweep, claim, window check, hand out (no-op)."""
    run = Run(name)
    ticker = Ticker(ctx, factory, lambda _claim: None)
    started = time.perf_counter()
    while True:
        report = ticker.tick()
        run.claimed += report.handed_out
        if report.claimed == 0:
            break
    run.seconds = time.perf_counter() - started
    ticker.resign()
    return run


RAW_CLAIM = """
UPDATE checkups SET action_state = 'claimed', claim_token = %(token)s, lease_until = %(lease)s
WHERE id IN (
    SELECT id FROM checkups
    WHERE action_state = 'ready' AND action IS NOT NULL AND action_at <= %(now)s
    ORDER BY action_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


def raw_loop(name: str, url: str, batch: int) -> Run:
    """The floor: the same claim as one hand-written statement on a bare psycopg connection."""
    run = Run(name)
    with psycopg.connect(libpq(url)) as conn:
        started = time.perf_counter()
        while True:
            t = time.perf_counter()
            now = datetime.now(UTC)
            params = {"token": uuid.uuid4().hex, "lease": now + timedelta(minutes=5), "now": now, "limit": batch}
            ids = [row[0] for row in conn.execute(RAW_CLAIM, params, prepare=True)]
            conn.commit()
            run.batches.append(time.perf_counter() - t)
            run.claimed += len(ids)
            if len(ids) < batch:
                break
        run.seconds = time.perf_counter() - started
    return run


@dataclass
class IdleTick:
    population: int
    tick: list[float]
    claim: list[float]
    sweep: list[float]


def idle_tick(population: int, ctx: Context, factory: sessionmaker[Session], runs: int) -> IdleTick:
    """What a tick costs when nothing is due: Ticker.tick(), and claim_due and sweep_expired alone."""
    ticker = Ticker(ctx, factory, lambda _claim: None)
    result = IdleTick(population, [], [], [])
    for _ in range(5):  # warm the pool, the caches and the prepared plans
        ticker.tick()
    for _ in range(runs):
        t = time.perf_counter()
        report = ticker.tick()
        result.tick.append(time.perf_counter() - t)
        if report.claimed or report.swept:
            raise SystemExit(f"bench: expected nothing due, but a tick claimed {report.claimed}, swept {report.swept}")
        with factory() as session, session.begin():
            now = datetime.now(UTC)
            t = time.perf_counter()
            claim_due(session, now, ctx.tuning.batch_size, now + timedelta(minutes=5))
            result.claim.append(time.perf_counter() - t)
            t = time.perf_counter()
            sweep_expired(session, now)
            result.sweep.append(time.perf_counter() - t)
    ticker.resign()
    return result


@contextmanager
def captured_statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def explain(engine: Engine, factory: sessionmaker[Session], call: Callable[[Session, datetime], object]) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement ``call`` sends, exactly as sent; rolled back afterwards."""
    with captured_statements(engine) as statements, factory() as session:
        call(session, datetime.now(UTC))
        session.rollback()
    statement, parameters = next((s, p) for s, p in statements if "checkups" in s)
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {statement}", parameters).scalars().all()
        conn.rollback()
    return "\n".join("    " + line for line in plan)


# --- enqueueing -------------------------------------------------------------------------------------------


def noop(_claim: Claim) -> None:
    return None


@contextmanager
def celery_enqueue(redis_url: str) -> Iterator[Callable[[Claim], None]]:
    """A real hand-out: Celery's send_task to Redis (an LPUSH per claim), as the scheduler does.

    Uses its own Redis database (``--redis-url``) and deletes the queue afterwards, so no worker runs them.
    """
    import redis

    from checkups.settings import Settings
    from checkups.tasks.app import QUEUE, make_celery

    app = make_celery(Settings(redis_url=redis_url))
    client = redis.Redis.from_url(redis_url)
    client.delete(QUEUE)

    def enqueue(claim: Claim) -> None:
        app.send_task("checkups.perform_action", args=(claim.checkup_id, claim.token), queue=QUEUE)

    try:
        yield enqueue
        queued = client.llen(QUEUE)
        print(f"  (celery: {queued:,} messages were in Redis queue {QUEUE!r} at {redis_url}; deleted)")
    finally:
        client.delete(QUEUE, f"_kombu.binding.{QUEUE}", f"_kombu.binding_permanent.{QUEUE}")
        client.close()
        app.close()


# --- report -----------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def print_runs(runs: list[Run], batch: int) -> None:
    header = f"{'figure':<56} {'claimed':>8} {'seconds':>8} {'claims/s':>9}"
    print(f"{header} {'ms/batch mean':>14} {'p50':>6} {'p95':>6}")
    for run in runs:
        mean = run.seconds / max(1, -(-run.claimed // batch))
        full = run.batches[:-1] or run.batches  # the last, short batch is not a full one
        p50, p95 = (ms(percentile(full, 50)), ms(percentile(full, 95))) if full else ("-", "-")
        row = f"{run.name:<56} {run.claimed:>8,} {run.seconds:>8.2f} {run.per_second:>9,.0f}"
        print(f"{row} {ms(mean):>14} {p50:>6} {p95:>6}")
    print(f"  (batches of {batch}; 1c is timed per tick, so only its mean per batch is shown)")


def print_idle(idles: list[IdleTick], runs: int) -> None:
    print(f"tick with nothing due, {runs} runs (ms)")
    print(f"{'enrolments':>12} {'tick p50':>9} {'tick p95':>9} {'claim_due p50':>14} {'sweep_expired p50':>18}")
    for idle in idles:
        print(
            f"{idle.population:>12,} {ms(statistics.median(idle.tick)):>9} {ms(percentile(idle.tick, 95)):>9} "
            f"{ms(statistics.median(idle.claim)):>14} {ms(statistics.median(idle.sweep)):>18}"
        )


# --- main -------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--enrolments", type=int, default=100_000, help="active enrolments (default 100,000)")
    parser.add_argument("--due", type=int, help="check-ups due now (default 50,000, at most --enrolments - 10,000)")
    parser.add_argument("--batch", type=int, default=500, help="claims per batch, as CHECKUPS_BATCH_SIZE (500)")
    parser.add_argument("--runs", type=int, default=50, help="samples of the idle tick (default 50)")
    parser.add_argument("--celery", action="store_true", help="also time a real enqueue: celery send_task to Redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="Redis for --celery (db 15)")
    parser.add_argument("--postgres", default=DEFAULT_ADMIN_URL, help="admin URL (or CHECKUPS_BENCH_POSTGRES_URL)")
    parser.add_argument("--database", default="checkups_bench", help="database to create (dropped first)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if args.enrolments < 1 or args.batch < 1 or args.runs < 1:
        parser.error("--enrolments, --batch and --runs must be positive")
    small = min(SMALL, args.enrolments)
    if args.due is None:
        args.due = min(50_000, args.enrolments - small)
    if not 0 <= args.due <= args.enrolments - small:
        parser.error(f"--due must be between 0 and --enrolments minus {small:,} (the idle population)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure(log_format="console", level="WARNING")
    small = min(SMALL, args.enrolments)
    rest = args.enrolments - small

    try:
        url = create_database(args.postgres, args.database, replace=True)
    except psycopg.OperationalError as error:
        print(f"bench: cannot reach PostgreSQL at {args.postgres}: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    engine = make_engine(url, pool_size=2)
    factory = session_factory(engine)
    vault = Vault(generate_key())
    tuning = Tuning(batch_size=args.batch)
    ctx = Context(vault=vault, protocols=ProtocolStore(PROTOCOLS), channels={}, clock=SystemClock(), tuning=tuning)
    try:
        with engine.connect() as conn:
            server = conn.exec_driver_sql("SHOW server_version").scalar_one()
        print(f"checkups claim benchmark: PostgreSQL {server}, database {args.database}, batch {args.batch}")
        org_id, version_id = seed_reference_rows(ctx, factory)

        # Stage 1: the small population, nothing due. Tick cost there.
        t = time.perf_counter()
        populate(engine, vault, org_id, version_id, 1, small, 0)
        print(f"set-up: {small:,} enrolments (nothing due) in {time.perf_counter() - t:.1f} s")
        idles = [idle_tick(small, ctx, factory, args.runs)]

        # Stage 2: grow to the full population, --due of them due now.
        if rest:
            t = time.perf_counter()
            populate(engine, vault, org_id, version_id, small + 1, args.enrolments, args.due)
            print(f"set-up: +{rest:,} enrolments in {time.perf_counter() - t:.1f} s")
        due = count_due(engine)
        print(f"population: {args.enrolments:,} active enrolments, one pending check-up each; {due:,} due now")
        print()

        runs: list[Run] = []
        if due:
            print(f"EXPLAIN of claim_due's statement, {due:,} due, {args.enrolments:,} enrolments:")
            print(explain(engine, factory, lambda s, now: claim_due(s, now, args.batch, now + timedelta(minutes=5))))
            print()
            vacuum(engine, "checkups")  # EXPLAIN ANALYZE ran the UPDATE (rolled back): clear its dead rows
            runs.append(claim_loop("1.  claim_due + no-op enqueue", factory, args.batch, noop))
            release_claims(engine)
            if args.celery:
                with celery_enqueue(args.redis_url) as enqueue:
                    runs.append(
                        claim_loop("1b. claim_due + celery send_task (Redis LPUSH)", factory, args.batch, enqueue)
                    )
                release_claims(engine)
            runs.append(ticker_loop("1c. Ticker.tick: lead+sweep+claim+window check, no-op", ctx, factory))
            release_claims(engine)
            runs.append(raw_loop("2.  raw UPDATE ... FOR UPDATE SKIP LOCKED (the limit)", url, args.batch))
            release_claims(engine, push_to_future=True)
            print_runs(runs, args.batch)
            print()

        if rest:
            if count_due(engine):
                release_claims(engine, push_to_future=True)
            idles.append(idle_tick(args.enrolments, ctx, factory, args.runs))
        print_idle(idles, args.runs)
        print()
        print(f"EXPLAIN of claim_due's statement, nothing due, {args.enrolments:,} enrolments:")
        print(explain(engine, factory, lambda s, now: claim_due(s, now, args.batch, now + timedelta(minutes=5))))
        print(f"EXPLAIN of sweep_expired's first statement, nothing leased, {args.enrolments:,} enrolments:")
        print(explain(engine, factory, sweep_expired))
    finally:
        engine.dispose()
        if args.keep:
            print(f"\nkept database {args.database}")
        else:
            drop_database(args.postgres, args.database)
    return 0


if __name__ == "__main__":
    sys.exit(main())
