"""A fresh PostgreSQL database per test run (migrated with Alembic), a migrated SQLite file per test, and
an engine context wired to the console channel and a settable clock."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from checkups.channels.console import ConsoleChannel
from checkups.clock import SettableClock
from checkups.crypto import Vault, generate_key
from checkups.db import make_engine, session_factory
from checkups.engine.context import Context, ProtocolStore, Tuning
from checkups.engine.dispatch import Claim, perform
from checkups.engine.enrolment import EnrolmentRequest, enrol, ensure_organisation
from checkups.engine.inbound import process_inbound
from checkups.engine.ticker import Ticker
from checkups.engine.users import add_user
from checkups.migrate import upgrade
from checkups.models import Base, Checkup, ConsoleOutbox, User
from checkups.runtime import Runtime
from checkups.settings import load_settings
from checkups.web.app import create_app
from tests.conftest import PG_ADMIN_URL, PROTOCOLS

BACKENDS = ["sqlite", "postgresql"]


def _admin_connect() -> psycopg.Connection:
    url = make_url(PG_ADMIN_URL)
    try:
        return psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            dbname=url.database,
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {error}. Start it (see README).", pytrace=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A new database for this test run, migrated to head; dropped at the end."""
    name = f"checkups_test_{uuid.uuid4().hex[:8]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with _admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def sqlite_plan(template: Path, directory: Path, run: Callable[[Session], object], sent: str) -> str:
    """SQLite's query plan (EXPLAIN QUERY PLAN, one line) for the one statement whose SQL contains ``sent``
    among those ``run`` sends, on a copy of the migrated ``template`` (with the values it was sent with: the
    planner may use them, so the plan is the one the code gets). ``run``'s transaction is rolled back."""
    from sqlalchemy import event

    path = directory / "plan.db"
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    statements: list[tuple[str, object]] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, params, *_: statements.append((sql, params)))
    try:
        with session_factory(engine)() as session:
            run(session)
            session.rollback()
        ((sql, params),) = [(sql, params) for sql, params in statements if sent in sql]
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()  # type: ignore[arg-type]
    finally:
        engine.dispose()
    return " / ".join(row[-1] for row in rows)


def truncate_all(url: str) -> str:
    """Empty every table of the PostgreSQL database at ``url`` (a fresh start for the next test)."""
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


def fresh_database(backend: str, request: pytest.FixtureRequest, directory: Path) -> str:
    """A migrated, empty database: a copy of the SQLite template, or the run's PostgreSQL database emptied."""
    if backend == "sqlite":
        path = directory / f"{uuid.uuid4().hex}.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return truncate_all(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database(request.param, request, tmp_path)


@dataclass
class World:
    """Everything a test drives: the store, the engine context, the clock, and helpers."""

    url: str
    engine: Engine
    factory: sessionmaker[Session]
    ctx: Context
    clock: SettableClock
    console: ConsoleChannel

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def enrol(self, client_ref: str = "c-1", **overrides: object):
        fields: dict[str, object] = {
            "organisation": "org-a",
            "client_ref": client_ref,
            "phone": "+447700900123",
            "timezone": "Europe/London",
            "anchor_date": self.clock.now().date(),
            "protocol": "standard-5y",
            "consent_by": "worker 1",
            "consent_method": "verbal",
            "consent_channels": ("sms", "voice"),
        }
        fields.update(overrides)
        return enrol(self.ctx, self.factory, EnrolmentRequest(**fields), actor="test")  # type: ignore[arg-type]

    def ticker(self, hand_out: Callable[[Claim], None] | None = None, **kwargs: object) -> Ticker:
        """A scheduler tick; all of a world's tickers are one scheduler process unless given a ``holder``."""
        kwargs.setdefault("holder", f"world-{id(self)}")
        return Ticker(self.ctx, self.factory, hand_out or self.perform, **kwargs)  # type: ignore[arg-type]

    def perform(self, claim: Claim):
        return perform(self.ctx, self.factory, claim.checkup_id, claim.token)

    def run(self, until: datetime, step: timedelta | None = None, ticker: Ticker | None = None) -> None:
        """Drive the scheduler until ``until``, the last tick exactly then.

        By default the clock jumps to the next moment anything is due (an action, an expiring lease), as a
        scheduler ticking every few seconds would see it; with ``step``, it ticks at that fixed interval.
        """
        ticker = ticker or self.ticker()
        while True:
            ticker.tick()
            now = self.clock.now()
            if now >= until:
                return
            if step is not None:
                self.clock.advance(min(step, until - now))
                continue
            upcoming = self.next_event_after(now)
            self.clock.set(min(until, max(upcoming, now + timedelta(seconds=1))) if upcoming else until)

    def next_event_after(self, now: datetime) -> datetime | None:
        with self.factory() as session:
            action = session.scalar(
                select(func.min(Checkup.action_at)).where(Checkup.action_state == "ready", Checkup.action.is_not(None))
            )
            lease = session.scalar(
                select(func.min(Checkup.lease_until)).where(Checkup.action_state.in_(("claimed", "running")))
            )
        lease = lease + timedelta(seconds=1) if lease is not None else None
        candidates = [t for t in (action, lease) if t is not None]
        return min(candidates) if candidates else None

    def sends(self) -> list[ConsoleOutbox]:
        with self.factory() as session:
            return list(session.scalars(select(ConsoleOutbox).order_by(ConsoleOutbox.id)))

    def count(self, model: type, *where: object) -> int:
        with self.factory() as session:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def make_world(url: str, start: datetime, tuning: Tuning | None = None, key: str | None = None) -> World:
    """A world on ``url``; pass ``key`` when another process (a real worker) must read what it encrypts."""
    engine = make_engine(url)
    factory = session_factory(engine)
    clock = SettableClock(start)
    vault = Vault(key or generate_key())
    console = ConsoleChannel(engine, vault, clock.now)
    ctx = Context(
        vault=vault,
        protocols=ProtocolStore(PROTOCOLS),
        channels={"sms": console, "voice": console},
        clock=clock,
        tuning=tuning or Tuning(),
    )
    with factory() as session, session.begin():
        ensure_organisation(session, "org-a", "Org A", start)
        ensure_organisation(session, "org-b", "Org B", start)
    return World(url, engine, factory, ctx, clock, console)


@pytest.fixture
def world(database_url: str, t0: datetime) -> Iterator[World]:
    w = make_world(database_url, t0)
    yield w
    w.engine.dispose()


ALL_DAY = {"window_start": time(0, 0), "window_end": time.max}

# The web app as Twilio reaches it: signed against PUBLIC_BASE, while the test client talks to another
# address (as behind a proxy), so nothing trusts the request's own URL.
PUBLIC_BASE = "https://checkups.example.org"
TWILIO_TOKEN = "test-auth-token-0000000000000000"


SESSION_SECRET = "test-session-secret-not-for-production-0000"
STAFF_PASSWORD = "correct horse battery staple"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(world: World) -> FastAPI:
    """The web app on this world's store; inbound messages are processed inline, before the response."""
    runtime = Runtime(
        load_settings(public_base_url=PUBLIC_BASE, twilio_auth_token=TWILIO_TOKEN, secret_key=SESSION_SECRET),
        world.engine,
        world.factory,
        world.ctx,
    )
    return create_app(runtime, process_inbound=lambda i: process_inbound(world.ctx, world.factory, i))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://internal:8000") as test_client:
        yield test_client


def add_staff(world: World, role: str, org: str | None = "org-a", email: str | None = None) -> User:
    email = email or f"{role}-{org or 'all'}-{uuid.uuid4().hex[:6]}@example.org"
    with world.factory() as session, session.begin():
        user = add_user(session, email, role, org, STAFF_PASSWORD, world.clock.now(), "test")
        session.expunge(user)
    return user


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_FIELD.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(test_client: TestClient, email: str, password: str = STAFF_PASSWORD) -> None:
    page = test_client.get("/login")
    response = test_client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


@pytest.fixture
def staff_client(app: FastAPI, world: World) -> Iterator[Callable[..., TestClient]]:
    """``staff_client(role, org)``: a new browser-like client signed in as a new account with that role."""
    clients: list[TestClient] = []

    def make(role: str, org: str | None = "org-a") -> TestClient:
        user = add_staff(world, role, org)
        test_client = TestClient(app, base_url="http://internal:8000")
        test_client.__enter__()
        clients.append(test_client)
        sign_in(test_client, user.email)
        test_client.user = user  # type: ignore[attr-defined]
        return test_client

    yield make
    for test_client in clients:
        test_client.__exit__(None, None, None)


MONDAY = date(2026, 1, 5)
