"""The lean data path returns what botocore returns, against a real server.

Each test reads the same data through a plain botocore client and through a client from the
project's factory (lean path installed) and compares the parsed responses, ResponseMetadata
apart (request ids and dates differ per request).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dynamodb_replicator.dynamo import lean
from dynamodb_replicator.dynamo.clients import Auth
from dynamodb_replicator.dynamo.clients import make_client as factory_client
from dynamodb_replicator.items import items_equal
from helpers import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY, Endpoint, make_client, put_items

AUTH = Auth(access_key_id=DUMMY_ACCESS_KEY_ID, secret_access_key=DUMMY_SECRET_ACCESS_KEY)


def _lean_client(ddb: Endpoint, service: str = "dynamodb") -> Any:
    client = factory_client(service, region=ddb.region, endpoint_url=ddb.url, auth=AUTH)
    assert lean.is_installed(client)
    return client


def _item(i: int) -> dict[str, Any]:
    blob = bytes([i % 256, 0, 255])
    return {
        "pk": {"S": f"k{i:03d}"},
        "n38": {"N": "1234567890123456789012345678901234567" + str(i % 10)},
        "b": {"B": blob},
        "bs": {"BS": [blob, b"\x00" + blob]},
        "s": {"S": "" if i % 2 else "é\U0001f600\u2028"},
        "ss": {"SS": ["a", "ü"]},
        "ns": {"NS": ["1", "-1E-130"]},
        "m": {"M": {"l": {"L": [{"B": blob}, {"M": {"bs": {"BS": [blob]}}}, {"NULL": True}]}}},
        "bool": {"BOOL": i % 3 == 0},
    }


def _body(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


@pytest.mark.moto
def test_scan_and_query_pages_match_botocore(ddb: Endpoint, make_table: Any) -> None:
    table = make_table()
    plain = make_client("dynamodb", ddb)
    lean_client = _lean_client(ddb)
    put_items(lean_client, table, [_item(i) for i in range(30)])
    start: dict[str, Any] = {}
    pages = 0
    while True:
        args = {"TableName": table, "Limit": 7, "ConsistentRead": True, **start}
        expected, got = plain.scan(**args), lean_client.scan(**args)
        assert _body(got) == _body(expected)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
        pages += 1
        if "LastEvaluatedKey" not in got:
            break
        assert isinstance(got["LastEvaluatedKey"]["pk"]["S"], str)
        start = {"ExclusiveStartKey": got["LastEvaluatedKey"]}
    assert pages >= 5
    query = {
        "TableName": table,
        "KeyConditionExpression": "pk = :k",
        "ExpressionAttributeValues": {":k": {"S": "k005"}},
    }
    expected, got = plain.query(**query), lean_client.query(**query)
    assert _body(got) == _body(expected)
    assert len(got["Items"]) == 1
    assert items_equal(got["Items"][0], _item(5))


@pytest.mark.moto
def test_batch_get_matches_botocore(ddb: Endpoint, make_table: Any) -> None:
    table = make_table()
    lean_client = _lean_client(ddb)
    put_items(lean_client, table, [_item(i) for i in range(10)])
    keys = [{"pk": {"S": f"k{i:03d}"}} for i in range(12)]  # two do not exist
    request = {"RequestItems": {table: {"Keys": keys, "ConsistentRead": True}}}
    expected = make_client("dynamodb", ddb).batch_get_item(**request)
    got = lean_client.batch_get_item(**request)

    def by_key(response: dict[str, Any]) -> list[Any]:
        return sorted(response["Responses"][table], key=lambda item: item["pk"]["S"])

    assert by_key(got) == by_key(expected)
    assert all(items_equal(a, _item(i)) for i, a in enumerate(by_key(got)))
    assert got.get("UnprocessedKeys") == expected.get("UnprocessedKeys")


@pytest.mark.moto
def test_errors_match_botocore(ddb: Endpoint) -> None:
    plain, lean_client = make_client("dynamodb", ddb), _lean_client(ddb)
    caught = []
    for client in (plain, lean_client):
        with pytest.raises(ClientError) as error:
            client.scan(TableName="no-such-table-lean")
        caught.append(error.value.response)
    assert caught[1]["Error"] == caught[0]["Error"]
    assert caught[1]["Error"]["Code"] == "ResourceNotFoundException"
    assert (
        caught[1]["ResponseMetadata"]["HTTPStatusCode"]
        == caught[0]["ResponseMetadata"]["HTTPStatusCode"]
    )


@pytest.mark.moto
def test_get_records_match_botocore(ddb: Endpoint, make_table: Any) -> None:
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    data = make_client("dynamodb", ddb)
    put_items(data, table, [_item(i) for i in range(3)])
    arn = data.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    results = []
    for streams in (make_client("dynamodbstreams", ddb), _lean_client(ddb, "dynamodbstreams")):
        shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        records = []
        for shard in shards:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records.extend(streams.get_records(ShardIterator=iterator)["Records"])
        results.append(records)
    assert results[1] == results[0]
    images = sorted((r["dynamodb"]["NewImage"] for r in results[1]), key=lambda i: i["pk"]["S"])
    assert all(items_equal(a, _item(i)) for i, a in enumerate(images))
    assert base64.b64encode(images[0]["b"]["B"])  # bytes, not base64 text
