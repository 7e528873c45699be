"""Simulated throughput: check-ups processed per second through the real engine, and peak memory.

    .venv/bin/python bench/simulate_throughput.py                                  # 10,000 people, 5 years
    .venv/bin/python bench/simulate_throughput.py --people 200 --years 1 --postgres postgresql://postgres@127.0.0.1:5432/postgres

Runs ``checkups simulate``'s :class:`~checkups.simulate.Simulation` (enrolment, scheduler ticks, dispatch,
the simulated people's replies through the real parser and risk rules, volunteers) once per database:
fresh SQLite files by default, one per worker process (``--workers``; default one per CPU), as
``checkups simulate`` runs; a fresh PostgreSQL database with ``--postgres ADMIN_URL`` (created and dropped
here; with ``--postgres-shards N``, N of them, one worker process each, as the SQLite files are split), or any
empty database with ``--database-url`` (the whole cohort in one database and one process).
Each run is a child process of its own, so its peak memory (``ru_maxrss``: the largest of it and its
workers) is its alone, and its CPU time adds its workers'. Prints one row per database. A measurement,
not a test: nothing here asserts on time. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from scratch_db import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ROOT / "config" / "protocols"
CLOSED = ("answered", "missed", "skipped", "failed", "cancelled")
PG_SHARDS = "postgresql-shards:"  # a child's URL for several PostgreSQL databases, space-separated


def measure(
    url: str,
    people: int,
    years: float,
    seed: int,
    protocol: str,
    workers: int | None,
    profile: Path | None,
    volunteer_capacity: int | None = None,
) -> dict[str, Any]:
    """One run, in this process and its workers; the figures as a dict. ``url`` is an empty PostgreSQL (or
    other) database for the whole cohort, or ``sqlite-shards:DIRECTORY`` for the embedded default: one SQLite
    file per worker there, as ``checkups simulate`` does without --database-url."""
    from sqlalchemy import create_engine, text

    from checkups.logging import configure
    from checkups.migrate import upgrade
    from checkups.simulate import Simulation, default_shards, prepare_shards

    configure(log_format="console", level="WARNING")
    if url.startswith("sqlite-shards:"):
        directory = Path(url.removeprefix("sqlite-shards:"))
        urls = prepare_shards(directory, min(workers, people) if workers else default_shards(people))
    elif url.startswith(PG_SHARDS):
        urls = url.removeprefix(PG_SHARDS).split(" ")  # migrated when they were made
    else:
        upgrade(url)
        urls = [url]
    sim = Simulation(
        urls,
        people_count=people,
        years=years,
        seed=seed,
        protocol=protocol,
        protocols_dir=PROTOCOLS,
        volunteer_capacity=volunteer_capacity,
        progress=_progress_to_stderr(),
    )
    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    wall, cpu = time.perf_counter(), time.process_time()
    summary = sim.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if profiler is not None:
        profiler.stop()
        assert profile is not None
        profile.write_text(profiler.output_text(unicode=False, color=False))
    processed = sum(n for (_phase, status), n in sim.facts.checkups.items() if status in CLOSED)
    if url.startswith("sqlite-shards:"):
        size = sum(Path(u.removeprefix("sqlite:///")).stat().st_size for u in urls)
    else:
        size = 0
        for each in urls:
            engine = create_engine(each)
            with engine.connect() as connection:
                size += connection.scalar(text("SELECT pg_database_size(current_database())")) or 0
            engine.dispose()
    events = summary["messages_total"] + summary["inbound"]
    return {
        "backend": _backend(url),
        "processes": len(urls),
        "people": people,
        "years": years,
        "checkups": processed,
        "messages": summary["messages_total"],
        "replies": summary["inbound"],
        "flags": summary["flags_total"],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu + children.ru_utime + children.ru_stime, 1),
        "checkups_per_s": round(processed / wall, 1),
        "events_per_s": round(events / wall, 1),
        # The largest single process: this one, or the largest worker.
        "peak_rss_mb": round(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, children.ru_maxrss) / 1024, 1),
        "database_mb": round(size / 1e6, 1),
    }


def _backend(url: str) -> str:
    if url.startswith(PG_SHARDS):
        return "postgresql"
    return url.split(":", 1)[0].split("+", 1)[0].removesuffix("-shards")


def _progress_to_stderr() -> Any:
    state = {"last": -1}

    def show(fraction: float) -> None:
        percent = int(fraction * 100)
        if percent // 5 != state["last"]:
            state["last"] = percent // 5
            print(f"  {percent:3d}% of the work (check-ups due so far)", file=sys.stderr, flush=True)

    return show


def run_child(url: str, args: argparse.Namespace, profile: Path | None) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        url,
        "--people",
        str(args.people),
        "--years",
        str(args.years),
        "--seed",
        str(args.seed),
        "--protocol",
        args.protocol,
    ]
    if args.volunteer_capacity is not None:
        command += ["--volunteer-capacity", str(args.volunteer_capacity)]
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    if profile is not None:
        command += ["--profile", str(profile)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKUPS_")}
    done = subprocess.run(command, stdout=subprocess.PIPE, env=env, cwd=ROOT, check=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _print_table(rows: list[dict[str, Any]]) -> None:
    columns = [
        ("backend", "database"),
        ("processes", "processes"),
        ("people", "people"),
        ("years", "years"),
        ("checkups", "check-ups"),
        ("messages", "messages"),
        ("replies", "replies"),
        ("wall_s", "wall s"),
        ("cpu_s", "CPU s"),
        ("checkups_per_s", "check-ups/s"),
        ("events_per_s", "msgs+replies/s"),
        ("peak_rss_mb", "peak RSS MB"),
        ("database_mb", "db MB"),
    ]
    widths = [max(len(title), *(len(str(r[key])) for r in rows)) for key, title in columns]
    print("  ".join(title.rjust(w) for (_, title), w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[key]).rjust(w) for (key, _), w in zip(columns, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--protocol", default="standard-5y")
    parser.add_argument(
        "--volunteer-capacity",
        type=int,
        help="flags the volunteers call a simulated day (default as checkups simulate: 20 per 1,000 people)",
    )
    parser.add_argument("--workers", type=int, help="worker processes on SQLite (default: one per CPU)")
    parser.add_argument("--database-url", action="append", default=[], help="an empty database to run on (repeatable)")
    parser.add_argument(
        "--postgres", metavar="ADMIN_URL", help="also run on a fresh PostgreSQL database created through this URL"
    )
    parser.add_argument(
        "--postgres-shards",
        type=int,
        default=1,
        metavar="N",
        help="with --postgres: split the cohort over N fresh databases, one worker process each (default 1)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the default run on a fresh SQLite file")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile per run: PATH-<backend>.txt")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.postgres_shards != 1 and not args.postgres:
        parser.error("--postgres-shards splits the --postgres run: give --postgres ADMIN_URL too")
    if args.postgres_shards < 1:
        parser.error("--postgres-shards must be at least 1")

    if args.child:
        print(
            json.dumps(
                measure(
                    args.child,
                    args.people,
                    args.years,
                    args.seed,
                    args.protocol,
                    args.workers,
                    args.profile,
                    args.volunteer_capacity,
                )
            )
        )
        return

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="checkups-simbench-") as directory:
        urls = list(args.database_url)
        if not args.no_sqlite:
            urls.insert(0, f"sqlite-shards:{Path(directory) / 'shards'}")
        created: list[str] = []
        try:
            if args.postgres:
                from checkups.logging import configure

                configure(log_format="console", level="WARNING")  # before alembic is imported: it logs at INFO
                run = uuid.uuid4().hex[:8]
                shards = min(args.postgres_shards, args.people)  # no empty shard, as with the SQLite files
                created = [f"checkups_simbench_{run}_{n}" for n in range(shards)]
                made = [create_database(args.postgres, name) for name in created]
                urls.append(made[0] if len(made) == 1 else PG_SHARDS + " ".join(made))
            for url in urls:
                backend = _backend(url)
                print(f"{backend}: {args.people} people, {args.years:g} years ...", file=sys.stderr, flush=True)
                profile = None
                if args.profile is not None:
                    profile = args.profile.with_name(f"{args.profile.stem}-{backend}{args.profile.suffix or '.txt'}")
                rows.append(run_child(url, args, profile))
        finally:
            for name in created:
                drop_database(args.postgres, name)
    _print_table(rows)


if __name__ == "__main__":
    main()
