"""Spilling base and log to disk by key and merging partition by partition (local files)."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dynamodb_replicator.changelog.format import ChangeRecord
from dynamodb_replicator.items import Item, items_equal, key_identity
from dynamodb_replicator.pitr import roll_forward_items
from dynamodb_replicator.pitr.spill import Spill, partition_count, partition_of
from unit.pitr.model import SCHEMA, Event, item_of, record_of, workloads


def _sorted(items: list[Item]) -> list[Item]:
    return sorted(items, key=lambda item: str(key_identity(item, SCHEMA)))


@settings(max_examples=60, deadline=None)
@given(workloads(), st.integers(1, 6), st.randoms(use_true_random=False))
def test_spilled_merge_equals_the_in_memory_core(
    case: tuple[list[Event], int, list[Item], list[ChangeRecord], int],
    partitions: int,
    rnd: random.Random,
) -> None:
    _events, to_time, base, records, _upto = case
    want = _sorted(list(roll_forward_items(base, records, SCHEMA, to_time)))
    # Records spilled out of order and some twice (overlapping objects): position restores them.
    spilled = records + rnd.sample(records, k=len(records) // 2)
    rnd.shuffle(spilled)
    with Spill(SCHEMA, partitions) as spill:
        for item in base:
            spill.add_item(item)
        for record in spilled:
            spill.add_record(0, record)
        got = _sorted(list(spill.merge(to_time)))
    assert len(got) == len(want)
    assert all(items_equal(a, b) for a, b in zip(got, want, strict=True))


def test_a_parent_shard_goes_before_its_child_whatever_the_sequence_numbers() -> None:
    parent = record_of(5, Event(0, 1, 10, 0))
    child = record_of(1, Event(0, 2, 10, 0))  # lower sequence number, later shard
    with Spill(SCHEMA, 2) as spill:
        spill.add_record(1, child)
        spill.add_record(0, parent)
        assert list(spill.merge(10)) == [item_of(Event(0, 2, 10, 0))]


def test_the_spill_folder_is_removed(tmp_path: Path) -> None:
    with Spill(SCHEMA, 3, directory=str(tmp_path)) as spill:
        spill.add_item(item_of(Event(0, 1, 0, 0)))
        assert len(list(tmp_path.iterdir())) == 1
        assert len(list(spill.merge(0))) == 1
    assert list(tmp_path.iterdir()) == []


def test_partitions_come_from_the_input_size_and_the_hash_is_stable() -> None:
    assert partition_count(0) == 1
    assert partition_count(10, per_partition=4) == 3
    assert partition_count(10**15) == 400
    # Canonical identity: "1.0" and "1" are one key, in one partition, in every process.
    a = key_identity({"pk": {"N": "1.0"}}, SCHEMA)
    assert a == key_identity({"pk": {"N": "1"}}, SCHEMA)
    assert partition_of(a, 7) == partition_of(key_identity({"pk": {"N": "10E-1"}}, SCHEMA), 7)
    assert partition_of(("x",), 1000) == partition_of(("x",), 1000)
