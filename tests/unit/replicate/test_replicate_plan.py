"""Planning: the failure prefix, filters, newest change per key, fetch mode."""

from __future__ import annotations

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
    Filters,
    RecordError,
    Sources,
    parse_batch,
    parse_stream_record,
    plan_batch,
    turnover_keeps,
)


def key(k: str) -> dict[str, Any]:
    return {"pk": {"S": k}}


def image(k: str, v: int) -> dict[str, Any]:
    return {"pk": {"S": k}, "v": {"N": str(v)}}


def values(plan: Any) -> dict[str, str | None]:
    return {
        w.key["pk"]["S"]: (w.item["v"]["N"] if w.item is not None else None) for w in plan.writes
    }


def test_last_change_per_key_wins_in_record_order() -> None:
    plan = plan_batch(parse_batch(load_event("streams-insert-modify-delete")["Records"]))
    assert [(w.position, w.item) for w in plan.writes] == [(2, None)]
    assert plan.stop == 3
    assert plan.failure is None
    assert [p for p, _ in plan.kept] == [0, 1, 2]


def test_failure_prefix_and_later_changes_of_a_key_are_not_planned() -> None:
    plan = plan_batch(parse_batch(load_event("streams-unknown-event")["Records"]))
    assert plan.stop == 2
    assert values(plan) == {"a": "1", "b": "1"}  # a's MODIFY after the bad record waits
    assert plan.failure is not None
    assert "UPSERT" in plan.failure.reason


def test_kinesis_newest_by_creation_time_then_sequence() -> None:
    plan = plan_batch(parse_batch(load_event("kinesis-dynamodb")["Records"]))
    assert plan.failure is None
    got = {w.key["pk"]["S"]: w.item for w in plan.writes}
    assert got["k1"] == image("k1", 3)
    assert got["k2"] == image("k2", 1)  # the REMOVE is older than the INSERT
    assert got["k3"] is None  # deleted last
    assert got["k4"] == {"pk": {"S": "k4"}, "v": {"S": "b"}}  # same time: higher sequence
    assert [w.position for w in plan.writes] == sorted(w.position for w in plan.writes)


def test_keys_only_needs_fetch_mode() -> None:
    records = load_event("streams-keys-only")["Records"]
    image_plan = plan_batch(parse_batch(records))
    assert image_plan.stop == 0
    assert image_plan.writes == ()
    assert image_plan.failure is not None
    assert "REPLICATION_MODE=fetch" in image_plan.failure.reason
    fetch_plan = plan_batch(parse_batch(records), mode="fetch")
    assert fetch_plan.failure is None
    assert [(w.key["pk"]["S"], w.position, w.item) for w in fetch_plan.writes] == [
        ("b", 1, None),
        ("a", 2, None),
        ("c", 3, None),
    ]


def test_original_kinesis_format_needs_fetch_mode() -> None:
    records = load_event("kinesis-original")["Records"]
    plan = plan_batch(parse_batch(records))
    assert plan.failure is not None
    assert "original tool" in plan.failure.reason
    assert plan.stop == 0
    assert plan_batch(parse_batch(records), mode="fetch").failure is None


def test_skip_ttl_deletes() -> None:
    records = load_event("streams-ttl-delete")["Records"]
    plain = plan_batch(parse_batch(records))
    assert values(plain) == {"a": None, "b": None}
    skipping = plan_batch(parse_batch(records), filters=Filters(skip_ttl_deletes=True))
    assert values(skipping) == {"a": "1", "b": None}
    assert skipping.skipped == (2,)


@pytest.mark.parametrize(
    ("role", "created_s", "at_ms", "kept"),
    [
        ("BEFORE", 100, 100_001, True),
        ("BEFORE", 100, 100_000, False),
        ("AFTER", 100, 100_000, True),
        ("AFTER", 100, 100_001, False),
    ],
)
def test_turnover_matches_the_original_rule(
    role: Any, created_s: int, at_ms: int, kept: bool
) -> None:
    change = parse_stream_record(
        stream_record("INSERT", key("a"), image("a", 1), seq=1, created=created_s),
        binary_as_text=True,
    )
    assert turnover_keeps(change, role, at_ms) is kept


def test_turnover_without_creation_time_fails_the_record() -> None:
    records = [kinesis_record(original_payload("INSERT", key("a")), seq=1)]
    filters = Filters(turnover_role="AFTER", turnover_at_ms=1)
    plan = plan_batch(parse_batch(records), mode="fetch", filters=filters)
    assert plan.failure is not None
    assert "turnover" in plan.failure.reason
    with pytest.raises(RecordError):
        turnover_keeps(parse_batch(records).changes[0], "AFTER", 1)


def test_turnover_skips_records_of_the_other_side() -> None:
    records = [
        kinesis_record(kds_payload("INSERT", key("a"), image("a", 1), created=1_000), seq=1),
        kinesis_record(kds_payload("INSERT", key("b"), image("b", 1), created=2_000), seq=2),
    ]
    before = plan_batch(
        parse_batch(records), filters=Filters(turnover_role="BEFORE", turnover_at_ms=2_000)
    )
    after = plan_batch(
        parse_batch(records), filters=Filters(turnover_role="AFTER", turnover_at_ms=2_000)
    )
    assert values(before) == {"a": "1"}
    assert values(after) == {"b": "1"}
    assert before.skipped == (1,)
    assert after.skipped == (0,)


def test_empty_batch_plans_nothing() -> None:
    plan = plan_batch(parse_batch([]))
    assert plan.writes == ()
    assert plan.stop == 0
    assert plan.failure is None


# Property: for any sequence of stream changes, the plan equals replaying them one by one.
_ops = st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 9) | st.none()), max_size=40)


@given(_ops, st.integers(min_value=0, max_value=40))
def test_plan_equals_sequential_replay_of_the_prefix(
    ops: list[tuple[str, int | None]], bad: int
) -> None:
    records = []
    for seq, (k, v) in enumerate(ops):
        if v is None:
            records.append(stream_record("REMOVE", key(k), seq=seq))
        else:
            records.append(stream_record("MODIFY", key(k), image(k, v), seq=seq))
    if bad < len(records):
        records[bad]["eventName"] = "BAD"
    plan = plan_batch(parse_batch(records))
    expected: dict[str, str | None] = {}
    for k, v in ops[: min(bad, len(ops))]:
        expected[k] = None if v is None else str(v)
    assert values(plan) == expected
    assert plan.stop == min(bad, len(ops))


def test_a_write_stands_for_its_keys_first_record() -> None:
    records = [
        stream_record("INSERT", key("a"), image("a", 1), seq=1),
        stream_record("INSERT", key("b"), image("b", 1), seq=2),
        stream_record("MODIFY", key("a"), image("a", 2), seq=3),
        stream_record("MODIFY", key("a"), image("a", 3), seq=4),
    ]
    plan = plan_batch(parse_batch(records))
    assert [(w.position, w.first) for w in plan.writes] == [(1, 1), (3, 0)]


def test_the_first_record_counted_is_the_first_kept_one() -> None:
    records = [
        stream_record("REMOVE", key("a"), seq=1, ttl=True),
        stream_record("INSERT", key("a"), image("a", 1), seq=2),
        stream_record("MODIFY", key("a"), image("a", 2), seq=3),
    ]
    plan = plan_batch(parse_batch(records), filters=Filters(skip_ttl_deletes=True))
    assert [(w.position, w.first) for w in plan.writes] == [(2, 1)]


def on_table(record: dict[str, Any], table: str) -> dict[str, Any]:
    return {**record, "eventSourceARN": f"arn:aws:dynamodb:x:0:table/{table}/stream/label"}


def three_tables() -> list[dict[str, Any]]:
    return [
        on_table(stream_record("INSERT", key("a"), image("a", 1), seq=1), "orders"),
        on_table(stream_record("INSERT", key("a"), image("a", 2), seq=2), "users"),
        unnamed(stream_record("INSERT", key("c"), image("c", 1), seq=3)),
    ]


def unnamed(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` without ``eventSourceARN``, as the Streams API gives it."""
    return {name: value for name, value in record.items() if name != "eventSourceARN"}


def test_one_table_per_batch_by_default() -> None:
    plan = plan_batch(parse_batch(three_tables()))
    assert plan.stop == 1
    assert plan.failure is not None
    assert "'users', not 'orders' (the batch's other records)" in plan.failure.reason


def test_the_configured_source_table_is_the_only_one() -> None:
    plan = plan_batch(parse_batch(three_tables()), sources=Sources(expected="users"))
    assert plan.stop == 0
    assert plan.failure is not None
    assert "the configured PRIMARY_TABLE" in plan.failure.reason


def test_a_table_map_routes_by_table_and_needs_every_record_to_name_one() -> None:
    sources = Sources(mapped=frozenset({"orders", "users"}))
    plan = plan_batch(parse_batch(three_tables()), sources=sources)
    assert [(w.table, w.position) for w in plan.writes] == [("orders", 0), ("users", 1)]
    assert plan.stop == 2
    assert plan.failure is not None
    assert "does not name its source table" in plan.failure.reason
    unmapped = plan_batch(parse_batch(three_tables()), sources=Sources(mapped=frozenset({"x"})))
    assert unmapped.stop == 0


def test_records_skipped_on_request_are_listed_apart() -> None:
    records = [stream_record("INSERT", key(k), image(k, 1), seq=i) for i, k in enumerate("abc")]
    plan = plan_batch(parse_batch(records, skip=frozenset({"000000000000000000001"})))
    assert plan.skipped_on_request == (1,)
    assert plan.skipped == ()
    assert [w.position for w in plan.writes] == [0, 2]
