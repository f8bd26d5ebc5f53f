"""The Lambda path writes the event's text images as they are: the same bytes as encoding the
in-memory images again, and never a non-canonical base64 spelling."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from dynamodb_replicator.changelog.format import (
    decode_object,
    encode_line,
    encode_object,
    record_from_stream,
)
from dynamodb_replicator.items import text_is_canonical

BIG = "12345678901234567890123456789012345678"


def _event(image: dict[str, Any], user: Any = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventID": "e1",
        "eventName": "MODIFY",
        "dynamodb": {
            "SequenceNumber": "100",
            "ApproximateCreationDateTime": 1700000000,
            "Keys": {"pk": {"S": "a"}},
            "NewImage": image,
            "OldImage": {"pk": {"S": "a"}, "b": {"B": "AQID"}},
        },
    }
    if user is not None:
        record["userIdentity"] = user
    return json.loads(json.dumps(record))  # as Lambda hands it over: plain dicts and lists


IMAGE = {
    "pk": {"S": "a"}, "n": {"N": BIG}, "s": {"S": "é\u2028\x01\"\\"}, "e": {"S": ""},
    "b": {"B": "AA=="}, "b2": {"B": "AAE="}, "eb": {"B": ""},
    "bs": {"BS": ["AQ==", "Ag=="]}, "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", BIG]},
    "m": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": False}, {"B": "/w=="}]}}},
}  # fmt: skip


@pytest.mark.parametrize(
    "user", [None, {"type": "Service", "principalId": "dynamodb.amazonaws.com"}]
)
def test_passed_through_text_gives_the_same_bytes(user: Any) -> None:
    record = record_from_stream(_event(IMAGE, user), binary_as_text=True)
    assert record.text is not None
    slow = dataclasses.replace(record, text=None)
    assert encode_object([record]).data == encode_object([slow]).data
    assert encode_line(record) == encode_line(slow)
    assert decode_object(encode_object([record]).data) == [record]


@pytest.mark.parametrize(
    ("spelled", "canonical"),
    [("AB==", "AA=="), ("AAF=", "AAE="), ("/x==", "/w==")],
)
def test_a_non_canonical_base64_is_written_canonically(spelled: str, canonical: str) -> None:
    image = {"pk": {"S": "a"}, "m": {"M": {"l": {"L": [{"BS": ["AQ==", spelled]}]}}}}
    assert not text_is_canonical(image)
    record = record_from_stream(_event(image), binary_as_text=True)
    assert record.text is None  # not passed through
    line = json.loads(encode_line(record))
    assert line["newImage"]["m"]["M"]["l"]["L"][0]["BS"][1] == canonical
    assert encode_object([record]).data.startswith(b"\x1f\x8b")


def test_text_is_canonical_checks_every_binary_value() -> None:
    assert text_is_canonical(IMAGE)
    assert not text_is_canonical({"b": {"B": "AB=="}})
    assert not text_is_canonical({"l": {"L": [{"M": {"b": {"B": "AAF="}}}]}})
