"""Our own retries of each DynamoDB call: a fake clock, and a Stubber for the failures (throttling
and 5xx cannot be had from a server on demand). Nothing really sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from dynamodb_replicator.dynamo import Backoff, ClientOptions, make_client
from dynamodb_replicator.dynamo.retry import (
    CallCounts,
    RetryingClient,
    attempt_timeouts,
    retryable,
)
from dynamodb_replicator.errors import CallDeadlineError, ReplicatorError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[tuple[RetryingClient, Stubber]]:
    made = make_client("dynamodb", region="us-east-1", endpoint_url="http://127.0.0.1:9")
    assert isinstance(made, RetryingClient)
    made.policy = Backoff(
        base=0.05, cap=5.0, give_up_after=60.0, clock=clock, sleep=clock.sleep, rng=lambda: 1.0
    )
    with Stubber(made.botocore_client) as stubber:
        yield made, stubber


OK = {"Table": {"TableName": "tbl"}}


def throttle(stubber: Stubber, times: int, code: str = "ThrottlingException") -> None:
    for _ in range(times):
        stubber.add_client_error("describe_table", code, http_status_code=400)


def test_botocore_makes_one_attempt_for_our_clients_and_keeps_its_retries_for_s3() -> None:
    options = ClientOptions()
    ours = options.config("dynamodb").retries
    assert ours == {"mode": "standard", "total_max_attempts": 1}
    assert options.config("s3").retries == {"mode": "adaptive", "max_attempts": 5}
    assert make_client("s3", region="us-east-1", endpoint_url="http://127.0.0.1:9") is not None


def test_throttles_are_retried_with_full_jitter_backoff(
    client: tuple[RetryingClient, Stubber], clock: FakeClock
) -> None:
    retrying, stubber = client
    throttle(stubber, 4)
    stubber.add_response("describe_table", OK)
    assert retrying.describe_table(TableName="tbl")["Table"]["TableName"] == "tbl"
    assert clock.sleeps == [0.05, 0.1, 0.2, 0.4]  # rng 1.0: the top of each jitter range
    assert retrying.counts() == CallCounts(requests=5, errors=4)
    assert retrying.counts().rate == pytest.approx(0.8)


def test_many_more_throttles_than_a_botocore_quota_allows_still_succeed(
    client: tuple[RetryingClient, Stubber], clock: FakeClock
) -> None:
    # botocore's standard mode: 500 tokens, 5 per throttling retry, so about 100 retries a client
    retrying, stubber = client
    for _ in range(300):
        throttle(stubber, 2)
        stubber.add_response("describe_table", OK)
    for _ in range(300):
        retrying.describe_table(TableName="tbl")
    assert retrying.counts() == CallCounts(requests=900, errors=600)
    stubber.assert_no_pending_responses()


def test_an_error_retrying_cannot_fix_is_raised_at_once(
    client: tuple[RetryingClient, Stubber], clock: FakeClock
) -> None:
    retrying, stubber = client
    stubber.add_client_error("describe_table", "ValidationException", http_status_code=400)
    with pytest.raises(ClientError, match="ValidationException"):
        retrying.describe_table(TableName="tbl")
    assert clock.sleeps == []
    assert retrying.counts() == CallCounts(requests=1, errors=0)


def test_server_errors_are_retried(client: tuple[RetryingClient, Stubber]) -> None:
    retrying, stubber = client
    stubber.add_client_error("describe_table", "InternalServerError", http_status_code=500)
    stubber.add_client_error("describe_table", "Whatever", http_status_code=503)
    stubber.add_response("describe_table", OK)
    assert retrying.describe_table(TableName="tbl") == OK
    assert retrying.counts().errors == 2


def test_an_endpoint_failing_every_attempt_is_given_up_after_the_stated_time(
    client: tuple[RetryingClient, Stubber], clock: FakeClock
) -> None:
    retrying, stubber = client
    throttle(stubber, 40, "ProvisionedThroughputExceededException")
    with pytest.raises(ClientError) as caught:
        retrying.describe_table(TableName="tbl")
    assert clock.now == 60.0  # the last attempt at the stated time
    assert "every attempt failed for" in caught.value.__notes__[0]
    assert "give up after 60 s" in caught.value.__notes__[0]


def test_attempts_are_bounded_too(clock: FakeClock) -> None:
    made = make_client("dynamodb", region="us-east-1", endpoint_url="http://127.0.0.1:9")
    made.policy = Backoff(max_attempts=3, clock=clock, sleep=clock.sleep, rng=lambda: 0.0)
    with Stubber(made.botocore_client) as stubber:
        throttle(stubber, 5)
        with pytest.raises(ClientError) as caught:
            made.describe_table(TableName="tbl")
    assert caught.value.__notes__ == ["gave up after 4 attempts"]
    assert made.counts() == CallCounts(requests=4, errors=3)


def test_no_attempt_starts_without_time_to_finish(
    client: tuple[RetryingClient, Stubber], clock: FakeClock
) -> None:
    retrying, _ = client
    bounded = retrying.until(0.2, clock)
    with pytest.raises(CallDeadlineError, match="too little to start a call"):
        bounded.describe_table(TableName="tbl")
    assert retrying.counts() == CallCounts()


def test_retries_stop_before_the_deadline(
    client: tuple[RetryingClient, Stubber], clock: FakeClock
) -> None:
    retrying, stubber = client
    throttle(stubber, 20)
    with pytest.raises(ClientError) as caught:
        retrying.until(1.0, clock).describe_table(TableName="tbl")
    assert clock.now <= 1.0
    assert caught.value.__notes__ == ["no time left before the deadline"]
    assert retrying.counts().requests > 1


def test_attempt_timeouts_shrink_to_the_time_left() -> None:
    assert attempt_timeouts(10.0, 2.0, 5.0) is None  # the configured ones fit
    assert attempt_timeouts(7.0, 2.0, 5.0) is None
    assert attempt_timeouts(4.1, 2.0, 5.0) == (1.0, 3.0)  # 4.0 s: a quarter to connect
    connect, read = attempt_timeouts(1.3, 2.0, 5.0) or (0.0, 0.0)
    assert connect + read == 1.25
    with pytest.raises(CallDeadlineError):
        attempt_timeouts(0.2, 2.0, 5.0)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ClientError({"Error": {"Code": "ThrottlingException"}}, "Scan"), True),
        (ClientError({"Error": {"Code": "LimitExceededException"}}, "GetRecords"), True),
        (
            ClientError(
                {"Error": {"Code": "X"}, "ResponseMetadata": {"HTTPStatusCode": 502}}, "Scan"
            ),
            True,
        ),
        (ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem"), False),
        (ClientError({"Error": {"Code": "AccessDeniedException"}}, "Scan"), False),
        (EndpointConnectionError(endpoint_url="http://x"), True),
    ],
)
def test_what_is_retried(error: Exception, expected: bool) -> None:
    assert retryable(error) is expected


def test_non_operations_are_the_botocore_clients(client: tuple[RetryingClient, Stubber]) -> None:
    retrying, _ = client
    inner: Any = retrying.botocore_client
    assert retrying.meta is inner.meta
    assert retrying.exceptions is inner.exceptions
    assert retrying.can_paginate("scan")


def test_describing_a_table_before_any_work_gives_up_sooner(clock: FakeClock) -> None:
    from dynamodb_replicator.dynamo.tables import DESCRIBE_GIVE_UP_AFTER, describe_table

    made = make_client("dynamodb", region="us-east-1", endpoint_url="http://127.0.0.1:9")
    made.policy = Backoff(clock=clock, sleep=clock.sleep, rng=lambda: 1.0)
    with Stubber(made.botocore_client) as stubber:
        for _ in range(40):
            stubber.add_client_error("describe_table", "ServiceUnavailable", http_status_code=503)
        with pytest.raises(ReplicatorError, match="give up after 10 s"):
            describe_table(made, "tbl")
    assert clock.now == DESCRIBE_GIVE_UP_AFTER
    assert made.policy.give_up_after == 60.0  # the job's own calls keep the stated time
