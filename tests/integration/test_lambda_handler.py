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
    evt = load_event(name)  # the stream's records name the primary's table
    evt["Records"] = [r if "kinesis" in r else from_table(r, primary) for r in evt["Records"]]
    result = invoke(
        evt,
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


# --- one number key spelled two ways; skipping a refused record on purpose -----------------------


@pytest.mark.moto
def test_a_number_key_spelled_two_ways_replicates(
    env: dict[str, str], make_table: Callable[..., str], ddb_client: Any
) -> None:
    replica = make_table(("pk", "S"), ("sk", "N"))
    evt = load_event("streams-number-key-spellings")
    handle = build_handler({**env, "REPLICA_TABLE": replica})
    assert handle(evt, Context()) == NO_FAILURES
    got = {(i["pk"]["S"], i["qty"]["N"]) for i in scan_all(ddb_client, replica)}
    assert got == {("a", "4"), ("b", "1")}
    stored = {i["pk"]["S"]: i for i in scan_all(ddb_client, replica)}
    assert items_equal(stored["a"], image_of(evt, 1))


def inconsistent_batch() -> dict[str, Any]:
    """k0, then a record whose NewImage holds another key than its Keys, then k2."""
    return event(
        [
            stream_record("INSERT", {"pk": {"S": "k0"}}, {"pk": {"S": "k0"}}, seq=1),
            stream_record("MODIFY", {"pk": {"S": "k1"}}, {"pk": {"S": "k9"}}, seq=2),
            stream_record("INSERT", {"pk": {"S": "k2"}}, {"pk": {"S": "k2"}}, seq=3),
        ]
    )


@pytest.mark.moto
def test_an_inconsistent_record_is_refused_then_skipped_on_request(
    invoke: Invoke,
    ddb_client: Any,
    replica: str,
    emitted: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    evt = inconsistent_batch()
    with caplog.at_level(logging.ERROR, logger="dynamodb_replicator.replicate.pipeline"):
        result = invoke(evt)
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)[1:]
    assert f"SKIP_SEQUENCE_NUMBERS={ids(evt)[1]}" in caplog.text
    assert set(by_key(scan_all(ddb_client, replica))) == {"k0"}

    caplog.clear()
    retry = event(evt["Records"][1:])  # Lambda retries from the refused record
    with caplog.at_level(logging.WARNING, logger="dynamodb_replicator.replicate.pipeline"):
        assert invoke(retry, SKIP_SEQUENCE_NUMBERS=f" 123, {ids(evt)[1]}") == NO_FAILURES
    assert set(by_key(scan_all(ddb_client, replica))) == {"k0", "k2"}
    (skipped,) = [r for r in caplog.records if getattr(r, "skipped_on_request", False)]
    assert skipped.levelname == "WARNING"
    assert getattr(skipped, "record_id", None) == ids(evt)[1]
    assert getattr(skipped, "keys", None) == '{"pk":{"S":"k1"}}'
    assert emitted[-1]["RecordsSkippedOnRequest"] == 1
    assert emitted[-1]["RecordsApplied"] == 1
    assert emitted[-1]["RecordsFailed"] == 0


def test_a_bad_skip_list_fails_at_cold_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="SKIP_SEQUENCE_NUMBERS"):
        build_handler({**env, "SKIP_SEQUENCE_NUMBERS": "12,abc"})


# --- records of another table ---------------------------------------------------------------


def from_table(record: dict[str, Any], table: str) -> dict[str, Any]:
    """``record`` as if it came from ``table``'s stream (a local server's placeholder ARN)."""
    arn = f"arn:aws:dynamodb:ddblocal:000000000000:table/{table}/stream/2026-01-01T00:00:00.000"
    return {**record, "eventSourceARN": arn}


def two_table_batch() -> dict[str, Any]:
    def rec(seq: int, table: str, pk: str) -> dict[str, Any]:
        key = {"pk": {"S": pk}}
        return from_table(stream_record("INSERT", key, {**key, "t": {"S": table}}, seq=seq), table)

    return event([rec(1, "orders", "a"), rec(2, "users", "b"), rec(3, "orders", "c")])


@pytest.mark.moto
def test_a_record_of_another_table_is_refused(
    invoke: Invoke, ddb_client: Any, replica: str, emitted: list[dict[str, Any]]
) -> None:
    evt = two_table_batch()
    result = invoke(evt)
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)[1:]
    assert set(by_key(scan_all(ddb_client, replica))) == {"a"}
    assert "'users', not 'orders'" in emitted[0]["failure"]


@pytest.mark.moto
def test_a_record_of_another_table_than_primary_table_is_refused(
    invoke: Invoke, ddb_client: Any, replica: str
) -> None:
    evt = two_table_batch()
    result = invoke(evt, PRIMARY_TABLE="users")
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)
    assert scan_all(ddb_client, replica) == []


@pytest.mark.moto
def test_a_kinesis_record_of_another_table_is_refused(
    invoke: Invoke, ddb_client: Any, replica: str
) -> None:
    from lambda_events import kds_payload, kinesis_record

    def rec(seq: int, table: str) -> dict[str, Any]:
        key = {"pk": {"S": f"k{seq}"}}
        payload = {**kds_payload("INSERT", key, key, created=1000 + seq), "tableName": table}
        return kinesis_record(payload, seq=seq)

    evt = event([rec(1, "orders"), rec(2, "orders"), rec(3, "users")])
    result = invoke(evt)
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)[2:]
    assert set(by_key(scan_all(ddb_client, replica))) == {"k1", "k2"}


@pytest.mark.moto
def test_table_map_routes_each_table_to_its_replica(
    env: dict[str, str],
    make_table: Callable[..., str],
    ddb_client: Any,
    emitted: list[dict[str, Any]],
) -> None:
    orders, users = make_table(), make_table()
    mapped = {k: v for k, v in env.items() if k != "REPLICA_TABLE"}
    handle = build_handler(
        {**mapped, "TABLE_MAP": f"orders={orders}, users={users}"},
        emit=lambda line: emitted.append(json.loads(line)),
    )
    evt = two_table_batch()
    assert handle(evt, Context()) == NO_FAILURES
    assert set(by_key(scan_all(ddb_client, orders))) == {"a", "c"}
    assert set(by_key(scan_all(ddb_client, users))) == {"b"}
    assert emitted[0]["RecordsApplied"] == 3
    assert emitted[0]["ReplicaTable"] == ",".join(sorted([orders, users]))

    # a table the map does not name is refused, from that record on
    other = event([evt["Records"][0], from_table(evt["Records"][1], "invoices")])
    result = handle(other, Context())
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(other)[1:]
    assert "TABLE_MAP does not map" in emitted[-1]["failure"]


def test_table_map_one_key_in_two_tables_is_two_writes(
    env: dict[str, str], make_table: Callable[..., str], ddb_client: Any
) -> None:
    orders, users = make_table(), make_table()
    mapped = {k: v for k, v in env.items() if k != "REPLICA_TABLE"}
    handle = build_handler({**mapped, "TABLE_MAP": f"orders={orders},users={users}"})
    key = {"pk": {"S": "same"}}
    evt = event(
        [
            from_table(stream_record("INSERT", key, {**key, "t": {"S": "o"}}, seq=1), "orders"),
            from_table(stream_record("INSERT", key, {**key, "t": {"S": "u"}}, seq=2), "users"),
        ]
    )
    assert handle(evt, Context()) == NO_FAILURES
    assert scan_all(ddb_client, orders) == [{**key, "t": {"S": "o"}}]
    assert scan_all(ddb_client, users) == [{**key, "t": {"S": "u"}}]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"TABLE_MAP": "orders"}, "is not SOURCE=REPLICA"),
        ({"TABLE_MAP": "a1b=x1y,a1b=z1z"}, "source table 'a1b' is named twice"),
        ({"TABLE_MAP": "a1b=x1y,c1d=x1y"}, "replica table 'x1y' is named twice"),
        ({"TABLE_MAP": "a1b=x1y", "PRIMARY_TABLE": "a1b"}, "PRIMARY_TABLE: set together"),
        ({"TABLE_MAP": "same=same"}, "the replica is the primary"),
    ],
)
def test_bad_table_maps_fail_at_cold_start(
    env: dict[str, str], extra: dict[str, str], message: str
) -> None:
    mapped = {k: v for k, v in env.items() if k != "REPLICA_TABLE"}
    mapped["PRIMARY_ENDPOINT_URL"] = env["REPLICA_ENDPOINT_URL"]
    with pytest.raises(ConfigError, match=message):
        build_handler({**mapped, **extra})


def test_table_map_and_replica_table_together_fail(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="REPLICA_TABLE: set together with TABLE_MAP"):
        build_handler({**env, "TABLE_MAP": "a1b=x1y"})


@pytest.mark.moto
def test_table_map_in_fetch_mode_reads_each_source(
    env: dict[str, str], make_table: Callable[..., str], ddb_client: Any
) -> None:
    orders, users = make_table(), make_table()
    orders_copy, users_copy = make_table(), make_table()
    put_items(ddb_client, orders, [{"pk": {"S": "a"}, "from": {"S": "orders"}}])
    put_items(ddb_client, users, [{"pk": {"S": "a"}, "from": {"S": "users"}}])
    mapped = {k: v for k, v in env.items() if k != "REPLICA_TABLE"}
    handle = build_handler(
        {
            **mapped,
            "TABLE_MAP": f"{orders}={orders_copy},{users}={users_copy}",
            "REPLICATION_MODE": "fetch",
            "PRIMARY_ENDPOINT_URL": env["REPLICA_ENDPOINT_URL"],
        }
    )
    key = {"pk": {"S": "a"}}
    evt = event(
        from_table(stream_record("MODIFY", key, seq=i, view="KEYS_ONLY"), table)
        for i, table in enumerate([orders, users])
    )
    assert handle(evt, Context()) == NO_FAILURES
    assert scan_all(ddb_client, orders_copy) == [{**key, "from": {"S": "orders"}}]
    assert scan_all(ddb_client, users_copy) == [{**key, "from": {"S": "users"}}]


@pytest.mark.moto
def test_a_warm_function_refuses_a_batch_that_starts_with_another_table(
    env: dict[str, str], ddb_client: Any, replica: str, emitted: list[dict[str, Any]]
) -> None:
    handle = build_handler(env, emit=lambda line: emitted.append(json.loads(line)))
    first = two_table_batch()
    assert handle(event(first["Records"][:1]), Context()) == NO_FAILURES  # orders
    later = event(first["Records"][1:])  # users, then orders
    result = handle(later, Context())
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(later)
    assert set(by_key(scan_all(ddb_client, replica))) == {"a"}
    assert "set PRIMARY_TABLE to name it" in emitted[-1]["failure"]
