"""The retry schedule: pure, with clock, sleep and random injected.

Used for every retry the project makes: a failed DynamoDB call (:mod:`.retry`) and the leftovers
of a batch call (unprocessed keys and items, :mod:`.batch`). Exponential backoff with full jitter
(sleep a uniform time between 0 and ``min(cap, base * 2**attempt)``), bounded three ways: a
number of attempts without progress, ``give_up_after`` seconds in which every attempt failed (a
dead endpoint, not a noisy one), and an optional deadline, so the Lambda path stops before its
function times out.
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
    """Retry policy: how many retries, how long between them, and when to give up.

    ``max_attempts`` bounds the retries made without progress; ``give_up_after`` is how long
    (seconds of ``clock``) every attempt may fail before the endpoint is taken for dead;
    ``deadline`` is a value of ``clock`` after which no further retry starts.
    """

    max_attempts: int = 50
    base: float = 0.05
    cap: float = 5.0
    give_up_after: float = 60.0
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
    """Tracks one operation's retries against a :class:`Backoff` policy.

    :meth:`progress` starts the count again: an operation that gets somewhere on every attempt
    (a batch whose leftovers shrink) is not failing, however many attempts it takes.
    """

    def __init__(self, policy: Backoff):
        self.policy = policy
        self.attempts = 0
        self.slept = 0.0
        self.failing_since = policy.clock()  # the first attempt starts now
        self.reason = ""

    def progress(self) -> None:
        """The last attempt got somewhere: count attempts and failing time from zero again."""
        self.attempts = 0
        self.failing_since = self.policy.clock()

    def time_left(self) -> float | None:
        if self.policy.deadline is None:
            return None
        return self.policy.deadline - self.policy.clock()

    def wait(self) -> bool:
        """Sleep before the next retry; ``False`` when the budget is spent (no sleep).

        The budget is spent after ``max_attempts`` retries without progress, once every attempt
        has failed for ``give_up_after`` seconds, or when the deadline would pass during the
        sleep. :attr:`reason` then says which.
        """
        now = self.policy.clock()
        if self.attempts >= self.policy.max_attempts:
            self.reason = f"gave up after {self.attempts + 1} attempts"
            return False
        failing = now - self.failing_since
        if failing >= self.policy.give_up_after:
            self.reason = (
                f"every attempt failed for {failing:.1f} s (give up after "
                f"{self.policy.give_up_after:g} s)"
            )
            return False
        self.attempts += 1
        # the last attempt comes at the stated time, not up to a capped sleep after it
        pause = min(self.policy.delay(self.attempts), self.policy.give_up_after - failing)
        left = self.time_left()
        if left is not None and left <= pause:
            self.reason = "no time left before the deadline"
            return False
        if pause > 0:
            self.policy.sleep(pause)
            self.slept += pause
        return True

    def expired(self) -> bool:
        """True once the deadline has passed (progress retries check this, not the count)."""
        left = self.time_left()
        return left is not None and left <= 0
