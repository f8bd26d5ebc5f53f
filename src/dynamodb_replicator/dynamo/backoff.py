"""The retry schedule for leftovers (unprocessed keys and items): pure, with clock and random injected.

Exponential backoff with full jitter (sleep a uniform time between 0 and
``min(cap, base * 2**attempt)``), bounded by a number of attempts and by an optional deadline,
so the Lambda path can stop before its function times out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff", "Clock", "RetryBudget", "Sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Backoff:
    """Retry policy: how many throttled retries, how long between them, and when to give up.

    ``deadline`` is a value of ``clock`` after which no further retry starts.
    """

    max_attempts: int = 10
    base: float = 0.05
    cap: float = 5.0
    deadline: float | None = None
    clock: Clock = field(default=time.monotonic, compare=False)
    sleep: Sleep = field(default=time.sleep, compare=False)
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempt: int) -> float:
        """Full-jitter delay before retry number ``attempt`` (1-based)."""
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        return float(ceiling * self.rng())

    def budget(self) -> RetryBudget:
        return RetryBudget(self)


class RetryBudget:
    """Tracks one operation's retries against a :class:`Backoff` policy."""

    def __init__(self, policy: Backoff):
        self.policy = policy
        self.attempts = 0
        self.slept = 0.0

    def time_left(self) -> float | None:
        if self.policy.deadline is None:
            return None
        return self.policy.deadline - self.policy.clock()

    def wait(self) -> bool:
        """Sleep before the next throttled retry; ``False`` when the budget is spent (no sleep).

        The budget is spent after ``max_attempts`` retries, or when the deadline would pass
        during the sleep.
        """
        if self.attempts >= self.policy.max_attempts:
            return False
        self.attempts += 1
        pause = self.policy.delay(self.attempts)
        left = self.time_left()
        if left is not None and left <= pause:
            return False
        if pause > 0:
            self.policy.sleep(pause)
            self.slept += pause
        return True

    def expired(self) -> bool:
        """True once the deadline has passed (progress retries check this, not the count)."""
        left = self.time_left()
        return left is not None and left <= 0
