"""JSON Lines: byte-for-byte round trips, clear errors, report keys."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from strategies import items

from dynamodb_replicator.errors import ItemFormatError
from dynamodb_replicator.items import decode_item, encode_item, encode_key_for_report, jsonl


@settings(max_examples=200, deadline=None)
@given(items)
def test_round_trip_both_directions(item: dict[str, Any]) -> None:
    line = encode_item(item)
    assert "\n" not in line
    decoded = decode_item(line)
    assert decoded == item
    assert list(decoded) == list(item)
    assert encode_item(decoded) == line
    assert decode_item(line.encode("utf-8")) == item
    assert encode_item(decode_item(line.encode("utf-8"))) == line


def test_line_format() -> None:
    item = {
        "pk": {"S": "é\U0001f600\x00"},
        "n": {"N": "12345678901234567890123456789012345678"},
        "b": {"B": b"\x00\xff"},
        "z": {"NULL": True},
    }
    line = encode_item(item)
    assert line == (
        '{"pk":{"S":"é\U0001f600\\u0000"},"n":{"N":"12345678901234567890123456789012345678"},'
        '"b":{"B":"AP8="},"z":{"NULL":true}}'
    )
    assert decode_item(line + "\n") == item


def test_attribute_order_is_kept() -> None:
    item = {"z": {"S": "1"}, "a": {"M": {"y": {"N": "1"}, "b": {"N": "2"}}}}
    assert encode_item(item) == '{"z":{"S":"1"},"a":{"M":{"y":{"N":"1"},"b":{"N":"2"}}}}'


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ('{"a":{"S":"x"}} trailing', "not valid JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        ("[]", "not an object"),
        ('"x"', "not an object"),
        ("null", "not an object"),
        ('{"a":{"N":1}}', "N must be a string"),
        ('{"a":{"N":"1e"}}', "not a number"),
        ('{"a":{"S":"x"},"a":{"S":"y"}}', "duplicate name"),
        ('{"a":{"S":"x","S":"y"}}', "duplicate name"),
        ('{"a":{"N":NaN}}', "N must be a string"),
        ('{"a":{"B":"%%%"}}', "attribute 'a': invalid base64"),
    ],
)
def test_decode_errors(line: str | bytes, what: str) -> None:
    with pytest.raises(ItemFormatError, match=what):
        decode_item(line)


def test_numbers_in_lines_are_never_floats() -> None:
    line = '{"n":{"N":"0.1000000000000000000000000000000000001"},"s":{"NS":["1E+125","-1e-130"]}}'
    item = decode_item(line)
    assert item["n"] == {"N": "0.1000000000000000000000000000000000001"}
    assert encode_item(item) == line


def test_encode_key_for_report() -> None:
    item = {"other": {"S": "x"}, "sk": {"N": "1"}, "pk": {"S": "a"}}
    assert encode_key_for_report(item, ["pk", "sk"]) == '{"pk":{"S":"a"},"sk":{"N":"1"}}'
    assert encode_key_for_report({"pk": {"B": b"\x01"}}, ("pk",)) == '{"pk":{"B":"AQ=="}}'
    assert json.loads(encode_key_for_report({"pk": {"S": "é"}}, ["pk"])) == {"pk": {"S": "é"}}


def test_encode_key_for_report_missing_attribute() -> None:
    with pytest.raises(ItemFormatError, match="'sk' is missing"):
        encode_key_for_report({"pk": {"S": "a"}}, ["pk", "sk"])


def _strict(line: str | bytes) -> Any:
    """decode_item with the canonical fast path turned off."""
    with mock.patch.object(jsonl, "_ORJSON", None):
        return decode_item(line)


@settings(max_examples=200, deadline=None)
@given(items)
def test_canonical_lines_take_the_fast_path_and_agree(item: dict[str, Any]) -> None:
    line = encode_item(item)
    assert jsonl._decode_canonical(line.encode("utf-8")) is not None
    assert decode_item(line.encode("utf-8")) == _strict(line) == item


@pytest.mark.parametrize(
    "line",
    [
        '{"a": {"S": "x"}}',
        '{"a":{"S":"\\u00e9"}}',
        '{"a":{"S":"\\/"}}',
        '{"a":{"S":"\\ud800"}}',
        '{"a":{"S":"x"}}\x0c',
        '{"a":{"N":1e5}}',
        '{"a":{"N":123456789012345678901234567890}}',
        '{"a":{"S":"x"},"a":{"S":"x"}}',
        '{"a":{"M":{"b":{"S":"x"},"b":{"S":"x"}}}}',
    ],
)
def test_other_lines_take_the_strict_path(line: str) -> None:
    assert jsonl._decode_canonical(line) is None
    try:
        expected: Any = _strict(line)
    except ItemFormatError as exc:
        expected = str(exc)
    try:
        got: Any = decode_item(line)
    except ItemFormatError as exc:
        got = str(exc)
    assert got == expected


def test_json_whitespace_around_a_canonical_line_is_allowed() -> None:
    line = '\t{"a":{"S":"x"}}\r\n'
    assert jsonl._decode_canonical(line) == {"a": {"S": "x"}}
    assert decode_item(line) == _strict(line) == {"a": {"S": "x"}}
