"""Alembic migrations run on SQLite and PostgreSQL, go down and up again, and match the models."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from checkups.db import make_engine
from checkups.migrate import alembic_config, downgrade, upgrade
from checkups.models import Base
from tests.conftest import PG_ADMIN_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    name = f"checkups_mig_{uuid.uuid4().hex[:8]}"
    admin = make_url(PG_ADMIN_URL)
    connect = {"host": admin.host, "port": admin.port or 5432, "user": admin.username, "dbname": admin.database}
    with psycopg.connect(**connect, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(**connect, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_create_every_table_and_match_the_models(empty_database: str) -> None:
    upgrade(empty_database)
    engine = make_engine(empty_database)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    command.check(alembic_config(empty_database))  # raises if the models and migrations differ


def test_migrations_go_down_and_up_again(empty_database: str) -> None:
    upgrade(empty_database)
    downgrade(empty_database, "base")
    engine = make_engine(empty_database)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(empty_database)


def test_constraints_are_named(empty_database: str) -> None:
    upgrade(empty_database)
    engine = make_engine(empty_database)
    inspector = inspect(engine)
    for table in inspector.get_table_names():
        for unique in inspector.get_unique_constraints(table):
            assert unique["name"], f"unnamed unique constraint on {table}"
        for check in inspector.get_check_constraints(table):
            assert check["name"], f"unnamed check constraint on {table}"
    engine.dispose()
