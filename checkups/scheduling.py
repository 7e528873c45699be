"""APScheduler drives the tick: a UTC interval trigger, coalesced, never two ticks of one process at once.

APScheduler runs in the scheduler process (and in ``checkups run``), never inside web server workers.
"""

from __future__ import annotations

import signal
import threading

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .engine.ticker import Ticker
from .logging import get_logger

log = get_logger(__name__)


def run_ticks(ticker: Ticker, interval: float, duration: float | None = None) -> None:
    """Tick every ``interval`` seconds until SIGTERM/SIGINT (or ``duration`` seconds); then resign as leader."""
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(
        ticker.tick,
        IntervalTrigger(seconds=interval, timezone="UTC"),
        id="tick",
        coalesce=True,  # ticks missed while one ran long collapse into one
        max_instances=1,
        misfire_grace_time=max(1, int(interval)),
        next_run_time=None,
    )
    scheduler.get_job("tick").modify(next_run_time=_now())

    def stop(*_args: object) -> None:
        if scheduler.running:
            scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if duration is not None:
        timer = threading.Timer(duration, stop)
        timer.daemon = True
        timer.start()
    log.info("scheduler started", interval=interval)
    try:
        scheduler.start()
    finally:
        ticker.resign()
        log.info("scheduler stopped")


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)
