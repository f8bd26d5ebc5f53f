"""The Lambda handler end to end against the test server, with events as Lambda sends them."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "events"))

from lambda_events import event, ids, load_event, stream_record

from dynamodb_replicator.errors import ConfigError, UsageError
from dynamodb_replicator.items import item_from_text, items_equal
from dynamodb_replicator.lambda_handler import build_handler
from helpers import put_items, scan_all


class Context:
    """The part of Lambda's context object the handler uses."""

    def __init__(self, remaining_ms: int = 60_000):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


Invoke = Callable[..., dict[str, Any]]


@pytest.fixture
def replica(make_table: Callable[..., str]) -> str:
    return make_table()


@pytest.fixture
def env(ddb: Any, replica: str) -> dict[str, str]:
    return {"AWS_REGION": ddb.region, "REPLICA_TABLE": replica, "REPLICA_ENDPOINT_URL": ddb.url}


@pytest.fixture
def emitted() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def invoke(env: dict[str, str], emitted: list[dict[str, Any]]) -> Invoke:
    def run(evt: Mapping[str, Any], **extra: str) -> dict[str, Any]:
        handle = build_handler({**env, **extra}, emit=lambda line: emitted.append(json.loads(line)))
        return handle(evt, Context())

    return run


def by_key(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["pk"]["S"]: item for item in items}


def image_of(evt: Mapping[str, Any], index: int) -> dict[str, Any]:
    return item_from_text(evt["Records"][index]["dynamodb"]["NewImage"])


NO_FAILURES: dict[str, list[Any]] = {"batchItemFailures": []}


def test_insert(
    invoke: Invoke, ddb_client: Any, replica: str, emitted: list[dict[str, Any]]
) -> None:
    evt = load_event("streams-insert")
    assert invoke(evt) == NO_FAILURES
    assert scan_all(ddb_client, replica) == [image_of(evt, 0)]
    (metrics,) = emitted
    assert metrics["RecordsReceived"] == 1
    assert metrics["RecordsApplied"] == 1
    assert metrics["RecordsFailed"] == 0
    assert metrics["ReplicaTable"] == replica
    assert metrics["ReplicationLag"] > 0


def test_insert_then_modify(invoke: Invoke, ddb_client: Any, replica: str) -> None:
    evt = load_event("streams-insert-modify")
    assert invoke(evt) == NO_FAILURES
    assert scan_all(ddb_client, replica) == [image_of(evt, 1)]


def test_insert_modify_delete_leaves_the_replica_empty(
    invoke: Invoke, ddb_client: Any, replica: str
) -> None:
    put_items(ddb_client, replica, [{"pk": {"S": "a"}, "old": {"BOOL": True}}])
    assert invoke(load_event("streams-insert-modify-delete")) == NO_FAILURES
    assert scan_all(ddb_client, replica) == []


def test_many_keys_across_several_batch_writes(
    invoke: Invoke, ddb_client: Any, replica: str
) -> None:
    records = []
    for i in range(70):
        key = {"pk": {"S": f"k{i:03d}"}}
        records.append(stream_record("INSERT", key, {**key, "v": {"N": "1"}}, seq=2 * i))
        records.append(stream_record("MODIFY", key, {**key, "v": {"N": str(i)}}, seq=2 * i + 1))
    records.append(stream_record("REMOVE", {"pk": {"S": "k000"}}, seq=1000))
    assert invoke(event(records)) == NO_FAILURES
    got = by_key(scan_all(ddb_client, replica))
    assert len(got) == 69
    assert "k000" not in got
    assert all(got[f"k{i:03d}"]["v"] == {"N": str(i)} for i in range(1, 70))


def _sorted_sets(value: dict[str, Any]) -> dict[str, Any]:
    """Sets have no order: sort their members (at any depth) so values compare with ``==``."""
    ((tag, payload),) = value.items()
    if tag in ("SS", "NS", "BS"):
        return {tag: sorted(payload)}
    if tag == "M":
        return {"M": {k: _sorted_sets(v) for k, v in payload.items()}}
    if tag == "L":
        return {"L": [_sorted_sets(v) for v in payload]}
    return value


def test_every_attribute_type_arrives_byte_for_byte(
    invoke: Invoke, ddb_client: Any, replica: str
) -> None:
    evt = load_event("streams-all-types")
    assert invoke(evt) == NO_FAILURES
    expected = image_of(evt, 0)
    (got,) = scan_all(ddb_client, replica)
    assert items_equal(got, expected)
    assert {k: _sorted_sets(v) for k, v in got.items()} == {
        k: _sorted_sets(v) for k, v in expected.items()
    }
    assert got["b"]["B"] == bytes(range(256))
    assert got["m"]["M"]["l"]["L"][2]["M"]["deep"]["B"] == b"\x04\x05"
    assert got["n38"]["N"] == "12345678901234567890123456789012345678"


def test_a_400_kb_item(invoke: Invoke, ddb_client: Any, replica: str) -> None:
    key = {"pk": {"S": "big"}}
    blob = bytes(i * 7 % 256 for i in range(395_000))
    item = {**key, "blob": {"B": blob}, "nested": {"M": {"b": {"BS": [b"\x00", blob[:1000]]}}}}
    assert invoke(event([stream_record("INSERT", key, item, seq=1)])) == NO_FAILURES
    (got,) = scan_all(ddb_client, replica)
    assert got["blob"]["B"] == blob
    assert items_equal(got, item)


def test_kinesis_duplicates_reordering_and_both_precisions(
    invoke: Invoke, ddb_client: Any, replica: str, caplog: pytest.LogCaptureFixture
) -> None:
    put_items(ddb_client, replica, [{"pk": {"S": "k3"}, "v": {"N": "0"}}])
    with caplog.at_level(logging.WARNING, logger="dynamodb_replicator.replicate.pipeline"):
        assert invoke(load_event("kinesis-dynamodb")) == NO_FAILURES
    assert "set REPLICATION_MODE=fetch" in caplog.text  # order across batches is not kept
    got = by_key(scan_all(ddb_client, replica))
    assert got == {
        "k1": {"pk": {"S": "k1"}, "v": {"N": "3"}},
        "k2": {"pk": {"S": "k2"}, "v": {"N": "1"}},
        "k4": {"pk": {"S": "k4"}, "v": {"S": "b"}},
    }


@pytest.mark.parametrize("name", ["streams-keys-only", "kinesis-original"])
def test_fetch_mode_copies_what_the_primary_holds(
    name: str,
    invoke: Invoke,
    env: dict[str, str],
    ddb_client: Any,
    replica: str,
    make_table: Callable[..., str],
) -> None:
    primary = make_table()
    a = {
        "pk": {"S": "a"},
        "v": {"N": "12345678901234567890123456789012345678"},
        "b": {"B": b"\x00"},
    }
    b = {"pk": {"S": "b"}, "v": {"N": "2"}}
    put_items(ddb_client, primary, [a, b])
    put_items(
        ddb_client, replica, [{"pk": {"S": "c"}}, {"pk": {"S": "a"}, "stale": {"BOOL": True}}]
    )
    result = invoke(
        load_event(name),
        REPLICATION_MODE="fetch",
        PRIMARY_TABLE=primary,
        PRIMARY_ENDPOINT_URL=env["REPLICA_ENDPOINT_URL"],
    )
    assert result == NO_FAILURES
    assert by_key(scan_all(ddb_client, replica)) == {"a": a, "b": b}  # c is gone on the primary


def test_keys_only_records_in_image_mode_fail_with_a_clear_reason(
    invoke: Invoke, ddb_client: Any, replica: str, caplog: pytest.LogCaptureFixture
) -> None:
    evt = load_event("streams-keys-only")
    with caplog.at_level(logging.ERROR, logger="dynamodb_replicator"):
        result = invoke(evt)
    assert result == {"batchItemFailures": [{"itemIdentifier": i} for i in ids(evt)]}
    assert scan_all(ddb_client, replica) == []
    assert "REPLICATION_MODE=fetch" in caplog.text


def test_empty_batch_succeeds_and_does_nothing(
    invoke: Invoke, ddb_client: Any, replica: str, emitted: list[dict[str, Any]]
) -> None:
    assert invoke(load_event("empty")) == NO_FAILURES
    assert scan_all(ddb_client, replica) == []
    assert emitted[0]["RecordsReceived"] == 0


def test_unknown_event_name_in_the_middle(
    invoke: Invoke,
    ddb_client: Any,
    replica: str,
    caplog: pytest.LogCaptureFixture,
    emitted: list[dict[str, Any]],
) -> None:
    evt = load_event("streams-unknown-event")
    with caplog.at_level(logging.ERROR, logger="dynamodb_replicator"):
        result = invoke(evt)
    assert result == {"batchItemFailures": [{"itemIdentifier": i} for i in ids(evt)[2:]]}
    got = by_key(scan_all(ddb_client, replica))
    assert set(got) == {"a", "b"}
    # a changed before and after the bad record: only the change before it is applied
    assert got["a"] == image_of(evt, 0)
    failed = [r for r in caplog.records if "UPSERT" in r.getMessage()]
    assert failed
    assert ids(evt)[2] in failed[0].getMessage()
    assert emitted[0]["RecordsApplied"] == 2
    assert emitted[0]["RecordsFailed"] == 3


def test_key_changed_before_and_after_a_bad_record_then_retried(
    invoke: Invoke, ddb_client: Any, replica: str
) -> None:
    key = {"pk": {"S": "x"}}
    records = [
        stream_record("INSERT", key, {**key, "v": {"N": "1"}}, seq=1),
        {
            **stream_record("MODIFY", key, {**key, "v": {"N": "2"}}, seq=2),
            "dynamodb": {"SequenceNumber": "000000000000000000002"},
        },
        stream_record("MODIFY", key, {**key, "v": {"N": "3"}}, seq=3),
    ]
    result = invoke(event(records))
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(event(records))[1:]
    assert scan_all(ddb_client, replica) == [{**key, "v": {"N": "1"}}]
    # Lambda retries from the failed record; once it is fixed, the key reaches its last state.
    records[1] = stream_record("MODIFY", key, {**key, "v": {"N": "2"}}, seq=2)
    assert invoke(event(records[1:])) == NO_FAILURES
    assert scan_all(ddb_client, replica) == [{**key, "v": {"N": "3"}}]


def test_ttl_deletes_skipped_when_configured(invoke: Invoke, ddb_client: Any, replica: str) -> None:
    assert invoke(load_event("streams-ttl-delete"), SKIP_TTL_DELETES="true") == NO_FAILURES
    assert set(by_key(scan_all(ddb_client, replica))) == {"a"}


def test_bad_configuration_fails_at_cold_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="REPLICATION_MODE"):
        build_handler({**env, "REPLICATION_MODE": "mirror"})


def test_an_event_without_records_is_refused(invoke: Invoke) -> None:
    with pytest.raises(UsageError, match="no Records"):
        invoke({"detail-type": "Scheduled Event"})
