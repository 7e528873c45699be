"""A scratch PostgreSQL database for a benchmark: made, migrated to the real schema, and dropped."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url


def libpq(url: str) -> str:
    """``url`` (SQLAlchemy form, any driver) as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def admin(url: str) -> psycopg.Connection:
    return psycopg.connect(libpq(url), autocommit=True)


def create_database(admin_url: str, name: str, replace: bool = False) -> str:
    """Create database ``name`` (dropping one left by an earlier run if ``replace``), migrate it; its URL."""
    # Imported here, after logging is set up: importing alembic logs its plugins at INFO.
    from checkups.migrate import upgrade

    with admin(admin_url) as conn:
        if replace:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def drop_database(admin_url: str, name: str) -> None:
    with admin(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
