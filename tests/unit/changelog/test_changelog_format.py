"""Stream records -> change log lines and objects, and back, byte for byte (pure)."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamodb_replicator.changelog.format import (
    ChangeRecord,
    decode_line,
    decode_object,
    encode_line,
    encode_object,
    record_from_stream,
    whole_seconds,
)
from dynamodb_replicator.errors import ChangeLogError
from dynamodb_replicator.items import item_to_text
from unit.items.strategies import items, texts

BIG = "12345678901234567890123456789012345678"
TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def _lambda_record(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": 1700000000,
        "Keys": {"pk": {"S": "a"}, "sk": {"N": "1.50"}},
        "NewImage": {
            "pk": {"S": "a"},
            "sk": {"N": "1.5"},
            "n": {"N": BIG},
            "m": {"M": {"b": {"B": base64.b64encode(b"\x00\xff").decode()}}},
            "bs": {"BS": [base64.b64encode(b"x").decode()]},
            "e": {"S": ""},
        },
        "SequenceNumber": "111100000000000000000000000001",
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    record = {"eventID": "e1", "eventName": "INSERT", "dynamodb": body}
    record.update(over)
    return record


def test_lambda_record_keeps_every_digit_and_byte() -> None:
    record = record_from_stream(_lambda_record(), binary_as_text=True)
    assert record.new_image is not None
    assert record.new_image["n"] == {"N": BIG}
    assert record.new_image["m"] == {"M": {"b": {"B": b"\x00\xff"}}}
    assert record.keys == {"pk": {"S": "a"}, "sk": {"N": "1.50"}}  # as given, not normalised
    assert (record.time, record.time_unit, record.seconds) == ("1700000000", "s", 1700000000)
    line = encode_line(record)
    assert json.loads(line)["newImage"]["m"] == {"M": {"b": {"B": "AP8="}}}
    assert decode_line(line) == record
    assert encode_line(decode_line(line)) == line


def test_line_fields_in_documented_order_and_optional_fields_absent() -> None:
    raw = _lambda_record(eventName="REMOVE", userIdentity=TTL)
    raw["dynamodb"].pop("NewImage")
    raw["dynamodb"]["OldImage"] = {"pk": {"S": "a"}, "sk": {"N": "1.5"}}
    obj = json.loads(encode_line(record_from_stream(raw, binary_as_text=True)))
    assert list(obj) == [
        "format",
        "eventID",
        "sequenceNumber",
        "time",
        "timeUnit",
        "eventName",
        "keys",
        "oldImage",
        "userIdentity",
    ]
    assert obj["userIdentity"] == TTL


def test_streams_api_record_bytes_and_datetime_kept_exactly() -> None:
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    raw = {
        "eventID": "e2",
        "eventName": "MODIFY",
        "dynamodb": {
            "ApproximateCreationDateTime": stamp,
            "Keys": {"pk": {"B": b"\x01"}},
            "NewImage": {"pk": {"B": b"\x01"}, "l": {"L": [{"BS": [b"\x00", b""]}]}},
            "OldImage": {"pk": {"B": b"\x01"}},
            "SequenceNumber": "5",
        },
    }
    record = record_from_stream(raw, binary_as_text=False)
    assert record.time_unit == "us"
    assert record.seconds == int(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp())
    assert decode_line(encode_line(record)) == record


def test_fractional_epoch_seconds_kept_as_text_and_floored() -> None:
    raw = _lambda_record()
    raw["dynamodb"]["ApproximateCreationDateTime"] = 1700000000.999
    record = record_from_stream(raw, binary_as_text=True)
    assert (record.time, record.seconds) == ("1700000000.999", 1700000000)


@pytest.mark.parametrize(
    ("time", "unit", "seconds"),
    [
        ("1700000000", "s", 1700000000),
        ("1700000000999", "ms", 1700000000),
        ("1700000000999999", "us", 1700000000),
        ("1.7e9", "s", 1700000000),
        ("0.5", "s", 0),
    ],
)
def test_whole_seconds(time: str, unit: str, seconds: int) -> None:
    assert whole_seconds(time, unit) == seconds


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"eventName": "UPSERT"}, "unknown eventName"),
        ({"eventID": None}, "no eventID"),
        ({"dynamodb": {"SequenceNumber": "1"}}, "no ApproximateCreationDateTime"),
        ({"dynamodb": {"SequenceNumber": "x1"}}, "not a decimal string"),
    ],
)
def test_bad_stream_records_are_named(change: dict[str, Any], message: str) -> None:
    raw = _lambda_record()
    if "dynamodb" in change:
        raw["dynamodb"] = change["dynamodb"]
    else:
        raw.update(change)
    with pytest.raises(ChangeLogError, match=message):
        record_from_stream(raw, binary_as_text=True)


def test_bad_base64_in_lambda_image_is_refused() -> None:
    raw = _lambda_record()
    raw["dynamodb"]["NewImage"]["m"] = {"B": "not base64!"}
    with pytest.raises(ChangeLogError, match=r"record 1111.*base64"):
        record_from_stream(raw, binary_as_text=True)


def test_objects_are_deterministic_and_verified_line_by_line() -> None:
    records = [
        record_from_stream(_lambda_record(), binary_as_text=True),
        record_from_stream(
            _lambda_record(
                eventID="e9", dynamodb={**_lambda_record()["dynamodb"], "SequenceNumber": "9"}
            ),
            binary_as_text=True,
        ),
    ]
    first, again = encode_object(records), encode_object(records)
    assert first == again
    assert first.count == 2
    assert decode_object(first.data) == records
    text = gzip.decompress(first.data)
    with pytest.raises(ChangeLogError, match="truncated"):
        decode_object(gzip.compress(text[:-1]))
    lines = text.split(b"\n")
    lines[1] = lines[1].replace(b'"format":1', b'"format":2')
    with pytest.raises(ChangeLogError, match="line 2"):
        decode_object(gzip.compress(b"\n".join(lines)))
    with pytest.raises(ChangeLogError, match="not valid gzip"):
        decode_object(first.data[:-3])
    with pytest.raises(ChangeLogError, match="at least one"):
        encode_object([])


def test_a_line_with_a_float_is_refused() -> None:
    line = encode_line(record_from_stream(_lambda_record(), binary_as_text=True))
    with pytest.raises(ChangeLogError, match="fractional"):
        decode_line(line.replace('"userIdentity"', '"x"').replace("}", ',"x":1.5}', 1))


_event = st.sampled_from(["INSERT", "MODIFY", "REMOVE"])
_sequence = st.integers(0, 10**40).map(str)
_time = st.one_of(
    st.tuples(st.integers(0, 2**40).map(str), st.sampled_from(["s", "ms", "us"])),
    st.tuples(st.decimals(0, 10**10, places=3).map(str), st.just("s")),
)


@st.composite
def change_records(draw: st.DrawFn) -> ChangeRecord:
    time, unit = draw(_time)
    return ChangeRecord(
        event_id=draw(texts),
        sequence_number=draw(_sequence),
        time=time,
        time_unit=unit,
        event_name=draw(_event),
        keys=draw(items.filter(bool)),
        new_image=draw(st.none() | items),
        old_image=draw(st.none() | items),
        user_identity=draw(st.none() | st.just(TTL) | st.dictionaries(texts, texts)),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(change_records(), min_size=1, max_size=5))
def test_round_trip_any_records(records: list[ChangeRecord]) -> None:
    for record in records:
        line = encode_line(record)
        assert decode_line(line) == record
        assert encode_line(decode_line(line)) == line
    assert decode_object(encode_object(records).data) == records


@settings(max_examples=100, deadline=None)
@given(items.filter(bool), items)
def test_lambda_event_text_and_api_bytes_give_the_same_line(keys: Any, image: Any) -> None:
    def raw(k: Any, i: Any) -> dict[str, Any]:
        body = {"ApproximateCreationDateTime": 1, "Keys": k, "NewImage": i, "SequenceNumber": "1"}
        return {"eventID": "x", "eventName": "INSERT", "dynamodb": body}

    from_api = record_from_stream(raw(keys, image), binary_as_text=False)
    from_event = record_from_stream(
        raw(item_to_text(keys), item_to_text(image)), binary_as_text=True
    )
    assert encode_line(from_api) == encode_line(from_event)
