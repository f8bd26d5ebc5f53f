"""Text form <-> memory: base64 binary converted exactly once, strict validation with paths."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from strategies import items, values

from dynamodb_replicator.errors import ItemFormatError
from dynamodb_replicator.items import (
    TYPE_TAGS,
    item_from_text,
    item_to_text,
    value_from_text,
    value_to_text,
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _by_hand(value: Any) -> Any:
    """The Lambda-event text form of a value, built independently of the code under test."""
    ((tag, payload),) = value.items()
    if tag == "B":
        return {"B": _b64(payload)}
    if tag == "BS":
        return {"BS": [_b64(m) for m in payload]}
    if tag == "M":
        return {"M": {n: _by_hand(v) for n, v in payload.items()}}
    if tag == "L":
        return {"L": [_by_hand(v) for v in payload]}
    return {tag: payload}


def test_type_tags() -> None:
    assert {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"} == TYPE_TAGS


@settings(max_examples=200, deadline=None)
@given(items)
def test_text_round_trip(item: dict[str, Any]) -> None:
    text = item_to_text(item)
    assert text == {n: _by_hand(v) for n, v in item.items()}
    assert item_from_text(text) == item
    assert list(item_from_text(text)) == list(item)


@settings(max_examples=200, deadline=None)
@given(items)
def test_lambda_image_by_hand_gives_the_original_bytes(item: dict[str, Any]) -> None:
    image = {n: _by_hand(v) for n, v in item.items()}
    assert item_from_text(image) == item


@settings(max_examples=100, deadline=None)
@given(values())
def test_value_round_trip(value: dict[str, Any]) -> None:
    assert value_from_text(value_to_text(value)) == value


def test_nested_binary_example() -> None:
    image = {
        "pk": {"S": "k"},
        "bin": {"B": "AAEC/w=="},
        "set": {"BS": ["AA==", "/w=="]},
        "deep": {"M": {"l": {"L": [{"B": ""}, {"M": {"x": {"BS": ["AQ=="]}}}]}}},
    }
    item = item_from_text(image)
    assert item["bin"] == {"B": b"\x00\x01\x02\xff"}
    assert item["set"] == {"BS": [b"\x00", b"\xff"]}
    assert item["deep"] == {"M": {"l": {"L": [{"B": b""}, {"M": {"x": {"BS": [b"\x01"]}}}]}}}
    assert item_to_text(item) == image


def test_item_to_text_does_not_change_its_input() -> None:
    item = {"a": {"B": b"x"}, "m": {"M": {"b": {"BS": [b"y"]}}}}
    item_to_text(item)
    assert item == {"a": {"B": b"x"}, "m": {"M": {"b": {"BS": [b"y"]}}}}


def test_numbers_stay_strings() -> None:
    n = "12345678901234567890123456789012345678"
    assert item_from_text({"n": {"N": n}}) == {"n": {"N": n}}
    assert item_from_text({"n": {"N": "1.50"}}) == {"n": {"N": "1.50"}}


@pytest.mark.parametrize(
    ("image", "where", "what"),
    [
        ({"a": {"X": "1"}}, "'a'", "unknown type tag 'X'"),
        ({"a": {"S": "1", "N": "1"}}, "'a'", "exactly one type tag"),
        ({"a": {}}, "'a'", "exactly one type tag"),
        ({"a": "plain"}, "'a'", "expected an object"),
        ({"a": {"N": "1x"}}, "'a'", "not a number"),
        ({"a": {"N": 1}}, "'a'", "N must be a string"),
        ({"a": {"N": "NaN"}}, "'a'", "not a number"),
        ({"a": {"S": 5}}, "'a'", "S must be a string"),
        ({"a": {"B": "not base64!"}}, "'a'", "invalid base64"),
        ({"a": {"B": "QQ="}}, "'a'", "invalid base64"),
        ({"a": {"B": 5}}, "'a'", "base64 string"),
        ({"a": {"BOOL": "true"}}, "'a'", "BOOL"),
        ({"a": {"NULL": False}}, "'a'", "NULL must be true"),
        ({"a": {"SS": []}}, "'a'", "must not be empty"),
        ({"a": {"NS": []}}, "'a'", "must not be empty"),
        ({"a": {"BS": []}}, "'a'", "must not be empty"),
        ({"a": {"SS": "x"}}, "'a'", "must be a list"),
        ({"a": {"SS": ["x", 1]}}, "'a[1]'", "member must be a string"),
        ({"a": {"NS": ["1", 2]}}, "'a[1]'", "member must be a string"),
        ({"a": {"NS": ["1", "x"]}}, "'a[1]'", "not a number"),
        ({"a": {"BS": ["AA==", 3]}}, "'a[1]'", "base64 string"),
        ({"a": {"BS": ["AA==", "!!"]}}, "'a[1]'", "invalid base64"),
        ({"a": {"SS": ["x", "x"]}}, "'a'", "duplicate"),
        ({"a": {"BS": ["AA==", "AA=="]}}, "'a'", "duplicate"),
        ({"a": {"M": []}}, "'a'", "M must be an object"),
        ({"a": {"L": {}}}, "'a'", "L must be a list"),
        ({"a": {"M": {"b": {"L": [{"S": "x"}, {"N": "1"}, {"N": "oops"}]}}}}, "'a.b[2]'", "oops"),
        ({"a": {"L": [{"M": {"c": {"Q": 1}}}]}}, "'a[0].c'", "unknown type tag"),
        ({"a": {"M": {"b": {"BS": ["AA==", "A"]}}}}, "'a.b[1]'", "invalid base64"),
    ],
)
def test_item_from_text_errors_name_the_attribute(
    image: dict[str, Any], where: str, what: str
) -> None:
    with pytest.raises(ItemFormatError) as info:
        item_from_text(image)
    message = str(info.value)
    assert message.startswith(f"attribute {where}: "), message
    assert what in message
    assert info.value.hint


def test_item_from_text_rejects_non_objects() -> None:
    with pytest.raises(ItemFormatError, match="must be a JSON object"):
        item_from_text([])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "what"),
    [
        ({"a": {"B": "AA=="}}, "bytes in memory"),
        ({"a": {"BS": ["AA=="]}}, "bytes in memory"),
        ({"a": {"N": 1.5}}, "N must be a string"),
        ({"a": {"Z": 1}}, "unknown type tag"),
        ({"a": {"M": {"b": {"SS": []}}}}, "must not be empty"),
    ],
)
def test_item_to_text_rejects_malformed_memory_items(item: dict[str, Any], what: str) -> None:
    with pytest.raises(ItemFormatError, match=what):
        item_to_text(item)
