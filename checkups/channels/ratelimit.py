"""A send rate limit per sender, shared by every worker, so a peak is spread out instead of refused.

Twilio queues what a sender cannot send at once (a long code sends about 1 SMS a second, a toll-free or
short code or a Messaging Service with several numbers more) and answers 429 when too many requests
arrive together. A queue at Twilio is worse than one here: a message can wait there past the end of the
participant's send window. So each send first takes a turn.

The limiter hands out turns ``1 / rate`` seconds apart (a reservation, the "virtual scheduling" form of
GCRA): a caller gets the next free turn and sleeps until it comes; if that is further away than
``max_wait``, it takes no turn and the send is refused for now (a transient error: the engine retries it
later). With Redis the turns are shared by every process through one key per sender, kept on Redis's own
clock; without Redis (the embedded, single-process set-up) they live in this process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis


class RateLimited(Exception):
    """No turn to send within the allowed wait."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"next turn in {wait:.1f} s")
        self.wait = wait


class RateLimiterUnavailable(Exception):
    """The shared rate limit could not be reached."""


class RateLimiter(Protocol):
    def reserve(self, key: str, interval: float, max_wait: float) -> float | None:
        """Take the next turn for ``key``; the seconds to wait for it, or None (no turn taken) if longer
        than ``max_wait``."""
        ...


def wait_turn(
    limiter: RateLimiter,
    key: str,
    rate_per_second: float,
    max_wait: float,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Sleep until ``key`` may send; the seconds waited. :class:`RateLimited` if the wait would be longer
    than ``max_wait``."""
    wait = limiter.reserve(key, 1.0 / rate_per_second, max_wait)
    if wait is None:
        raise RateLimited(max_wait)
    if wait > 0:
        sleep(wait)
    return wait


class LocalRateLimiter:
    """Turns kept in this process: right only when a single process sends (the embedded set-up)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str, interval: float, max_wait: float) -> float | None:
        with self._lock:
            now = self._clock()
            turn = max(self._next.get(key, now), now)
            wait = turn - now
            if wait > max_wait:
                return None
            self._next[key] = turn + interval
            return wait


# KEYS[1]: the sender's key. ARGV: interval and max_wait in microseconds. Returns the wait in microseconds,
# or -1 when it would exceed max_wait (no turn taken). Times come from the Redis server (one clock for all
# workers); string.format keeps the 16-digit numbers exact (tostring would write 1.7e+15).
_RESERVE = """
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local turn = tonumber(redis.call('GET', KEYS[1]) or '0')
if turn < now then turn = now end
local wait = turn - now
if wait > max_wait then return -1 end
local following = turn + interval
redis.call('SET', KEYS[1], string.format('%.0f', following), 'PX', math.floor((following - now) / 1000) + 1000)
return wait
"""


class RedisRateLimiter:
    """Turns shared by every process that uses the same Redis database."""

    def __init__(self, client: redis.Redis, prefix: str = "checkups:rate:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_RESERVE)

    @classmethod
    def from_url(cls, url: str, prefix: str = "checkups:rate:") -> RedisRateLimiter:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), prefix)

    def reserve(self, key: str, interval: float, max_wait: float) -> float | None:
        try:
            wait = int(
                self._script(keys=[self._prefix + key], args=[round(interval * 1_000_000), round(max_wait * 1_000_000)])
            )
        except redis.RedisError as error:
            raise RateLimiterUnavailable(type(error).__name__) from None
        return None if wait < 0 else wait / 1_000_000
