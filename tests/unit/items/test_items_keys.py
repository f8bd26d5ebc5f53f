"""Key schema, key extraction and identity, plain keys, item size."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import fraction, items, numbers

from dynamodb_replicator.errors import ItemFormatError
from dynamodb_replicator.items import (
    KeySchema,
    extract_key,
    item_size,
    key_identity,
    parse_plain_key,
)

HASH_ONLY = KeySchema("pk", "S")
COMPOSITE = KeySchema("pk", "B", "sk", "N")


def test_schema_names_and_description() -> None:
    table = {
        "TableName": "t",
        "KeySchema": [
            {"AttributeName": "sk", "KeyType": "RANGE"},
            {"AttributeName": "pk", "KeyType": "HASH"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "gsi", "AttributeType": "S"},
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
    }
    schema = KeySchema.from_description(table)
    assert schema == KeySchema("pk", "S", "sk", "N")
    assert schema.names == ("pk", "sk")
    assert KeySchema.from_description({"Table": table}) == schema
    hash_only = {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "B"}],
    }
    assert KeySchema.from_description(hash_only) == KeySchema("id", "B")
    assert KeySchema.from_description(hash_only).names == ("id",)


@pytest.mark.parametrize(
    "table",
    [{}, {"KeySchema": [], "AttributeDefinitions": []},
     {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}], "AttributeDefinitions": []}],
)  # fmt: skip
def test_schema_description_errors(table: dict[str, Any]) -> None:
    with pytest.raises(ItemFormatError, match="key schema"):
        KeySchema.from_description(table)


def test_schema_validation() -> None:
    with pytest.raises(ItemFormatError):
        KeySchema("pk", "SS")
    with pytest.raises(ItemFormatError):
        KeySchema("pk", "S", "sk")


def test_extract_key_in_schema_order() -> None:
    item = {"data": {"S": "x"}, "sk": {"N": "1.0"}, "pk": {"B": b"\x01"}}
    key = extract_key(item, COMPOSITE)
    assert key == {"pk": {"B": b"\x01"}, "sk": {"N": "1.0"}}
    assert list(key) == ["pk", "sk"]
    assert extract_key(item | {"pk": {"S": "a"}}, HASH_ONLY) == {"pk": {"S": "a"}}


@pytest.mark.parametrize(
    ("item", "what"),
    [
        ({"sk": {"N": "1"}}, "'pk' is missing"),
        ({"pk": {"B": b"1"}}, "'sk' is missing"),
        ({"pk": {"S": "a"}, "sk": {"N": "1"}}, "'pk' must be of type B, got S"),
        ({"pk": {"B": b""}, "sk": {"N": "1"}}, "invalid B key value"),
        ({"pk": {"B": b"1"}, "sk": {"N": "x"}}, "invalid N key value"),
        ({"pk": {"B": b"1"}, "sk": {"N": "1", "S": "1"}}, "exactly one type tag"),
    ],
)
def test_extract_key_errors(item: dict[str, Any], what: str) -> None:
    with pytest.raises(ItemFormatError, match=what):
        extract_key(item, COMPOSITE)


def test_extract_key_rejects_empty_string_key() -> None:
    with pytest.raises(ItemFormatError, match="invalid S key value"):
        extract_key({"pk": {"S": ""}}, HASH_ONLY)


def test_key_identity() -> None:
    a = key_identity({"pk": {"B": b"\x01"}, "sk": {"N": "1.0"}}, COMPOSITE)
    b = key_identity({"sk": {"N": "1"}, "pk": {"B": bytearray(b"\x01")}, "x": {"S": ""}}, COMPOSITE)
    c = key_identity({"pk": {"B": b"\x01"}, "sk": {"N": "2"}}, COMPOSITE)
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    assert key_identity({"pk": {"S": "a"}}, HASH_ONLY) != key_identity(
        {"pk": {"S": "b"}}, HASH_ONLY
    )


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1), numbers, numbers)
def test_key_identity_follows_number_value(pk: str, n1: str, n2: str) -> None:
    schema = KeySchema("pk", "S", "sk", "N")
    k1 = {"pk": {"S": pk}, "sk": {"N": n1}}
    k2 = {"pk": {"S": pk}, "sk": {"N": n2}}
    same = key_identity(k1, schema) == key_identity(k2, schema)
    assert same == (fraction(n1) == fraction(n2))


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({}, 0),
        ({"a": {"S": "abc"}}, 1 + 3),
        ({"né": {"S": "\U0001f600"}}, 3 + 4),
        ({"b": {"B": b"\x00\x01"}}, 1 + 2),
        ({"b": {"B": b""}}, 1),
        ({"n": {"N": "123"}}, 1 + 2 + 1),  # 3 significant digits -> 2 bytes + 1
        ({"n": {"N": "1200"}}, 1 + 1 + 1),  # trailing zeros trimmed: 2 digits
        ({"n": {"N": "0.0012"}}, 1 + 1 + 1),  # leading zeros trimmed
        ({"n": {"N": "12345678901234567890123456789012345678"}}, 1 + 19 + 1),
        ({"t": {"BOOL": False}, "z": {"NULL": True}}, 2 + 2),
        ({"ss": {"SS": ["a", "bc"]}}, 2 + 3),
        ({"ns": {"NS": ["1", "12"]}}, 2 + 2 + 2),
        ({"bs": {"BS": [b"a", b"bc"]}}, 2 + 3),
        ({"m": {"M": {}}}, 1 + 3),
        ({"l": {"L": []}}, 1 + 3),
        # list: 3 overhead + elements + 1 byte per element
        ({"l": {"L": [{"S": "ab"}, {"NULL": True}]}}, 1 + 3 + (2 + 1) + (1 + 1)),
        # map: 3 overhead + names + values + 1 byte per element
        ({"m": {"M": {"xy": {"S": "a"}, "m2": {"M": {"q": {"BOOL": True}}}}}},
         1 + 3 + (2 + 1 + 1) + (2 + (3 + (1 + 1 + 1)) + 1)),
    ],
)  # fmt: skip
def test_item_size(item: dict[str, Any], size: int) -> None:
    assert item_size(item) == size


@settings(max_examples=100, deadline=None)
@given(items)
def test_item_size_is_at_least_names_and_raw_data(item: dict[str, Any]) -> None:
    names = sum(len(n.encode()) for n in item)
    assert item_size(item) >= names


def test_parse_plain_key() -> None:
    schema = KeySchema("pk", "S", "sk", "N")
    assert parse_plain_key({"pk": "a", "sk": 5}, schema) == {"pk": {"S": "a"}, "sk": {"N": "5"}}
    assert parse_plain_key({"sk": "1.50", "pk": "a"}, schema) == {
        "pk": {"S": "a"},
        "sk": {"N": "1.50"},
    }
    big = 12345678901234567890123456789012345678
    assert parse_plain_key({"pk": "a", "sk": big}, schema)["sk"] == {"N": str(big)}
    wire = {"pk": {"S": "a"}, "sk": {"N": "-2e3"}}
    assert parse_plain_key(wire, schema) == wire
    binary = KeySchema("id", "B")
    assert parse_plain_key({"id": "AAE="}, binary) == {"id": {"B": b"\x00\x01"}}
    assert parse_plain_key({"id": {"B": "AAE="}}, binary) == {"id": {"B": b"\x00\x01"}}
    assert list(parse_plain_key({"sk": 1, "pk": "a"}, schema)) == ["pk", "sk"]


@pytest.mark.parametrize(
    ("obj", "schema", "what"),
    [
        ({"pk": "a", "sk": 1.5}, COMPOSITE, "'pk'"),
        ({"pk": "AA==", "sk": 1.5}, COMPOSITE, "float"),
        ({"pk": "AA==", "sk": True}, COMPOSITE, "not a valid N value"),
        ({"pk": "AA==", "sk": "1x"}, COMPOSITE, "not a valid N value"),
        ({"pk": "AA==", "sk": None}, COMPOSITE, "not a valid N value"),
        ({"pk": "not base64!", "sk": 1}, COMPOSITE, "invalid base64"),
        ({"pk": "", "sk": 1}, COMPOSITE, "invalid B key value"),
        ({"pk": "AA=="}, COMPOSITE, "'sk' is missing"),
        ({"pk": "AA==", "sk": 1, "extra": 2}, COMPOSITE, "not key attributes: 'extra'"),
        ({"pk": 5}, HASH_ONLY, "not a valid S value"),
        ({"pk": ""}, HASH_ONLY, "invalid S key value"),
        ({"pk": {"N": "1"}}, HASH_ONLY, "must be of type S, got N"),
        ({"pk": {"S": 1}}, HASH_ONLY, "S must be a string"),
    ],
)
def test_parse_plain_key_errors(obj: dict[str, Any], schema: KeySchema, what: str) -> None:
    with pytest.raises(ItemFormatError, match=what):
        parse_plain_key(obj, schema)


def test_plain_json_numbers_stay_exact_and_typed() -> None:
    import json

    from dynamodb_replicator.items import JsonNumber

    schema = KeySchema("pk", "S", "n", "N")

    def parse(text: str) -> dict[str, object]:
        return parse_plain_key(
            json.loads(text, parse_float=JsonNumber, parse_int=JsonNumber), schema
        )

    big = "1234567890123456789012345678901234567.8"
    assert parse(f'{{"pk": "a", "n": {big}}}') == {"pk": {"S": "a"}, "n": {"N": big}}
    assert parse('{"pk": "a", "n": 1e0}') == {"pk": {"S": "a"}, "n": {"N": "1e0"}}
    with pytest.raises(ItemFormatError, match="not a valid S value"):
        parse('{"pk": 5, "n": 1}')
    with pytest.raises(ItemFormatError, match="more than 38 significant digits"):
        parse('{"pk": "a", "n": 12345678901234567890123456789012345678901}')
