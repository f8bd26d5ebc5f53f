"""Retry schedule and rate limiter, with injected clocks so nothing really sleeps."""

from __future__ import annotations

import pytest

from dynamodb_replicator.dynamo import Backoff, RateLimiter, RateSpec
from dynamodb_replicator.segments import share_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_full_jitter_grows_exponentially_up_to_the_cap() -> None:
    policy = Backoff(base=0.05, cap=1.0, rng=lambda: 1.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0]
    assert Backoff(rng=lambda: 0.0).delay(5) == 0.0


def test_budget_is_bounded_by_attempts() -> None:
    clock = FakeClock()
    budget = Backoff(max_attempts=3, clock=clock, sleep=clock.sleep, rng=lambda: 0.5).budget()
    assert [budget.wait() for _ in range(5)] == [True, True, True, False, False]
    assert len(clock.sleeps) == 3
    assert budget.attempts == 3


def test_budget_stops_before_the_deadline() -> None:
    clock = FakeClock()
    policy = Backoff(
        max_attempts=100,
        base=1.0,
        cap=1.0,
        deadline=2.5,
        clock=clock,
        sleep=clock.sleep,
        rng=lambda: 1.0,
    )
    budget = policy.budget()
    assert budget.wait()
    assert budget.wait()
    assert not budget.wait()  # would sleep past the deadline
    assert clock.now == 2.0


def test_unlimited_rate_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        limiter.acquire()
        limiter.consume(50)
    assert clock.sleeps == []
    assert limiter.consumed == 5000


def test_rate_limiter_paces_consumed_capacity() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        limiter.acquire()
        limiter.consume(5.0)  # 50 units at 10/s: about 4 s of waiting after the first burst
    assert 3.5 <= clock.now <= 5.0
    assert limiter.consumed == 50.0


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)


def test_job_budget_shares() -> None:
    assert share_for(1, 10) == pytest.approx(0.1)
    assert share_for(10, 10, workers=4) == pytest.approx(0.25)
    assert share_for(3, 12, workers=3) == pytest.approx(0.25 / 3)
    assert RateSpec(read=100, write=None).scaled(0.25) == RateSpec(read=25, write=None)
