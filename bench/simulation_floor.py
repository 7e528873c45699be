"""How fast could the simulation ever be on this machine? What one check-up's statements cost, at their floor.

    .venv/bin/python bench/simulation_floor.py                       # about a minute
    .venv/bin/python bench/simulation_floor.py --people 40 --checkups 70665 --seconds 60

Two measurements and a sum:

1. **What one check-up asks of the database.** A small ``checkups simulate`` cohort (``--people`` x one
   year, seed 3, one SQLite shard, in this process). A ``before_cursor_execute`` listener counts the
   statements the engine sends while it works: in the scheduler's ticks (claims, sends, closes) and while
   it takes the people's replies and keyed answers (store, process, the next question). The simulation's
   own reads (when is the next event, the volunteers' queue) and the volunteers' calls are left out. Write
   transactions (``BEGIN IMMEDIATE``) and read ones (``BEGIN``) are counted apart. Also the CPU time of
   those engine calls and of the whole run, per check-up that reached a final status.
2. **What one statement costs, at best.** On a migrated SQLite file with 5,000 check-ups, the same
   primary-key read of a check-up row and guarded update of it through each layer: bare ``sqlite3`` (the
   read turns ``due_at`` into an aware datetime, as the engine needs), SQLAlchemy Core on a connection
   (statement built once, bound parameters: its cheapest path), the same statements through an ORM
   ``Session``, and an ORM entity read; and an empty write transaction (our ``BEGIN IMMEDIATE``,
   ``COMMIT``) bare, on a Core connection and through a session. Median of ``--repeats`` rounds of
   ``--loops`` each.
3. **The floor.** Statements and transactions per check-up times their cost at each layer. Each statement
   is priced as the cheapest kind (one row by its key; inserts, range reads and ORM flushes cost more), and
   nothing else the engine does is counted, so each is a lower bound on what a check-up could cost with the
   statements the engine sends now. Then the CPU time a check-up may take for ``--checkups`` check-ups to
   finish in ``--seconds`` on ``--cpus`` CPUs, and how many CPUs each floor would need. ``--scaling`` is
   the speed-up each CPU gives: 0.89, because two worker processes ran 1.78 times as fast as one on this
   machine's two CPUs (assumed to hold for more: the shards meet only once a simulated day).
4. **Everything but the database**: the share of a cProfile of the same run (CPU time) outside SQLAlchemy
   and sqlite3 (built-in functions are put with their callers), times the run's CPU per check-up: the
   engine's own logic (parsing, risk rules, planning, encryption, logging) and the simulated people. cProfile
   weighs a deep stack of small Python calls more than a flat one, so this is an estimate.

Most of the statements and transactions are set by DESIGN.md's invariants (an outbound row committed before
every provider call and its outcome after; every inbound message stored before it is processed; claims in
short transactions of their own). A measurement, not a test: nothing here asserts on time. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.engine import Engine

from checkups.db import make_engine, session_factory
from checkups.logging import configure
from checkups.models import Checkup

if TYPE_CHECKING:
    from checkups.simulate import Simulation

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ROOT / "config" / "protocols"
CLOSED = ("answered", "missed", "skipped", "failed", "cancelled")


@contextmanager
def _simulation(people: int) -> Iterator[Simulation]:
    """The counted cohort, on a fresh SQLite shard of its own, removed afterwards."""
    from checkups.simulate import Simulation, prepare_shards

    with tempfile.TemporaryDirectory(prefix="checkups-floor-") as directory:
        urls = prepare_shards(Path(directory), 1)
        yield Simulation(urls, people_count=people, years=1.0, seed=3, protocols_dir=PROTOCOLS)


def _closed(sim: Simulation) -> int:
    return sum(n for (_phase, status), n in sim.facts.checkups.items() if status in CLOSED)


ENGINE_CALLS = (("checkups.engine.ticker", "Ticker", "tick"), ("checkups.simulate", "Shard", "_deliver_replies"))


@contextmanager
def _engine_calls(cpu: list[float]) -> Iterator[list[int]]:
    """While inside: a flag that is non-zero during the engine's work (ENGINE_CALLS), and their CPU time."""
    import importlib

    depth = [0]
    originals = []
    for module, owner, name in ENGINE_CALLS:
        cls = getattr(importlib.import_module(module), owner)
        original = getattr(cls, name)
        originals.append((cls, name, original))

        def wrapped(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            depth[0] += 1
            started = time.process_time()
            try:
                return _original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    cpu[0] += time.process_time() - started

        setattr(cls, name, wrapped)
    try:
        yield depth
    finally:
        for cls, name, original in originals:
            setattr(cls, name, original)


def count_statements(people: int) -> dict[str, float]:
    """Statements, transactions and CPU time per check-up of a small simulated cohort."""
    counts: Counter[str] = Counter()
    engine_cpu = [0.0]

    with _simulation(people) as sim, _engine_calls(engine_cpu) as depth:

        def listen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            if depth[0]:
                kind = statement.split(None, 2)[:2]
                counts[" ".join(kind) if kind[0] == "BEGIN" else "statement"] += 1

        event.listen(Engine, "before_cursor_execute", listen)
        try:
            cpu = time.process_time()
            sim.run()
            cpu = time.process_time() - cpu
        finally:
            event.remove(Engine, "before_cursor_execute", listen)
    closed = _closed(sim)
    return {
        "checkups": closed,
        "statements": counts["statement"] / closed,
        "writes": counts["BEGIN IMMEDIATE"] / closed,
        "reads": counts["BEGIN"] / closed,
        "engine_cpu_ms": 1000 * engine_cpu[0] / closed,
        "cpu_ms": 1000 * cpu / closed,
    }


def _is_database(filename: str, name: str) -> bool:
    return "/sqlalchemy/" in filename or "sqlalchemy." in name or "sqlite3." in name


def database_share(people: int) -> float:
    """The share of the same run's own CPU time (cProfile) spent in SQLAlchemy and sqlite3, a built-in
    function's time going with whoever called it."""
    profile = cProfile.Profile(time.process_time)
    with _simulation(people) as sim:
        profile.runcall(sim.run)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = database = 0.0
    for (filename, _line, name), (_cc, _nc, own, _cum, callers) in stats.items():
        total += own
        if _is_database(filename, name):
            database += own
        elif filename == "~":  # isinstance, dict.get, datetime.replace...: split by caller
            database += sum(
                timing[2]
                for (caller_file, _l, caller_name), timing in callers.items()
                if _is_database(caller_file, caller_name)
            )
    return database / total


def _median_us(run: Callable[[], None], loops: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(loops):
            run()
        samples.append((time.process_time() - started) / loops * 1e6)
    return statistics.median(samples)


def statement_costs(loops: int, repeats: int) -> dict[str, float]:
    """Microseconds of CPU for one indexed read and one guarded update at each layer, and one transaction."""
    from checkups.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="checkups-floor-") as directory:
        path = Path(directory) / "floor.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        engine = make_engine(url)
        factory = session_factory(engine)
        table = Checkup.__table__
        now = datetime(2026, 1, 1, tzinfo=UTC)
        with engine.connect() as connection:  # check-ups to read, without the enrolments they would belong to
            driver = connection.connection.driver_connection
            driver.execute("PRAGMA foreign_keys=OFF")  # outside a transaction, or SQLite ignores it
            connection.execute(
                insert(table),
                [
                    {"enrolment_id": 1 + n, "seq": 1, "phase": "weekly", "due_at": now + timedelta(hours=n)}
                    for n in range(5000)
                ],
            )
            connection.commit()
            driver.execute("PRAGMA foreign_keys=ON")
        read = select(table).where(table.c.id == bindparam("checkup_id"))
        write = update(table).where(table.c.id == bindparam("checkup_id"), table.c.attempts >= 0).values(attempts=1)
        entity = select(Checkup).where(Checkup.id == bindparam("checkup_id")).execution_options(populate_existing=True)
        raw = sqlite3.connect(path, isolation_level=None)
        names = [c.name for c in table.columns]
        due = names.index("due_at")
        select_row = f"SELECT {', '.join(names)} FROM checkups WHERE id = ?"
        row_id = {"checkup_id": 2500}
        costs: dict[str, float] = {}

        def raw_read() -> None:
            for row in raw.execute(select_row, (2500,)).fetchall():
                datetime.fromisoformat(row[due]).replace(tzinfo=UTC)

        raw.execute("BEGIN IMMEDIATE")
        costs["sqlite3 read"] = _median_us(raw_read, loops, repeats)
        costs["sqlite3 update"] = _median_us(
            lambda: raw.execute("UPDATE checkups SET attempts = 1 WHERE id = ? AND attempts >= 0", (2500,)),
            loops,
            repeats,
        )
        raw.execute("COMMIT")
        costs["sqlite3 transaction"] = _median_us(
            lambda: (raw.execute("BEGIN IMMEDIATE"), raw.execute("COMMIT")), loops, repeats
        )
        raw.close()
        with factory() as session, session.begin():
            connection = session.connection()
            costs["core read"] = _median_us(lambda: connection.execute(read, row_id).all(), loops, repeats)
            costs["core update"] = _median_us(lambda: connection.execute(write, row_id), loops, repeats)
            costs["session read"] = _median_us(lambda: session.execute(read, row_id).all(), loops, repeats)
            costs["session update"] = _median_us(lambda: session.execute(write, row_id), loops, repeats)
            costs["orm entity read"] = _median_us(lambda: session.scalars(entity, row_id).all(), loops, repeats)

        def core_transaction() -> None:
            with engine.begin() as connection:
                connection.connection  # noqa: B018 (begun on the first use)

        def session_transaction() -> None:
            with factory() as session, session.begin():
                session.connection()

        costs["core transaction"] = _median_us(core_transaction, loops, repeats)
        costs["session transaction"] = _median_us(session_transaction, loops, repeats)
        engine.dispose()
    return costs


def main() -> None:
    from checkups.simulate import available_cpus

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=20, help="the counted cohort (x one year)")
    parser.add_argument("--loops", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--checkups", type=int, default=70_665, help="check-ups of the target run (1000 x 5 years)")
    parser.add_argument("--seconds", type=float, default=60.0, help="the target wall time")
    parser.add_argument("--cpus", type=int, default=available_cpus(), help="default: this machine's")
    parser.add_argument("--scaling", type=float, default=0.89, help="speed-up each CPU gives (see above)")
    args = parser.parse_args()
    configure(log_format="console", level="WARNING")

    counted = count_statements(args.people)
    share = database_share(args.people)
    costs = statement_costs(args.loops, args.repeats)
    layers = {
        "sqlite3 alone": ("sqlite3 read", "sqlite3 update", "sqlite3 transaction"),
        "SQLAlchemy Core": ("core read", "core update", "core transaction"),
        "Core through a Session": ("session read", "session update", "session transaction"),
    }
    transactions = counted["writes"] + counted["reads"]  # a read one priced as a write one: a little high

    def needs(ms: float) -> float:
        return ms * args.checkups / (1000 * args.seconds * args.scaling)

    print(f"1. {counted['checkups']:,.0f} check-ups ({args.people} people x 1 year, seed 3, one SQLite shard); each:")
    print(
        f"   {counted['statements']:.1f} statements in {counted['writes']:.1f} write and {counted['reads']:.1f} "
        "read transactions, sent by the engine"
    )
    print(
        f"   {counted['engine_cpu_ms']:.2f} ms of CPU in the engine's calls, {counted['cpu_ms']:.2f} ms in the whole "
        "run (with the simulated people and volunteers)"
    )
    print(f"2. CPU a call, median of {args.repeats} x {args.loops:,}:")
    for name, value in costs.items():
        print(f"   {name:<22} {value:7.1f} us")
    budget = 1000 * args.seconds * args.cpus * args.scaling / args.checkups
    print(
        f"3. {args.checkups:,} check-ups in {args.seconds:g} s on {args.cpus} CPUs (x{args.scaling:g} each): "
        f"{budget:.2f} ms of CPU a check-up at most. At least, a check-up costs:"
    )
    for layer, (read, write, begin) in layers.items():
        statement = (costs[read] + costs[write]) / 2
        floor = (counted["statements"] * statement + transactions * costs[begin]) / 1000
        print(f"   its statements alone, {layer:<23}{floor:6.2f} ms: {needs(floor):5.1f} CPUs for the target")
    rest = counted["cpu_ms"] * (1 - share)
    print(f"4. everything but the database{'':<23}{rest:6.2f} ms: {needs(rest):5.1f} CPUs for the target")
    print(f"   ({100 * (1 - share):.0f}% of a cProfile of the run is outside SQLAlchemy and sqlite3)")
    print(f"   the whole run today (1. above){'':<20}{counted['cpu_ms']:6.2f} ms: {needs(counted['cpu_ms']):5.1f} CPUs")


if __name__ == "__main__":
    main()
