"""The chaos proxy itself, one fault kind at a time, with botocore's retries off: what the client
sees, and what reached the server (read directly)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from chaos.proxy import ChaosProxy, FaultPlan
from helpers import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY, Endpoint

pytestmark = pytest.mark.dynalite  # the proxy is server-agnostic: moto and dynalite

ITEM = {"pk": {"S": "a"}, "v": {"N": "1"}}


def _client(url: str, region: str) -> Any:
    """A DynamoDB client that does not retry: each call shows the fault it met."""
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=10),
    )


@pytest.fixture
def through(ddb: Endpoint) -> Iterator[Callable[..., Any]]:
    """Factory: a client (no retries) behind a proxy injecting only ``kind``, at rate 1."""
    proxies: list[ChaosProxy] = []

    def factory(kind: str, **plan: Any) -> Any:
        proxy = ChaosProxy(ddb.url, FaultPlan(seed=1, rate=1.0, weights={kind: 1}, **plan))
        proxies.append(proxy.start())
        return _client(proxy.url, ddb.region)

    yield factory
    for proxy in proxies:
        proxy.stop()


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [
        ("throttle", "ProvisionedThroughputExceededException", 400),
        ("throttling", "ThrottlingException", 400),
        ("500", "InternalServerError", 500),
        ("503", "ServiceUnavailableException", 503),
    ],
)
def test_errors_in_dynamodb_format_and_nothing_written(
    through: Callable[..., Any], ddb_client: Any, make_table: Callable[..., str],
    kind: str, code: str, status: int,
) -> None:  # fmt: skip
    table = make_table()
    with pytest.raises(ClientError) as caught:
        through(kind).put_item(TableName=table, Item=ITEM)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert "Item" not in ddb_client.get_item(TableName=table, Key={"pk": {"S": "a"}})


def test_reset_before_forwarding_writes_nothing(
    through: Callable[..., Any], ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        through("reset-before").put_item(TableName=table, Item=ITEM)
    assert "Item" not in ddb_client.get_item(TableName=table, Key={"pk": {"S": "a"}})


def test_reset_mid_response_after_the_server_acted(
    through: Callable[..., Any], ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    with pytest.raises(ConnectionClosedError):
        through("reset-after").put_item(TableName=table, Item=ITEM)
    assert ddb_client.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"] == ITEM


def test_partial_batch_write_forwards_only_the_rest(
    through: Callable[..., Any], ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    requests = [{"PutRequest": {"Item": {"pk": {"S": f"k{i:02d}"}}}} for i in range(25)]
    answer = through("unprocessed").batch_write_item(RequestItems={table: requests})
    held = answer["UnprocessedItems"][table]
    assert 0 < len(held) < 25
    stored = {i["pk"]["S"] for i in ddb_client.scan(TableName=table)["Items"]}
    assert stored | {r["PutRequest"]["Item"]["pk"]["S"] for r in held} == {
        f"k{i:02d}" for i in range(25)
    }
    assert stored.isdisjoint(r["PutRequest"]["Item"]["pk"]["S"] for r in held)


def test_partial_batch_get_hands_back_keys_with_their_options(
    through: Callable[..., Any], ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    keys = [{"pk": {"S": f"k{i:02d}"}} for i in range(20)]
    for key in keys:
        ddb_client.put_item(TableName=table, Item=key)
    answer = through("unprocessed").batch_get_item(
        RequestItems={table: {"Keys": keys, "ConsistentRead": True}}
    )
    left = answer["UnprocessedKeys"][table]
    assert left["ConsistentRead"] is True
    got = [i["pk"]["S"] for i in answer["Responses"].get(table, [])]
    assert sorted(got + [k["pk"]["S"] for k in left["Keys"]]) == [k["pk"]["S"] for k in keys]
    assert got
    assert left["Keys"]


def test_whole_batch_held_back_is_answered_without_the_server(
    through: Callable[..., Any], ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    requests = [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}} for i in range(3)]
    answer = through("unprocessed", hold=1.0).batch_write_item(RequestItems={table: requests})
    assert answer["UnprocessedItems"][table] == requests
    assert ddb_client.scan(TableName=table)["Items"] == []


def test_latency(through: Callable[..., Any], make_table: Callable[..., str]) -> None:
    table = make_table()
    client = through("latency", latency=(0.3, 0.3))
    started = time.monotonic()
    client.put_item(TableName=table, Item=ITEM)
    assert time.monotonic() - started >= 0.3


def test_same_seed_same_faults_and_a_clean_stop(
    ddb: Endpoint, make_table: Callable[..., str]
) -> None:
    table = make_table()
    threads = threading.active_count()
    runs = []
    for _ in range(2):
        with ChaosProxy(ddb.url, FaultPlan(seed=9, rate=0.3)) as proxy:
            client = _client(proxy.url, ddb.region)
            for i in range(40):
                with contextlib.suppress(
                    ClientError, ConnectionClosedError, EndpointConnectionError
                ):
                    client.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}})
            client.close()
        runs.append(proxy.counts())
    assert runs[0] == runs[1]
    assert runs[0]["requests"] == 40
    assert sum(runs[0].values()) > 40  # some faults
    assert threading.active_count() == threads
