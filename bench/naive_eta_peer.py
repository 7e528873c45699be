"""The naive design as a peer: one Celery task with an ETA per check-up, waiting in Redis until it is due.

    .venv/bin/python bench/naive_eta_peer.py                     # 50,000 scheduled, 20 for the duplicate run
    .venv/bin/python bench/naive_eta_peer.py --scheduled 200000 --postgres postgresql://postgres@127.0.0.1/postgres

This is what Twilio's appointment-reminder sample does (``apply_async(eta=...)`` per reminder), measured
beside our design (the database holds one row per enrolment, the scheduler hands a task to Celery only
when it is due) in the same run, on the same broker, worker and Celery settings:

1. Memory. ``--scheduled`` N check-ups scheduled as ETA tasks: Redis ``used_memory`` before and after, and
   ``MEMORY USAGE`` of the queue; then a real worker starts and, because an ETA task is held by the worker
   until it is due, takes every one of them into its own memory (and Redis' ``unacked`` hash). Ours: N
   rows in ``checkups`` (``pg_total_relation_size``, table and indexes) and nothing in Redis.
2. Duplicates. ``--duplicates`` K check-ups due in ``--eta`` seconds, with a visibility timeout of
   ``--visibility`` seconds (shorter than the ETA, as one day is shorter than a check-up a month away with
   Celery's one-hour default). The worker holds each ETA message longer than the visibility timeout, kombu
   gives it back to the queue as if the worker had died, the worker takes it again: each check-up runs
   more than once. Ours: the same K check-ups as rows, claimed by the real ``claim_due`` in a tick loop
   and handed to the same worker when due, with no ETA: each runs once.

Redis: a private ``redis-server`` on a free port, without persistence, killed at the end (default), or
``--redis-url`` (a database that must be empty; the keys made here are deleted at the end). A measurement,
not a test. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import redis
from celery import Celery

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PROTOCOLS = ROOT / "config" / "protocols"
QUEUE = "naive-eta"
EXECUTIONS = "naive-eta:executions"  # hash: check-up key -> how many times the task ran
BROKER = os.environ.get("NAIVE_ETA_BROKER", "memory://")

# The peer's Celery app: Celery's defaults (as in the sample) except the queue name, and a visibility
# timeout that the worker process reads from the environment (the bench sets it short).
app = Celery("naive_eta_peer", broker=BROKER)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    broker_transport_options={
        "visibility_timeout": float(os.environ.get("NAIVE_ETA_VISIBILITY", "3600")),
        # kombu sweeps for messages held past the visibility timeout every 10 x 10 s by default; a sweep every
        # second (its documented knobs for a short timeout) shows in seconds what otherwise takes minutes.
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    },
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="naive_eta.send_checkup")
def send_checkup(key: str) -> None:
    """Stands in for "send this check-up": counts how many times it ran."""
    client = redis.Redis.from_url(BROKER)
    try:
        client.hincrby(EXECUTIONS, key, 1)
    finally:
        client.close()


# --- Redis and the worker -----------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of this run alone, without persistence."""

    def __init__(self, directory: Path) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=directory,
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.exceptions.ConnectionError):
                if redis.Redis(port=self.port).ping():
                    return
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("redis-server did not start (is it installed?)")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def worker(broker: str, visibility: float, directory: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery worker`` process for the peer's app (solo pool), stopped on exit."""
    log = directory / f"worker-{time.monotonic_ns()}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKUPS_")}
    env.update(NAIVE_ETA_BROKER=broker, NAIVE_ETA_VISIBILITY=str(visibility), PYTHONPATH=f"{BENCH}:{ROOT}")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "naive_eta_peer", "worker", "-Q", QUEUE, "-P", "solo"),
                *("--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "INFO"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=directory,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def our_keys(client: redis.Redis) -> list[bytes]:
    """The keys this bench (and kombu for it) makes: the queue, kombu's unacked bookkeeping, the counts."""
    keys: list[bytes] = []
    for pattern in (f"{QUEUE}*", "unacked*", "_kombu.binding.*"):
        keys.extend(client.scan_iter(match=pattern, count=1000))
    return keys


def clean(client: redis.Redis) -> None:
    keys = our_keys(client)
    if keys:
        client.delete(*keys)


# --- 1. memory ----------------------------------------------------------------------------------------------


def schedule(count: int, horizon: timedelta, prefix: str) -> None:
    rng = random.Random(7)  # due times spread over the horizon; the same every run
    now = datetime.now(UTC)
    with app.producer_or_acquire() as producer:
        for i in range(count):
            eta = now + timedelta(hours=1) + horizon * rng.random()
            send_checkup.apply_async(args=(f"{prefix}:{i}",), eta=eta, producer=producer)


def memory(client: redis.Redis, broker: str, count: int, directory: Path, hold: bool) -> dict[str, float]:
    clean(client)
    before = used_memory(client)
    started = time.perf_counter()
    schedule(count, timedelta(days=5 * 365), "memory")
    seconds = time.perf_counter() - started
    queued = client.llen(QUEUE)
    queue_bytes = int(client.memory_usage(QUEUE, samples=0) or 0)
    after = used_memory(client)
    figures = {
        "scheduled": float(count),
        "queued": float(queued),
        "publish_s": seconds,
        "used_memory_delta": float(after - before),
        "queue_bytes": float(queue_bytes),
    }
    if hold:
        with worker(broker, 3600, directory) as process:
            figures["worker_idle_rss_mb"] = rss_mb(process.pid)
            deadline = time.monotonic() + max(120, count / 200)
            while client.llen(QUEUE) and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(2)  # the last prefetch settles
            figures["held_by_worker"] = float(client.hlen("unacked"))
            figures["worker_rss_mb"] = rss_mb(process.pid)
            figures["used_memory_held_delta"] = float(used_memory(client) - before)
    clean(client)
    return figures


def ours_memory(admin_url: str, count: int) -> dict[str, float]:
    """N enrolments as our scheduler stores them: one pending check-up row each (real schema, PostgreSQL)."""
    sys.path.insert(0, str(BENCH))
    import claim_throughput as ct
    from sqlalchemy import text

    from checkups.clock import SystemClock
    from checkups.crypto import Vault, generate_key
    from checkups.db import make_engine, session_factory
    from checkups.engine.context import Context, ProtocolStore

    name = f"checkups_naive_peer_{os.getpid()}"
    url = ct.create_database(admin_url, name, replace=True)
    engine = make_engine(url)
    try:
        vault = Vault(generate_key())
        ctx = Context(vault=vault, protocols=ProtocolStore(PROTOCOLS), channels={}, clock=SystemClock())
        org_id, version_id = ct.seed_reference_rows(ctx, session_factory(engine))
        ct.populate(engine, vault, org_id, version_id, 1, count, 0)
        with engine.connect() as conn:
            table = conn.execute(text("SELECT pg_relation_size('checkups')")).scalar_one()
            total = conn.execute(text("SELECT pg_total_relation_size('checkups')")).scalar_one()
            rows = conn.execute(text("SELECT count(*) FROM checkups")).scalar_one()
        return {"rows": float(rows), "table_bytes": float(table), "total_bytes": float(total)}
    finally:
        engine.dispose()
        ct.drop_database(admin_url, name)


# --- 2. duplicates ------------------------------------------------------------------------------------------


def duplicates(
    client: redis.Redis, broker: str, count: int, eta: float, visibility: float, directory: Path
) -> tuple[Counter[int], Counter[int], float]:
    """Run both designs side by side; (naive runs per check-up, ours runs per check-up, seconds)."""
    clean(client)
    client.delete(EXECUTIONS)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="checkups-naive-peer-") as db_dir, worker(broker, visibility, directory):
        due = datetime.now(UTC) + timedelta(seconds=eta)
        factory, ctx = _our_database(Path(db_dir) / "ours.db", count, due)
        with app.producer_or_acquire() as producer:
            for i in range(count):
                send_checkup.apply_async(args=(f"naive:{i}",), eta=due, producer=producer)
        # Ours: the scheduler's tick claims what is due (the real claim_due) and hands it out at once.
        from checkups.engine.dispatch import claim_due

        handed = 0
        quiet_since = None
        deadline = time.monotonic() + eta + 6 * visibility + 60
        while time.monotonic() < deadline:
            with factory() as session, session.begin():
                now = ctx.now()
                claims = claim_due(session, now, 500, now + timedelta(minutes=5))
            for claim in claims:
                send_checkup.apply_async(args=(f"ours:{claim.checkup_id}",))
            handed += len(claims)
            # Done once everything ran and nothing new has run for a while (a redelivery takes a few seconds).
            runs = client.hgetall(EXECUTIONS)
            if handed == count and len(runs) == 2 * count and datetime.now(UTC) > due + timedelta(seconds=visibility):
                quiet_since = quiet_since or (time.monotonic(), sum(int(v) for v in runs.values()))
                total = sum(int(v) for v in runs.values())
                if total != quiet_since[1]:
                    quiet_since = (time.monotonic(), total)
                elif time.monotonic() - quiet_since[0] > 3 * visibility + 15:
                    break
            time.sleep(0.5)
    runs = {k.decode(): int(v) for k, v in client.hgetall(EXECUTIONS).items()}
    naive = Counter(n for key, n in runs.items() if key.startswith("naive:"))
    ours = Counter(n for key, n in runs.items() if key.startswith("ours:"))
    clean(client)
    client.delete(EXECUTIONS)
    return naive, ours, time.perf_counter() - started


def _our_database(path: Path, count: int, due: datetime):  # type: ignore[no-untyped-def]
    """``count`` enrolments through the real ``enrol``, their first check-up made due at ``due``."""
    from sqlalchemy import update

    from checkups.clock import SystemClock
    from checkups.crypto import Vault, generate_key
    from checkups.db import make_engine, session_factory
    from checkups.engine.context import Context, ProtocolStore
    from checkups.engine.enrolment import EnrolmentRequest, enrol, ensure_organisation
    from checkups.migrate import upgrade
    from checkups.models import Checkup

    url = f"sqlite:///{path}"
    upgrade(url)
    factory = session_factory(make_engine(url))
    ctx = Context(vault=Vault(generate_key()), protocols=ProtocolStore(PROTOCOLS), channels={}, clock=SystemClock())
    with factory() as session, session.begin():
        ensure_organisation(session, "bench", "Bench", ctx.now())
    for i in range(count):
        enrol(
            ctx,
            factory,
            EnrolmentRequest(
                organisation="bench",
                client_ref=f"peer-{i}",
                phone=f"+447700900{i % 1000:03d}",
                timezone="Europe/London",
                anchor_date=date.today(),
                protocol="standard-5y",
                consent_by="bench",
                consent_method="electronic",
                window_start=clock_time(0, 0),
                window_end=clock_time.max,
                window_days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
            ),
            actor="bench",
        )
    with factory() as session, session.begin():
        session.execute(update(Checkup).values(action_at=due))
    return factory, ctx


# --- the run ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scheduled", type=int, default=50_000, help="check-ups scheduled for the memory figures")
    parser.add_argument("--no-hold", action="store_true", help="skip the worker that takes every ETA task")
    parser.add_argument("--duplicates", type=int, default=20, help="check-ups in the duplicate run (at most 1000)")
    parser.add_argument("--eta", type=float, default=20.0, help="seconds until they are due")
    parser.add_argument("--visibility", type=float, default=5.0, help="the broker's visibility timeout, seconds")
    parser.add_argument("--redis-url", help="an empty Redis database to use instead of a private redis-server")
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        default=os.environ.get("CHECKUPS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="for our design's storage figure (a database is created and dropped); 'none' to skip",
    )
    args = parser.parse_args()
    if not 0 < args.duplicates <= 1000:
        parser.error("--duplicates must be between 1 and 1000 (the fixture numbers are +44 7700 900000-900999)")

    from checkups.logging import configure

    configure(log_format="console", level="WARNING")
    with tempfile.TemporaryDirectory(prefix="checkups-naive-eta-") as directory:
        server = None if args.redis_url else PrivateRedis(Path(directory))
        broker = args.redis_url or server.url  # type: ignore[union-attr]
        client = redis.Redis.from_url(broker)
        if args.redis_url and client.dbsize():
            raise SystemExit(f"{args.redis_url} is not empty: give an unused database number")
        app.conf.broker_url = broker  # this process only publishes; the worker reads NAIVE_ETA_BROKER
        try:
            print(f"1. memory: {args.scheduled:,} check-ups scheduled as ETA tasks ...", file=sys.stderr, flush=True)
            mem = memory(client, broker, args.scheduled, Path(directory), hold=not args.no_hold)
            ours_mem = None
            if args.postgres != "none":
                print("   ours: the same number of enrolments as rows ...", file=sys.stderr, flush=True)
                ours_mem = ours_memory(args.postgres, args.scheduled)
            print(
                f"2. duplicates: {args.duplicates} check-ups due in {args.eta:g} s, visibility timeout "
                f"{args.visibility:g} s ...",
                file=sys.stderr,
                flush=True,
            )
            naive, ours, seconds = duplicates(
                client, broker, args.duplicates, args.eta, args.visibility, Path(directory)
            )
        finally:
            clean(client)
            client.close()
            if server is not None:
                server.stop()
    report(args, mem, ours_mem, naive, ours, seconds)


def report(
    args: argparse.Namespace,
    mem: dict[str, float],
    ours_mem: dict[str, float] | None,
    naive: Counter[int],
    ours: Counter[int],
    seconds: float,
) -> None:
    n = mem["scheduled"]
    delta = mem["used_memory_delta"]
    print(f"\n1. Storing {int(n):,} future check-ups")
    print(f"   naive  Redis used_memory +{delta / 1e6:.1f} MB ({delta / n:.0f} B each)")
    queue_mb, publish_s = mem["queue_bytes"] / 1e6, mem["publish_s"]
    print(f"          the queue: {queue_mb:.1f} MB (MEMORY USAGE), published in {publish_s:.0f} s")
    if "held_by_worker" in mem:
        print(
            f"          a worker took {int(mem['held_by_worker']):,} of them into its memory to wait for their ETA: "
            f"worker RSS {mem['worker_idle_rss_mb']:.0f} -> {mem['worker_rss_mb']:.0f} MB, "
            f"Redis +{mem['used_memory_held_delta'] / 1e6:.1f} MB (unacked)"
        )
    if ours_mem is not None:
        rows, total = ours_mem["rows"], ours_mem["total_bytes"]
        print(
            f"   ours   {int(rows):,} rows in checkups: {total / 1e6:.1f} MB with indexes ({total / rows:.0f} B each; "
            f"table alone {ours_mem['table_bytes'] / rows:.0f} B); Redis: nothing until due"
        )
    k = args.duplicates
    print(f"\n2. {k} check-ups due in {args.eta:g} s, visibility timeout {args.visibility:g} s ({seconds:.0f} s run)")
    for name, runs in (("naive", naive), ("ours", ours)):
        total = sum(times * count for times, count in runs.items())
        spread = ", ".join(f"{count} ran {times}x" for times, count in sorted(runs.items()))
        print(f"   {name:<6} {total} executions for {sum(runs.values())} check-ups: {spread}; duplicates {total - k}")


if __name__ == "__main__":
    main()
