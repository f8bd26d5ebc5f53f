"""Parsing change records: Lambda Streams events, Kinesis payloads, boto3 records."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "events"))

from lambda_events import (
    kds_payload,
    kinesis_record,
    load_event,
    original_payload,
    stream_record,
)

from dynamodb_replicator.replicate import (
    RecordError,
    key_id_of,
    parse_batch,
    parse_kinesis_payload,
    parse_stream_record,
    record_identifier,
)


def key(k: str) -> dict[str, Any]:
    return {"pk": {"S": k}}


def test_stream_insert_converts_binary_once() -> None:
    record = stream_record("INSERT", key("a"), {**key("a"), "b": {"B": b"\x00\xff"}}, seq=7)
    change = parse_stream_record(record, binary_as_text=True, position=3)
    assert change.new_image == {"pk": {"S": "a"}, "b": {"B": b"\x00\xff"}}
    assert change.record_id == "000000000000000000007"
    assert change.position == 3
    assert change.rank == (0, 3)
    assert change.created_us == 1_700_000_000_000_000
    assert change.source == "dynamodb"


def test_boto3_record_keeps_bytes_and_reads_datetime() -> None:
    record = {
        "eventName": "MODIFY",
        "dynamodb": {
            "ApproximateCreationDateTime": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            "Keys": {"id": {"B": b"\x01"}},
            "NewImage": {"id": {"B": b"\x01"}, "x": {"BS": [b"\x02"]}},
            "SequenceNumber": "42",
        },
        "userIdentity": {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"},
    }
    change = parse_stream_record(record, binary_as_text=False)
    assert change.new_image == {"id": {"B": b"\x01"}, "x": {"BS": [b"\x02"]}}
    assert change.created_us == 1_704_067_200_000_000
    assert not change.ttl_delete  # a MODIFY is never a TTL delete


def test_ttl_delete_is_recognised() -> None:
    change = parse_stream_record(
        stream_record("REMOVE", key("a"), seq=1, ttl=True), binary_as_text=True
    )
    assert change.ttl_delete
    assert change.is_remove
    assert change.new_image is None


def test_all_types_event_round_trips_binary() -> None:
    (record,) = load_event("streams-all-types")["Records"]
    change = parse_stream_record(record, binary_as_text=True)
    assert change.new_image is not None
    assert change.new_image["b"] == {"B": bytes(range(256))}
    nested = change.new_image["m"]["M"]["l"]["L"]
    assert nested[2] == {"M": {"deep": {"B": b"\x04\x05"}}}
    assert change.new_image["n38"] == {"N": "12345678901234567890123456789012345678"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(eventName="UPSERT"), "unknown eventName 'UPSERT'"),
        (lambda r: r["dynamodb"].pop("Keys"), "dynamodb.Keys must be an object"),
        (lambda r: r["dynamodb"].update(Keys={}), "dynamodb.Keys is empty"),
        (lambda r: r["dynamodb"]["Keys"].update(pk={"S": ""}), "not a valid key value"),
        (lambda r: r["dynamodb"]["NewImage"].update(x={"B": "%%%"}), "invalid base64"),
        (lambda r: r["dynamodb"]["NewImage"].update(pk={"S": "other"}), "key attribute 'pk'"),
        (lambda r: r["dynamodb"].update(ApproximateCreationDateTime="soon"), "epoch seconds"),
    ],
)
def test_bad_stream_records_name_the_problem(mutate: Any, message: str) -> None:
    record = stream_record("INSERT", key("a"), {**key("a"), "x": {"N": "1"}}, seq=1)
    mutate(record)
    with pytest.raises(RecordError, match=message):
        parse_stream_record(record, binary_as_text=True)


def test_kinesis_precisions_give_microseconds() -> None:
    ms = kinesis_record(kds_payload("INSERT", key("a"), key("a"), created=1_000), seq=5)
    us = kinesis_record(
        kds_payload("INSERT", key("a"), key("a"), created=1_000, precision="MICROSECOND"), seq=6
    )
    batch = parse_batch([ms, us])
    assert [c.created_us for c in batch.changes] == [1_000_000, 1_000]
    assert [c.rank for c in batch.changes] == [(1_000_000, 5), (1_000, 6)]
    assert batch.record_ids == (f"{5:056d}", f"{6:056d}")


def test_original_tool_payload_has_no_creation_time() -> None:
    change = parse_kinesis_payload(
        json.dumps(original_payload("MODIFY", key("a"))).encode(), sequence_number="9"
    )
    assert change.source == "original-kinesis"
    assert change.created_us is None
    assert change.new_image is None
    assert change.rank == (0, 9)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (base64.b64encode(b"not json").decode(), "not JSON"),
        ("***", "not base64"),
        (base64.b64encode(b"[1]").decode(), "Kinesis data must be an object"),
    ],
)
def test_bad_kinesis_data(data: str, message: str) -> None:
    record = kinesis_record(original_payload("INSERT", key("a")), seq=1)
    record["kinesis"]["data"] = data
    failure = parse_batch([record]).failure
    assert failure is not None
    assert message in failure.reason
    assert failure.record_id == f"{1:056d}"


def test_unknown_precision_fails() -> None:
    payload = kds_payload("INSERT", key("a"), key("a"), created=1, precision="NANOSECOND")
    batch = parse_batch([kinesis_record(payload, seq=1)])
    assert batch.failure is not None
    assert "ApproximateCreationDateTimePrecision" in batch.failure.reason


def test_parse_batch_stops_at_first_bad_record() -> None:
    evt = load_event("streams-unknown-event")
    batch = parse_batch(evt["Records"])
    assert [c.position for c in batch.changes] == [0, 1]
    assert batch.failure is not None
    assert batch.failure.position == 2
    assert batch.failure.record_id == "000000000000000000103"
    assert "UPSERT" in batch.failure.reason
    assert len(batch.record_ids) == 5


def test_record_without_identifier_fails_the_batch() -> None:
    record = stream_record("INSERT", key("a"), key("a"), seq=1)
    del record["dynamodb"]["SequenceNumber"]
    with pytest.raises(RecordError, match=r"no dynamodb\.SequenceNumber"):
        parse_batch([record])
    with pytest.raises(RecordError, match=r"no kinesis\.sequenceNumber"):
        record_identifier({"kinesis": {}})


def test_empty_batch() -> None:
    batch = parse_batch([])
    assert batch.changes == ()
    assert batch.record_ids == ()
    assert batch.failure is None


@given(st.integers(min_value=-(10**37), max_value=10**37))
def test_key_identity_ignores_number_spelling(n: int) -> None:
    assert key_id_of({"k": {"N": str(n)}}) == key_id_of({"k": {"N": f"{n}.000"}})
    assert key_id_of({"k": {"N": str(n)}}) != key_id_of({"k": {"S": str(n)}})


def test_key_identity_ignores_attribute_order() -> None:
    a = {"h": {"S": "x"}, "r": {"B": b"\x01"}}
    b = {"r": {"B": bytearray(b"\x01")}, "h": {"S": "x"}}
    assert key_id_of(a) == key_id_of(b)


def test_a_number_key_spelled_two_ways_is_one_key() -> None:
    """Recorded on DynamoDB Local: Keys keep ``1.50`` as written, NewImage holds ``1.5``."""
    batch = parse_batch(load_event("streams-number-key-spellings")["Records"])
    assert batch.failure is None
    first, second, third = batch.changes
    assert first.key == {"pk": {"S": "a"}, "sk": {"N": "1.50"}}
    assert first.new_image is not None
    assert first.new_image["sk"] == {"N": "1.5"}
    assert first.key_id == second.key_id != third.key_id


def test_a_new_image_with_another_key_value_is_refused() -> None:
    record = stream_record("MODIFY", {"pk": {"N": "1.50"}}, {"pk": {"N": "1.51"}}, seq=1)
    with pytest.raises(RecordError, match="NewImage does not hold the record's key attribute"):
        parse_stream_record(record, binary_as_text=True)


def test_records_named_to_skip_are_skipped_with_their_keys() -> None:
    good = stream_record("INSERT", key("a"), {**key("a"), "v": {"N": "1"}}, seq=1)
    bad = stream_record("MODIFY", {"pk": {"N": "1"}}, {"pk": {"N": "2"}}, seq=2)
    later = stream_record("INSERT", key("c"), {**key("c")}, seq=3)
    unreadable = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "4", "Keys": "?"}}
    records = [good, bad, later, unreadable]
    assert parse_batch(records).failure is not None
    batch = parse_batch(records, skip=frozenset({"000000000000000000002", "4"}))
    assert batch.failure is None
    assert [c.position for c in batch.changes] == [0, 2]
    assert [(s.position, s.record_id) for s in batch.skipped] == [
        (1, "000000000000000000002"),
        (3, "4"),
    ]
    assert batch.skipped[0].keys == '{"pk":{"N":"1"}}'
    assert batch.skipped[1].keys == "unreadable"


def test_a_skipped_kinesis_record_names_its_keys() -> None:
    payload = kds_payload("MODIFY", {"pk": {"S": "k"}}, {"pk": {"S": "other"}}, created=1)
    record = kinesis_record(payload, seq=7)
    seq = record["kinesis"]["sequenceNumber"]
    batch = parse_batch([record], skip=frozenset({seq}))
    assert batch.changes == ()
    assert batch.skipped[0].keys == '{"pk":{"S":"k"}}'
