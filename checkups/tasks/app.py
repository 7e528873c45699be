"""The Celery app. Tasks are short and idempotent; nothing is ever scheduled far ahead in the broker.

Settings follow the design: a task is acknowledged after it ran (``acks_late``) and requeued if its worker
dies (``task_reject_on_worker_lost``), each worker takes one task at a time (prefetch 1), results are not
kept. The visibility timeout only bounds how long a message a dead worker held stays invisible; our own
leases (in the database) are what recover lost work, so Redis stays disposable.
"""

from __future__ import annotations

from celery import Celery

from ..settings import Settings, get_settings

QUEUE = "checkups"


def make_celery(settings: Settings) -> Celery:
    app = Celery("checkups", broker=settings.redis_url or "memory://", include=["checkups.tasks.actions"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 600},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
        timezone="UTC",
    )
    return app


app = make_celery(get_settings())
