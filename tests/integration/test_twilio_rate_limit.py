"""The per-sender send rate shared through a real Redis (127.0.0.1:6379, database 2), by several workers."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from checkups.channels import ChannelError, Outgoing, TwilioSMS
from checkups.channels.ratelimit import RedisRateLimiter
from checkups.channels.twilio_api import TwilioAccount
from checkups.testing import TwilioFake

REDIS_URL = os.environ.get("CHECKUPS_TEST_REDIS_RATE_URL", "redis://127.0.0.1:6379/2")
ACCOUNT = "AC" + "0" * 32
TOKEN = "test-token-7f3a9c"
FROM = "+15005550006"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test alone; its keys are removed afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error}. Start it (see README).", pytrace=False)
    value = f"checkups-test:{uuid.uuid4().hex[:8]}:"
    yield value
    keys = list(client.scan_iter(match=value + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def limiter(prefix: str) -> RedisRateLimiter:
    """One worker's limiter: its own connection to the shared Redis."""
    return RedisRateLimiter.from_url(REDIS_URL, prefix=prefix)


def test_turns_are_spaced_across_workers_and_refused_past_the_bound(prefix: str) -> None:
    workers = [limiter(prefix), limiter(prefix)]
    started = time.monotonic()
    waits = [workers[i % 2].reserve("sms:+15005550006", 0.05, 10) for i in range(10)]
    elapsed = time.monotonic() - started
    assert all(w is not None for w in waits)
    assert waits == sorted(waits)  # each later caller, on either worker, waits longer
    assert waits[-1] >= 9 * 0.05 - elapsed  # ten turns 50 ms apart, whoever took them
    # Another sender is not held up by this one.
    assert workers[0].reserve("sms:+15005550007", 0.05, 10) == 0

    slow = [workers[i % 2].reserve("sms:slow", 1.0, 2.5) for i in range(4)]
    assert slow[:3] == sorted(slow[:3])
    assert slow[3] is None  # a fourth turn would be 3 s away: refused, and no turn taken


def test_sends_from_two_workers_share_one_sender_rate(prefix: str) -> None:
    rate = 5.0
    with TwilioFake(ACCOUNT, TOKEN) as fake:
        workers = [
            TwilioSMS(
                TwilioAccount(ACCOUNT, TOKEN, api_base=fake.base_url, timeout=5).client(),
                public_base_url="http://127.0.0.1:9",
                now=lambda: datetime.now(UTC),
                limiter=limiter(prefix),
                from_number=FROM,
                rate_per_second=rate,
                max_wait=10,
            )
            for _ in range(2)
        ]
        sent_at: list[float] = []
        lock = threading.Lock()

        def send(worker: TwilioSMS, n: int) -> None:
            for i in range(3):
                worker.send(
                    Outgoing(
                        key=f"checkup:{n}{i}:send:0:1",
                        participant_id=n * 10 + i,
                        to=f"+4477009001{n}{i}",
                        body="Time for your check-in. Reply 1-5.",
                        kind="question",
                        channel="sms",
                        valid_until=datetime.now(UTC) + timedelta(hours=2),
                    )
                )
                with lock:
                    sent_at.append(time.monotonic())

        threads = [threading.Thread(target=send, args=(w, n)) for n, w in enumerate(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(fake.messages) == 6
    sent_at.sort()
    # Six sends at 5 a second from two workers take at least a second: the rate is shared, not per worker.
    assert sent_at[-1] - sent_at[0] >= 5 / rate * 0.8


def test_unreachable_redis_is_a_transient_error_and_nothing_is_sent(prefix: str) -> None:
    with TwilioFake(ACCOUNT, TOKEN) as fake:
        sms = TwilioSMS(
            TwilioAccount(ACCOUNT, TOKEN, api_base=fake.base_url, timeout=5).client(),
            public_base_url="http://127.0.0.1:9",
            now=lambda: datetime.now(UTC),
            limiter=RedisRateLimiter.from_url("redis://127.0.0.1:1/2", prefix=prefix),
            from_number=FROM,
        )
        with pytest.raises(ChannelError) as caught:
            sms.send(
                Outgoing(
                    key="checkup:1:send:0:1",
                    participant_id=1,
                    to="+447700900123",
                    body="Hello",
                    kind="question",
                    channel="sms",
                )
            )
        assert (caught.value.code, caught.value.permanent, caught.value.outcome_unknown) == (
            "rate-limiter",
            False,
            False,
        )
        assert fake.requests == []
