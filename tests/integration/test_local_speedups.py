"""The embedded server's fast attribute-value encoder writes exactly what moto's own writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from dynamodb_replicator.local import LocalServer
from dynamodb_replicator.local.sample import sample_items
from dynamodb_replicator.local.speedups import encode_attribute_value

pytest.importorskip("moto")

NESTED: dict[str, Any] = {
    "pk": {"S": "nested"},
    "m": {
        "M": {
            "b": {"B": b"\x00\xff"},
            "l": {"L": [{"BS": [b"a", b"\x01"]}, {"NULL": True}, {"BOOL": False}]},
            "n": {"N": "12345678901234567890123456789012345678"},
            "e": {"S": ""},
            "ss": {"SS": ["x", "y"]},
            "ns": {"NS": ["1", "2.5"]},
        }
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


def _client(server: LocalServer, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="AKIALOCALTESTING0000",
        aws_secret_access_key="localtestingsecretaccesskey0000000000000",
    )


def _raw_bodies(client: Any, call: str, **kwargs: Any) -> bytes:
    bodies: list[bytes] = []

    def keep(response_dict: dict[str, Any], **_: Any) -> None:
        bodies.append(response_dict["body"])

    client.meta.events.register("before-parse", keep)
    try:
        getattr(client, call)(**kwargs)
    finally:
        client.meta.events.unregister("before-parse", keep)
    return b"".join(bodies)


def _with_and_without(call: Any) -> tuple[bytes, bytes]:
    from moto.core import serialize

    fast = call()
    saved = {
        s: serialize.SERVICE_SPECIFIC_SERIALIZERS.pop(s) for s in ("dynamodb", "dynamodbstreams")
    }
    try:
        generic = call()
    finally:
        serialize.SERVICE_SPECIFIC_SERIALIZERS.update(saved)
    return fast, generic


def test_scan_get_and_stream_records_are_byte_for_byte_moto_s(server: LocalServer) -> None:
    ddb = _client(server, "dynamodb")
    table = "speedups-check"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    items = [*sample_items(20), NESTED]
    for item in items:
        ddb.put_item(TableName=table, Item=item)
    scan = _with_and_without(lambda: _raw_bodies(ddb, "scan", TableName=table))
    assert scan[0] == scan[1]
    assert b'"B": "AP8="' in scan[0]  # binary base64-encoded once
    keys = [{"pk": i["pk"]} for i in items]
    got = _with_and_without(
        lambda: _raw_bodies(ddb, "batch_get_item", RequestItems={table: {"Keys": keys}})
    )
    assert got[0] == got[1]
    streams = _client(server, "dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def records() -> bytes:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return _raw_bodies(streams, "get_records", ShardIterator=iterator)

    fast, generic = (_stable(body) for body in _with_and_without(records))
    assert len(fast["Records"]) == len(items)
    assert fast == generic


def _stable(body: bytes) -> dict[str, Any]:
    """A GetRecords body without what differs on every call (event ids, the next iterator)."""
    parsed: dict[str, Any] = json.loads(body)
    parsed.pop("NextShardIterator", None)
    for record in parsed["Records"]:
        record.pop("eventID", None)
    return parsed


@pytest.mark.parametrize("value", [{"S": "a", "N": "1"}, {"S": None}, "text", {"M": {"x": 1}}])
def test_anything_else_falls_back_to_moto_s_encoder(value: Any) -> None:
    assert encode_attribute_value(value, lambda b: "") is None
