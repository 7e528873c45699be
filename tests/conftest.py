"""Shared fixtures. Integration tests run on real PostgreSQL and SQLite; they fail (never skip) when a
service they need cannot be reached."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ROOT / "config" / "protocols"
PG_ADMIN_URL = os.environ.get("CHECKUPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CHECKUPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(autouse=True)
def _no_checkups_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set what they need; nothing leaks in from the developer's shell or .env."""
    for key in list(os.environ):
        if key.startswith("CHECKUPS_") and not key.startswith("CHECKUPS_TEST_"):
            monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Staff passwords hashed with the lightest Argon2id settings: signing in works the same, in milliseconds
    (the real settings cost about half a second a sign-in). Hashes made with other settings still verify."""
    from argon2 import PasswordHasher

    from checkups.engine import users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def t0() -> datetime:
    """A Monday morning in UTC (London winter time): 2026-01-05 09:00."""
    return datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
