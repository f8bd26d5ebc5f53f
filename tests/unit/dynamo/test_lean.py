"""The lean data path parses and serializes exactly as botocore does (no server needed)."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import JSONParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamodb_replicator.dynamo import lean
from dynamodb_replicator.items import item_to_text
from unit.items.strategies import items, names, texts

TABLE = "t"


def _client(service: str = "dynamodb", *, validate: bool = False) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(parameter_validation=validate, retries={"max_attempts": 1}),
    )


_DDB = _client()
_STREAMS = _client("dynamodbstreams")
lean.install(_DDB)
lean.install(_STREAMS)


def _shape(client: Any, operation: str) -> Any:
    return client.meta.service_model.operation_model(operation).output_shape


def _parse_both(client: Any, operation: str, body: bytes, status: int = 200) -> tuple[Any, Any]:
    """(botocore's parse, the lean parse) of one HTTP response."""
    shape = _shape(client, operation)
    headers = {"x-amzn-RequestId": "REQ1", "Content-Type": "application/x-amz-json-1.0"}

    def response() -> dict[str, Any]:
        return {"status_code": status, "headers": dict(headers), "body": body}

    reference = JSONParser().parse(response(), shape)
    factory = client._endpoint._response_parser_factory
    return reference, factory.create_parser("json").parse(response(), shape)


def _assert_same(client: Any, operation: str, payload: Any, encoding: str) -> None:
    if encoding == "ascii":
        body = json.dumps(payload).encode()
    elif encoding == "utf8":
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    else:
        body = orjson.dumps(payload)
    reference, parsed = _parse_both(client, operation, body)
    assert parsed == reference
    # Byte-identical, types included (bytes vs str, int vs float, member order).
    assert repr(parsed) == repr(reference)


wire_items = items.map(item_to_text)
encodings = st.sampled_from(["ascii", "utf8", "orjson"])
capacity = st.fixed_dictionaries(
    {"TableName": st.just(TABLE), "CapacityUnits": st.sampled_from([0.5, 1, 2.5, 128.0])},
    optional={"ReadCapacityUnits": st.just(0.5), "Table": st.just({"CapacityUnits": 1.0})},
)

scan_outputs = st.fixed_dictionaries(
    {"Items": st.lists(wire_items, max_size=4), "Count": st.integers(0, 4)},
    optional={
        "ScannedCount": st.integers(0, 10**6),
        "LastEvaluatedKey": wire_items,
        "ConsumedCapacity": capacity,
        "SomethingNew": st.just({"x": 1}),
    },
)
batch_get_outputs = st.fixed_dictionaries(
    {"Responses": st.dictionaries(st.just(TABLE), st.lists(wire_items, max_size=3))},
    optional={
        "UnprocessedKeys": st.dictionaries(
            st.just(TABLE),
            st.fixed_dictionaries(
                {"Keys": st.lists(wire_items, min_size=1, max_size=3)},
                optional={
                    "ConsistentRead": st.booleans(),
                    "ProjectionExpression": texts,
                    "ExpressionAttributeNames": st.dictionaries(names, texts, max_size=2),
                },
            ),
        ),
        "ConsumedCapacity": st.lists(capacity, max_size=2),
    },
)
write_requests = st.one_of(
    wire_items.map(lambda i: {"PutRequest": {"Item": i}}),
    wire_items.map(lambda k: {"DeleteRequest": {"Key": k}}),
)
batch_write_outputs = st.fixed_dictionaries(
    {},
    optional={
        "UnprocessedItems": st.dictionaries(
            st.just(TABLE), st.lists(write_requests, min_size=1, max_size=3)
        ),
        "ConsumedCapacity": st.lists(capacity, max_size=2),
        "ItemCollectionMetrics": st.dictionaries(
            st.just(TABLE),
            st.lists(
                st.fixed_dictionaries(
                    {"ItemCollectionKey": wire_items, "SizeEstimateRangeGB": st.just([0.0, 1.0])}
                ),
                max_size=1,
            ),
        ),
    },
)
stream_records = st.fixed_dictionaries(
    {
        "eventID": texts,
        "eventName": st.sampled_from(["INSERT", "MODIFY", "REMOVE"]),
        "eventVersion": st.just("1.1"),
        "eventSource": st.just("aws:dynamodb"),
        "awsRegion": st.just("us-east-1"),
        "dynamodb": st.fixed_dictionaries(
            {
                "Keys": wire_items,
                "SequenceNumber": st.integers(0, 10**30).map(str),
                "SizeBytes": st.integers(1, 400_000),
                "StreamViewType": st.just("NEW_AND_OLD_IMAGES"),
            },
            optional={
                "ApproximateCreationDateTime": st.sampled_from([1.7e9, 1700000000, 1.7e9 + 0.123]),
                "NewImage": wire_items,
                "OldImage": wire_items,
            },
        ),
    },
    optional={
        "userIdentity": st.just({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
    },
)
get_records_outputs = st.fixed_dictionaries(
    {"Records": st.lists(stream_records, max_size=3)},
    optional={"NextShardIterator": texts},
)

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(scan_outputs, encodings)
def test_scan_and_query_parse_like_botocore(payload: Any, encoding: str) -> None:
    _assert_same(_DDB, "Scan", payload, encoding)
    _assert_same(_DDB, "Query", payload, encoding)


@_SETTINGS
@given(batch_get_outputs, encodings)
def test_batch_get_parses_like_botocore(payload: Any, encoding: str) -> None:
    _assert_same(_DDB, "BatchGetItem", payload, encoding)


@_SETTINGS
@given(batch_write_outputs, encodings)
def test_batch_write_parses_like_botocore(payload: Any, encoding: str) -> None:
    _assert_same(_DDB, "BatchWriteItem", payload, encoding)


@_SETTINGS
@given(get_records_outputs, encodings)
def test_get_records_parses_like_botocore(payload: Any, encoding: str) -> None:
    _assert_same(_STREAMS, "GetRecords", payload, encoding)


def test_binary_is_converted_at_every_depth() -> None:
    b64 = base64.b64encode(b"\x00\xff").decode()
    item = {
        "b": {"B": b64},
        "bs": {"BS": [b64, ""]},
        "m": {"M": {"l": {"L": [{"B": b64}, {"M": {"bs": {"BS": [b64]}}}]}}},
        "n": {"N": "12345678901234567890123456789012345678"},
        "s": {"S": ""},
    }
    reference, parsed = _parse_both(_DDB, "Scan", orjson.dumps({"Items": [item]}))
    assert parsed == reference
    got = parsed["Items"][0]
    assert got["b"] == {"B": b"\x00\xff"}
    assert got["bs"] == {"BS": [b"\x00\xff", b""]}
    assert got["m"]["M"]["l"]["L"][1]["M"]["bs"] == {"BS": [b"\x00\xff"]}
    assert got["n"] == {"N": "12345678901234567890123456789012345678"}


@pytest.mark.parametrize(
    "body",
    [
        # Odd bodies orjson reads differently from json.loads, or refuses: botocore decides.
        b'{"Items": [], "Count": 123456789012345678901234567890}',
        b'{"Items": [{"s": {"S": "\\ud800"}}], "Count": 1}',
        b'{"Items": [], "Count": 1, "ScannedCount": NaN}',
        b'{"Items": [{"x": {"UNKNOWN_TYPE": "1"}}], "Count": 1}',
        b'{"Items": [{"x": {"S": "a", "N": null}}], "Count": 1}',
        b'{"Items": [{"x": {"S": "a", "N": "1"}}], "Count": 1}',
        b'{"Items": [{"x": {"M": [1]}, "y": {"L": {}}, "z": {"BS": "AA=="}}], "Count": 1}',
        b'{"Items": [{"x": null}], "Count": 1}',
        b'{"Items": [null], "Count": 1}',
        b"not json",
        b'{"Items": [{"l": {"L": [null]}, "bs": {"BS": ["AA==", null]}}], "Count": 1}',
        b"",
    ],
)
def test_odd_bodies_parse_like_botocore(body: bytes) -> None:
    shape = _shape(_DDB, "Scan")
    lean_parser = _DDB._endpoint._response_parser_factory.create_parser("json")

    def outcome(parser: Any) -> str:
        try:
            return repr(parser.parse({"status_code": 200, "headers": {}, "body": body}, shape))
        except Exception as exc:  # the same failure counts as the same result
            return f"raised {type(exc).__name__}"

    assert outcome(lean_parser) == outcome(JSONParser())


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            400,
            b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}',
        ),
        (
            400,
            b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"rate"}',
        ),
        (
            400,
            b'{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no"}',
        ),
        (500, b'{"__type":"com.amazon.coral.service#InternalFailure"}'),
        (503, b""),
    ],
)
def test_errors_parse_like_botocore(status: int, body: bytes) -> None:
    for operation in ("Scan", "BatchWriteItem", "BatchGetItem"):
        reference, parsed = _parse_both(_DDB, operation, body, status)
        assert repr(parsed) == repr(reference)


def test_other_operations_keep_botocore_parsing() -> None:
    body = b'{"Item": {"b": {"B": "AP8="}}}'
    reference, parsed = _parse_both(_DDB, "GetItem", body)
    assert repr(parsed) == repr(reference)


# --- requests ---------------------------------------------------------------------------------


def _captured_body(client: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body ``client`` would send for ``operation`` (captured before sending)."""
    captured: dict[str, Any] = {}

    def capture(request: Any, **_: Any) -> None:
        captured["body"] = request.body
        captured["headers"] = dict(request.headers)
        raise _Captured

    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(event, capture)
    try:
        with pytest.raises(_Captured):
            getattr(client, _snake(operation))(**params)
    finally:
        client.meta.events.unregister(event, capture)
    body = captured["body"]
    return {
        "json": json.loads(body),
        "target": captured["headers"]["X-Amz-Target"],
        "type": captured["headers"]["Content-Type"],
    }


class _Captured(Exception):
    pass


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


@_SETTINGS
@given(st.lists(items, min_size=1, max_size=5), wire_items)
def test_bulk_requests_serialize_like_botocore(batch: list[Any], key: Any) -> None:
    plain = _client(validate=False)
    direct = _client(validate=False)
    lean.install(direct)
    assert isinstance(direct._serializer, lean._DirectSerializer)
    requests = {
        "BatchWriteItem": {
            "RequestItems": {
                TABLE: [{"PutRequest": {"Item": i}} for i in batch]
                + [{"DeleteRequest": {"Key": batch[0]}}]
            },
            "ReturnConsumedCapacity": "TOTAL",
        },
        "BatchGetItem": {"RequestItems": {TABLE: {"Keys": batch, "ConsistentRead": True}}},
        "Scan": {
            "TableName": TABLE,
            "Segment": 1,
            "TotalSegments": 4,
            "Limit": 10,
            "ExclusiveStartKey": batch[0],
            "ConsistentRead": False,
        },
        "Query": {
            "TableName": TABLE,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": "pk"},
            "ExpressionAttributeValues": {":v": {"B": b"\x00"}},
        },
    }
    for operation, params in requests.items():
        assert _captured_body(direct, operation, params) == _captured_body(plain, operation, params)


def test_validating_client_keeps_botocore_serializer() -> None:
    client = _client(validate=True)
    assert lean.install(client)
    assert lean.is_installed(client)
    assert not isinstance(client._serializer, lean._DirectSerializer)


def test_install_is_idempotent_and_other_protocols_refused() -> None:
    client = _client()
    assert lean.install(client)
    assert lean.install(client)
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    assert not lean.install(s3)
    assert not lean.is_installed(s3)


def test_client_factory_installs_lean_path() -> None:
    from dynamodb_replicator.dynamo.clients import make_client

    for service in ("dynamodb", "dynamodbstreams"):
        client = make_client(service, region="us-east-1", endpoint_url="http://127.0.0.1:9")
        assert lean.is_installed(client)
        assert isinstance(
            client.botocore_client._serializer, lean._DirectSerializer
        )  # validation is off
    s3 = make_client("s3", region="us-east-1", endpoint_url="http://127.0.0.1:9")
    assert not lean.is_installed(s3)


def test_stubber_responses_bypass_parsing_unchanged() -> None:
    """Stubbed responses (the fault tests) reach callers exactly as given."""
    from botocore.stub import Stubber

    client = _client()
    lean.install(client)
    response = {"UnprocessedItems": {TABLE: [{"PutRequest": {"Item": {"b": {"B": b"\x00"}}}}]}}
    with Stubber(client) as stub:
        stub.add_response("batch_write_item", response)
        stub.add_client_error(
            "scan", "ProvisionedThroughputExceededException", http_status_code=400
        )
        assert client.batch_write_item(RequestItems={TABLE: []}) == response
        with pytest.raises(ClientError) as caught:
            client.scan(TableName=TABLE)
    assert caught.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"


# --- whole client calls on canned HTTP responses (faults a server cannot produce on demand) -----


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _answer(client: Any, status: int, body: bytes) -> None:
    from botocore.awsrequest import AWSResponse

    def send(request: Any, **_: Any) -> AWSResponse:
        headers = {"x-amzn-RequestId": "R1", "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, status, headers, _Raw(body))

    client.meta.events.register("before-send.dynamodb.*", send)


def _both(status: int, body: bytes, call: Any) -> tuple[Any, Any]:
    """``call(client)`` on a plain client and a lean one answered with the same response."""
    outcomes = []
    for install in (False, True):
        client = _client()
        if install:
            lean.install(client)
        _answer(client, status, body)
        try:
            outcomes.append(call(client))
        except ClientError as exc:
            outcomes.append(("ClientError", exc.response))
    return outcomes[0], outcomes[1]


def test_unprocessed_items_and_keys_reach_callers_like_botocore() -> None:
    item = item_to_text({"pk": {"S": "a"}, "b": {"B": b"\x00\xff"}})
    body = orjson.dumps(
        {
            "UnprocessedItems": {TABLE: [{"PutRequest": {"Item": item}}]},
            "ConsumedCapacity": [{"TableName": TABLE, "CapacityUnits": 1.0}],
        }
    )
    expected, got = _both(200, body, lambda c: c.batch_write_item(RequestItems={TABLE: []}))
    assert got == expected
    assert got["UnprocessedItems"][TABLE][0]["PutRequest"]["Item"]["b"] == {"B": b"\x00\xff"}
    body = orjson.dumps({"Responses": {TABLE: []}, "UnprocessedKeys": {TABLE: {"Keys": [item]}}})
    expected, got = _both(200, body, lambda c: c.batch_get_item(RequestItems={TABLE: {}}))
    assert got == expected
    assert got["UnprocessedKeys"][TABLE]["Keys"] == [{"pk": {"S": "a"}, "b": {"B": b"\x00\xff"}}]


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"],
)
def test_throttling_raises_like_botocore(code: str) -> None:
    body = orjson.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "slow"})
    expected, got = _both(400, body, lambda c: c.scan(TableName=TABLE))
    assert got == expected
    assert got[1]["Error"]["Code"] == code


def test_environment_switch_keeps_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lean.ENV_SWITCH, "0")
    client = _client()
    assert not lean.install(client)
    assert not lean.is_installed(client)


@pytest.mark.parametrize(
    ("version", "tested"),
    [("1.34.0", True), ("1.43.11", True), ("1.33.9", False), ("1.44.0", False), ("2.0", False)],
)
def test_only_tested_botocore_releases_get_the_lean_path(version: str, tested: bool) -> None:
    assert lean._tested_botocore(version) is tested


def test_untested_botocore_or_no_orjson_keeps_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lean.botocore, "__version__", "1.99.0")
    assert not lean.install(_client())
    monkeypatch.undo()
    monkeypatch.setattr(lean, "orjson", None)
    assert not lean.install(_client())


def test_every_table_client_gets_the_lean_path() -> None:
    """Backup, restore, diff, follower and the Lambda replicator all build clients this way."""
    from dynamodb_replicator.dynamo import TableSpec, parse_table_address

    spec = TableSpec(parse_table_address("127.0.0.1:9/table", environ={"AWS_REGION": "us-east-1"}))
    assert lean.is_installed(spec.client())
    assert lean.is_installed(spec.streams_client(environ={}))


def test_first_parses_from_many_threads_agree() -> None:
    """Converters are compiled once under a lock: no thread sees a half-built one."""
    from concurrent.futures import ThreadPoolExecutor

    item = {"b": {"B": "AP8="}, "m": {"M": {"l": {"L": [{"BS": ["AA=="]}]}}}}
    body = orjson.dumps({"Items": [item] * 50, "Count": 50})
    shape = _shape(_DDB, "Scan")
    expected = JSONParser().parse({"status_code": 200, "headers": {}, "body": body}, shape)
    for _ in range(5):
        client = _client()
        lean.install(client)
        factory = client._endpoint._response_parser_factory

        def parse(_: int, factory: Any = factory) -> Any:
            response = {"status_code": 200, "headers": {}, "body": body}
            return factory.create_parser("json").parse(response, shape)

        with ThreadPoolExecutor(8) as pool:
            assert all(got == expected for got in pool.map(parse, range(16)))
