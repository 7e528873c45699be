"""Thin tasks: load by id, call the engine, done. All the rules live in ``checkups.engine``."""

from __future__ import annotations

import threading

from sqlalchemy.exc import OperationalError

from ..engine.dispatch import perform
from ..logging import get_logger
from ..runtime import Runtime, build
from ..settings import get_settings
from .app import app

log = get_logger(__name__)
_runtime: Runtime | None = None
_lock = threading.Lock()


def runtime() -> Runtime:
    """This worker process's runtime, built on first use (after the pool has forked)."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build(get_settings())
        return _runtime


@app.task(name="checkups.perform_action", bind=True, max_retries=5)
def perform_action(self, checkup_id: int, token: str) -> str:
    rt = runtime()
    try:
        result = perform(rt.ctx, rt.factory, checkup_id, token)
    except OperationalError as error:
        # The database blinked: try again shortly (a short countdown, never a far ETA). If it stays down,
        # the claim's lease expires and the sweeper hands the action out again.
        raise self.retry(exc=error, countdown=5) from None
    return result.outcome


@app.task(name="checkups.process_inbound", bind=True, max_retries=10)
def process_inbound_task(self, inbound_id: int) -> str:
    from ..engine.inbound import process_inbound

    rt = runtime()
    try:
        return process_inbound(rt.ctx, rt.factory, inbound_id)
    except OperationalError as error:
        raise self.retry(exc=error, countdown=5) from None
