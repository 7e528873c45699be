"""No check-up is sent twice, and none is lost, through real Celery workers on a real (private) Redis and
PostgreSQL: a worker killed mid-batch, Redis restarted with tasks queued, two schedulers at once.

Workers run the real CLI (``python -m checkups worker``) on the system clock, so the check-ups are made due
*now*. Exactly once is measured where a provider would see it: the console channel's ``console_outbox``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from sqlalchemy import func, select, update

from checkups.crypto import generate_key
from checkups.engine.context import Tuning
from checkups.engine.dispatch import Claim
from checkups.engine.ticker import Ticker, TickReport
from checkups.models import Checkup, CheckupStatus, ConsoleOutbox, MessageStatus, OutboundMessage
from checkups.settings import load_settings
from tests.conftest import PROTOCOLS, ROOT

from .conftest import ALL_DAY, World, make_world, truncate_all

ALL_WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
QUEUE = "checkups"  # checkups.tasks.app.QUEUE: the Redis list the tasks wait in
START_TIMEOUT = 30.0


# --- processes ----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class PrivateRedis:
    """A redis-server of this test alone, without persistence: a restart comes back empty."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        """Start on a free port (or the same port again after a restart); fail the test if it cannot."""
        attempts = 1 if self.port else 5
        for _ in range(attempts):
            self.port = self.port or _free_port()
            if self._try_start():
                return
            if attempts > 1:
                self.port = 0
        pytest.fail(f"redis-server did not start on 127.0.0.1:{self.port}:\n{_tail(self._log)}", pytrace=False)

    @property
    def _log(self) -> Path:
        return self.directory / f"redis-{self._starts}.log"

    def _try_start(self) -> bool:
        self._starts += 1
        with self._log.open("wb") as log:
            try:
                self.process = subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(self.port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--daemonize",
                        "no",
                        "--dir",
                        str(self.directory),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                )
            except FileNotFoundError:
                pytest.fail("redis-server is not on PATH; install Redis (see README)", pytrace=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            client = self.client()
            try:
                if client.ping():
                    return True
            except redis.exceptions.ConnectionError:
                pass
            finally:
                client.close()
            time.sleep(0.05)
        self.kill()
        return False

    def kill(self) -> None:
        """kill -9: whatever was queued is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def restart_empty(self) -> None:
        self.kill()
        self.start()

    def queued(self) -> int:
        client = self.client()
        try:
            return int(client.llen(QUEUE))
        finally:
            client.close()


@dataclass
class Processes:
    """Worker and scheduler subprocesses of one test, each in its own process group; all killed at the end."""

    directory: Path
    database_url: str
    redis_url: str
    key: str
    started: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def env(self, **extra: object) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKUPS_")}
        env.update(
            CHECKUPS_DATABASE_URL=self.database_url,
            CHECKUPS_REDIS_URL=self.redis_url,
            CHECKUPS_ENCRYPTION_KEY=self.key,
            CHECKUPS_PROTOCOLS_DIR=str(PROTOCOLS),
            CHECKUPS_CHANNEL="console",
            CHECKUPS_LOG_FORMAT="json",
            CHECKUPS_LOG_LEVEL="INFO",
            PYTHONPATH=str(ROOT),
        )
        env.update({f"CHECKUPS_{name.upper()}": str(value) for name, value in extra.items()})
        return env

    def spawn(self, name: str, args: list[str], **settings: object) -> tuple[subprocess.Popen[bytes], Path]:
        log_path = self.directory / f"{name}-{len(self.started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "checkups", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(**settings),
                cwd=self.directory,  # no stray .env is read
                start_new_session=True,  # its own process group: prefork children die with it
            )
        self.started.append((process, log_path))
        return process, log_path

    def worker(self, pool: str = "prefork", concurrency: int = 2, **settings: object) -> subprocess.Popen[bytes]:
        """Start ``checkups worker`` and wait until Celery says it is ready."""
        process, log_path = self.spawn(
            "worker", ["worker", "--pool", pool, "--concurrency", str(concurrency)], **settings
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if "ready." in log_path.read_text(errors="replace"):
                return process
            if process.poll() is not None:
                pytest.fail(f"the worker exited with {process.returncode}:\n{_tail(log_path)}", pytrace=False)
            time.sleep(0.1)
        pytest.fail(f"the worker was not ready after {START_TIMEOUT:g}s:\n{_tail(log_path)}", pytrace=False)

    def scheduler(self, interval: float, **settings: object) -> subprocess.Popen[bytes]:
        return self.spawn("scheduler", ["scheduler", "--interval", str(interval)], **settings)[0]

    def log_of(self, process: subprocess.Popen[bytes]) -> Path:
        return next(path for p, path in self.started if p is process)

    @staticmethod
    def kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the worker and its pool children) and reap the leader."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    def stop_all(self) -> None:
        for process, _ in self.started:
            self.kill(process)


# --- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_postgres(postgres_url: str) -> str:
    return truncate_all(postgres_url)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def processes(tmp_path: Path, fresh_postgres: str, private_redis: PrivateRedis, key: str) -> Iterator[Processes]:
    procs = Processes(tmp_path, fresh_postgres, private_redis.url, key)
    yield procs
    procs.stop_all()


@pytest.fixture
def celery_app(private_redis: PrivateRedis) -> Iterator[Celery]:
    """The scheduler's side of the broker, in this process: the real app, pointed at the private Redis."""
    from checkups.settings import get_settings
    from checkups.tasks.app import make_celery

    app = make_celery(load_settings(redis_url=private_redis.url))
    # A short publish retry: with Redis down, hand-out fails fast and the claim's lease recovers it.
    app.conf.task_publish_retry_policy = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2}
    yield app
    app.close()
    get_settings.cache_clear()  # importing the tasks module read the (cleaned) environment once


@pytest.fixture
def make_test_world(fresh_postgres: str, key: str) -> Iterator[Callable[..., World]]:
    worlds: list[World] = []

    def make(tuning: Tuning | None = None) -> World:
        world = make_world(fresh_postgres, datetime.now(UTC), tuning=tuning, key=key)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.engine.dispose()


# --- helpers ------------------------------------------------------------------------------------------------


def hand_out_to(app: Celery) -> Callable[[Claim], None]:
    def hand_out(claim: Claim) -> None:
        app.send_task("checkups.perform_action", args=(claim.checkup_id, claim.token))

    return hand_out


def make_due_now(world: World, count: int) -> list[int]:
    """Enrol ``count`` people with a whole-week, whole-day window; make their first check-ups due now."""
    for i in range(count):
        world.enrol(f"c-{i}", phone=f"+447700900{i:03d}", window_days=ALL_WEEK, **ALL_DAY)
    now = datetime.now(UTC)
    with world.factory() as session, session.begin():
        ids = session.scalars(
            update(Checkup)
            .where(Checkup.status == CheckupStatus.pending.value)
            .values(action_at=now - timedelta(seconds=1))
            .returning(Checkup.id)
        ).all()
    world.clock.set(datetime.now(UTC))
    assert len(ids) == count
    return sorted(ids)


def sends_per_checkup(world: World) -> Counter[int]:
    """Provider-side sends of the first message of each check-up: check-up id -> count."""
    return Counter(int(row.key.split(":")[1]) for row in world.sends() if row.key.split(":")[2] == "send")


def sent_count(world: World) -> int:
    return world.count(ConsoleOutbox)


def progress(world: World, ids: list[int]) -> str:
    with world.factory() as session:
        states = session.execute(
            select(Checkup.status, Checkup.action_state, func.count())
            .where(Checkup.id.in_(ids))
            .group_by(Checkup.status, Checkup.action_state)
        ).all()
    summary = ", ".join(f"{status}/{state}: {n}" for status, state, n in sorted(states))
    return f"{len(sends_per_checkup(world))} of {len(ids)} check-ups sent ({sent_count(world)} sends); {summary}"


def all_awaiting(world: World, ids: list[int]) -> bool:
    return world.count(Checkup, Checkup.id.in_(ids), Checkup.status == CheckupStatus.awaiting.value) == len(ids)


def wait_for(condition: Callable[[], bool], timeout: float, what: Callable[[], str], interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s: {what()}", pytrace=False)
        time.sleep(interval)


def tick_until(
    world: World, ticker: Ticker, condition: Callable[[], bool], timeout: float, ids: list[int]
) -> list[TickReport]:
    """Tick on the real clock (the sweeper compares leases the worker set on the system clock) until done."""
    reports = []
    deadline = time.monotonic() + timeout
    while True:
        world.clock.set(datetime.now(UTC))
        reports.append(ticker.tick())
        if condition():
            return reports
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s: {progress(world, ids)}", pytrace=False)
        time.sleep(0.3)


def assert_each_sent_exactly_once(world: World, ids: list[int]) -> None:
    counts = sends_per_checkup(world)
    missing = [i for i in ids if counts[i] == 0]
    twice = {i: n for i, n in counts.items() if n > 1}
    assert not missing, f"{len(missing)} due check-ups never sent: {missing[:10]}"
    assert not twice, f"check-ups sent more than once (id: sends): {twice}"
    assert set(counts) == set(ids), f"sends for check-ups that were not due: {sorted(set(counts) - set(ids))}"
    with world.factory() as session:
        statuses = Counter(session.scalars(select(OutboundMessage.status)).all())
    assert statuses[MessageStatus.sent.value] == len(ids), statuses
    assert statuses[MessageStatus.sending.value] == statuses[MessageStatus.unknown.value] == 0, statuses


# --- tests --------------------------------------------------------------------------------------------------


def test_real_worker_sends_every_due_checkup_exactly_once(
    make_test_world: Callable[..., World], processes: Processes, celery_app: Celery
) -> None:
    world = make_test_world()
    processes.worker(concurrency=2)
    ids = make_due_now(world, 100)
    ticker = world.ticker(hand_out=hand_out_to(celery_app))

    report = ticker.tick()

    assert report.leader
    assert report.handed_out == 100, report
    wait_for(lambda: all_awaiting(world, ids), 60, lambda: progress(world, ids))
    assert_each_sent_exactly_once(world, ids)


def test_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    make_test_world: Callable[..., World], processes: Processes, celery_app: Celery
) -> None:
    send_lease = timedelta(seconds=3)
    leases = {"claim_lease_seconds": 6, "send_lease_seconds": send_lease.total_seconds()}
    world = make_test_world(Tuning(claim_lease=timedelta(seconds=6), send_lease=send_lease))
    first = processes.worker(concurrency=2, console_latency_ms=200, **leases)
    ids = make_due_now(world, 60)
    ticker = world.ticker(hand_out=hand_out_to(celery_app))
    assert ticker.tick().handed_out == 60

    def mid_send() -> bool:
        # A send started in the last 100 ms (its lease was set then) is still inside the 200 ms provider
        # call: killing now catches it mid-flight, not between two tasks.
        started_after = datetime.now(UTC) - timedelta(milliseconds=100) + send_lease
        return world.count(Checkup, Checkup.action_state == "running", Checkup.lease_until > started_after) > 0

    wait_for(lambda: sent_count(world) >= 8 and mid_send(), 30, lambda: progress(world, ids), interval=0.02)
    processes.kill(first)  # SIGKILL to the worker and its pool children: no warm shutdown, no acks
    at_kill = sent_count(world)
    running_at_kill = world.count(Checkup, Checkup.action_state == "running")
    assert at_kill < len(ids), "the worker finished before it could be killed; raise the latency"
    assert running_at_kill >= 1, "no send was in flight when the worker was killed"

    processes.worker(concurrency=2, console_latency_ms=200, **leases)
    reports = tick_until(world, ticker, lambda: all_awaiting(world, ids), 60, ids)

    assert_each_sent_exactly_once(world, ids)
    swept = sum(r.swept for r in reports)
    with world.factory() as session:
        # A send the dead worker had made but not recorded is reconciled (its time stays its creation
        # time); one it had not made yet is marked not-sent and made again under a new key.
        reconciled = session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.status == MessageStatus.sent.value,
                OutboundMessage.sent_at == OutboundMessage.created_at,
            )
        )
        resent = session.scalar(
            select(func.count()).select_from(OutboundMessage).where(OutboundMessage.error_code == "not-sent")
        )
    assert swept >= 1, f"no lease was swept (running at kill: {running_at_kill})"
    assert reconciled + resent >= 1, (
        f"no send was mid-flight at the kill (running: {running_at_kill}, swept: {swept}, sent before: {at_kill})"
    )


def test_redis_restart_with_tasks_queued_loses_nothing(
    make_test_world: Callable[..., World],
    processes: Processes,
    celery_app: Celery,
    private_redis: PrivateRedis,
) -> None:
    leases = {"claim_lease_seconds": 3, "send_lease_seconds": 3}
    world = make_test_world(Tuning(claim_lease=timedelta(seconds=3), send_lease=timedelta(seconds=3)))
    ids = make_due_now(world, 40)
    ticker = world.ticker(hand_out=hand_out_to(celery_app))

    assert ticker.tick().handed_out == 40  # no worker yet: the tasks wait in Redis
    assert private_redis.queued() == 40
    private_redis.restart_empty()
    assert private_redis.queued() == 0
    assert sent_count(world) == 0

    processes.worker(concurrency=2, **leases)
    reports = tick_until(world, ticker, lambda: all_awaiting(world, ids), 45, ids)

    assert sum(r.swept for r in reports) >= 40  # every lost task came back through its expired claim
    assert_each_sent_exactly_once(world, ids)


def test_two_scheduler_processes_at_once_send_each_checkup_once(
    make_test_world: Callable[..., World], processes: Processes
) -> None:
    world = make_test_world()
    processes.worker(concurrency=2, console_latency_ms=20)
    ids = make_due_now(world, 60)

    schedulers = [processes.scheduler(0.5), processes.scheduler(0.5)]
    wait_for(lambda: all_awaiting(world, ids), 45, lambda: progress(world, ids))
    time.sleep(1.5)  # a few more ticks of both: nothing more may go out

    for scheduler in schedulers:
        assert scheduler.poll() is None, f"a scheduler died:\n{_tail(processes.log_of(scheduler))}"
        processes.kill(scheduler, signal.SIGTERM)
    assert_each_sent_exactly_once(world, ids)
