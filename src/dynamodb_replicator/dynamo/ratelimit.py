"""A token bucket in capacity units per second, fed by the consumed capacity responses report.

A job's budget is split among its processes and workers by
:func:`dynamodb_replicator.segments.share_for`; each worker's bucket enforces its share.

Like pynamodb's limiter, a request is let through when the bucket is not in debt, and its real
cost (known only from the response) is charged afterwards, so a large page puts the bucket in
debt and the next request waits for it to be paid back.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .backoff import Clock, Sleep

__all__ = ["RateLimiter", "RateSpec"]


@dataclass(frozen=True)
class RateSpec:
    """A job-wide budget in capacity units per second (``None``: no cap)."""

    read: float | None = None
    write: float | None = None

    def scaled(self, fraction: float) -> RateSpec:
        """This budget times ``fraction`` (a process's or a worker's share)."""
        return RateSpec(
            read=None if self.read is None else self.read * fraction,
            write=None if self.write is None else self.write * fraction,
        )


class RateLimiter:
    """Thread-safe token bucket; ``rate=None`` never waits.

    Holds at most one second of burst. ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = rate or 0.0
        self._last = clock()
        self.consumed = 0.0
        self.waited = 0.0

    def _refill(self) -> None:
        assert self.rate is not None
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def acquire(self) -> None:
        """Wait until the bucket is out of debt; call before each request."""
        if self.rate is None:
            return
        while True:
            with self._lock:
                self._refill()
                if self._tokens > 0:
                    return
                pause = -self._tokens / self.rate + 1e-3
            self.waited += pause
            self._sleep(pause)

    def consume(self, units: float) -> None:
        """Charge the capacity a response reported (may put the bucket in debt)."""
        with self._lock:
            self.consumed += units
            if self.rate is None:
                return
            self._refill()
            self._tokens -= units
