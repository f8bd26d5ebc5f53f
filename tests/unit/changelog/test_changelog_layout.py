"""Change log names, hours and records (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.changelog.format import ChangeRecord
from dynamodb_replicator.changelog.layout import (
    GapMarker,
    Heartbeat,
    LogDescriptor,
    ObjectManifest,
    gap_name,
    heartbeat_name,
    hour_bounds,
    hour_folder,
    hours_between,
    log_location,
    manifest_for,
    object_name,
    split_by_hour,
    stream_label,
)
from dynamodb_replicator.changelog.reader import shard_order
from dynamodb_replicator.errors import ChangeLogError, UsageError

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-02T03:04:05.678"
H = 1767322800  # 2026-01-02T03:00:00Z


def _rec(seq: int, seconds: int, unit: str = "s") -> ChangeRecord:
    time = str(seconds * {"s": 1, "ms": 1000, "us": 1_000_000}[unit])
    return ChangeRecord(f"e{seq}", str(seq), time, unit, "INSERT", {"pk": {"S": str(seq)}})


def test_label_and_log_location() -> None:
    assert stream_label(ARN) == "2026-01-02T03:04:05.678"
    with pytest.raises(UsageError, match="not a DynamoDB stream ARN"):
        stream_label("arn:aws:dynamodb:us-east-1:1:table/orders")
    where = log_location(Location("s3", "backups", "bucket"), "orders", stream_label(ARN))
    assert where.url() == "s3://bucket/backups/orders/changes/2026-01-02T03:04:05.678"
    assert log_location(Location("s3", "", "b"), "t", "L").url() == "s3://b/t/changes/L"


def test_hours() -> None:
    assert hour_folder(H) == "2026-01-02/03"
    assert hour_folder(H - 1) == "2026-01-02/02"
    assert hour_bounds("2026-01-02/03") == (H, H + 3599)
    assert hours_between(H - 1, H + 3600) == ["2026-01-02/02", "2026-01-02/03", "2026-01-02/04"]
    assert hours_between(H + 5, H + 10) == ["2026-01-02/03"]


def test_batches_are_cut_at_hour_boundaries_in_order() -> None:
    records = [_rec(1, H - 2), _rec(2, H - 1), _rec(3, H, "us"), _rec(4, H - 1), _rec(5, H + 1)]
    runs = [(hour, [r.sequence_number for r in run]) for hour, run in split_by_hour(records)]
    assert runs == [
        ("2026-01-02/02", ["1", "2"]),
        ("2026-01-02/03", ["3"]),
        ("2026-01-02/02", ["4"]),
        ("2026-01-02/03", ["5"]),
    ]


@given(st.integers(0, 10**40 - 1), st.integers(0, 10**40 - 1))
def test_object_names_sort_in_sequence_order(a: int, b: int) -> None:
    name_a, name_b = object_name("h", str(a), str(a)), object_name("h", str(b), str(b))
    assert (name_a < name_b) == (a < b)


def test_names_refuse_unsafe_components() -> None:
    assert heartbeat_name("shardId-0001") == "_heartbeats/shardId-0001.json"
    assert gap_name("shardId-0001", "7").startswith("_gaps/shardId-0001.0000")
    with pytest.raises(ChangeLogError):
        heartbeat_name("../x")


def test_records_round_trip() -> None:
    descriptor = LogDescriptor(
        "orders",
        None,
        ARN,
        stream_label(ARN),
        (("pk", "HASH", "S"), ("sk", "RANGE", "N")),
        "NEW_IMAGE",
    )
    assert LogDescriptor.from_bytes(descriptor.to_bytes()) == descriptor
    manifest = manifest_for(
        "2026-01-02/03/x.jsonl.gz",
        [_rec(3, H + 7), _rec(9, H + 2, "us")],
        sha256="ab",
        size=10,
        writer="follower",
        shard_id="s1",
        parent_shard_id="s0",
        predecessor="2",
    )
    assert (manifest.min_seconds, manifest.max_seconds, manifest.last_time_unit) == (
        H + 2,
        H + 7,
        "us",
    )
    assert ObjectManifest.from_bytes(manifest.to_bytes(), "m") == manifest
    beat = Heartbeat("s1", "s0", "9", H)
    assert Heartbeat.from_bytes(beat.to_bytes(), "h") == beat
    gap = GapMarker("s1", "9", "20", H)
    assert GapMarker.from_bytes(gap.to_bytes(), "g") == gap
    with pytest.raises(ChangeLogError, match="not valid JSON"):
        ObjectManifest.from_bytes(b"{", "m")
    with pytest.raises(ChangeLogError, match="lacks a field"):
        ObjectManifest.from_bytes(b"{}", "m")


def test_descriptor_of_another_format_is_refused() -> None:
    data = LogDescriptor("t", None, ARN, "L", (("pk", "HASH", "S"),), "NEW_IMAGE", 99).to_bytes()
    with pytest.raises(ChangeLogError, match="format 99"):
        LogDescriptor.from_bytes(data)


def test_shard_order_puts_parents_first() -> None:
    lineage = {"c2": "p", "p": "gone", "c1": "p", "g": "c1", "other": None}
    order = shard_order(lineage)
    assert order.index("p") < order.index("c1") < order.index("g")
    assert order.index("p") < order.index("c2")
    assert sorted(order) == sorted(lineage)
