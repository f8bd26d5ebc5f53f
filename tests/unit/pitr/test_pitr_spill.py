"""Spilling base and log to disk by key and merging partition by partition (local files)."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dynamodb_replicator.changelog.format import ChangeRecord, encode_line
from dynamodb_replicator.items import Item, decode_item, encode_item, items_equal, key_identity
from dynamodb_replicator.pitr import roll_forward_items
from dynamodb_replicator.pitr.spill import (
    MAX_PARTITIONS,
    Spill,
    key_state,
    partition_count,
    partition_of,
)
from unit.pitr.model import SCHEMA, Event, item_of, record_of, workloads


def _sorted(items: list[Item]) -> list[Item]:
    return sorted(items, key=lambda item: str(key_identity(item, SCHEMA)))


@settings(max_examples=60, deadline=None)
@given(
    workloads(),
    st.integers(1, 6),
    st.randoms(use_true_random=False),
    st.sampled_from([0, 64, 1 << 20]),
    st.booleans(),
)
def test_spilled_merge_equals_the_in_memory_core(
    case: tuple[list[Event], int, list[Item], list[ChangeRecord], int],
    partitions: int,
    rnd: random.Random,
    buffer_bytes: int,
    base_last: bool,
) -> None:
    _events, to_time, base, records, _upto = case
    want = _sorted(list(roll_forward_items(base, records, SCHEMA, to_time)))
    # Records spilled out of order and some twice (overlapping objects): position restores them.
    spilled = records + rnd.sample(records, k=len(records) // 2)
    rnd.shuffle(spilled)
    # Tiny buffers write a gzip member per line; the roll-forward spills the base after
    # resolving the log, the other order works too.
    with Spill(SCHEMA, partitions, buffer_bytes=buffer_bytes) as spill:
        if not base_last:
            for item in base:
                spill.add_item(item)
        for record in spilled:
            spill.add_record(0, record)
        assert spill.resolve(to_time) == []
        if base_last:
            for item in base:
                spill.add_item(item)
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
    assert partition_count(10**15) == MAX_PARTITIONS
    # Canonical identity: "1.0" and "1" are one key, in one partition, in every process.
    a = key_identity({"pk": {"N": "1.0"}}, SCHEMA)
    assert a == key_identity({"pk": {"N": "1"}}, SCHEMA)
    assert partition_of(a, 7) == partition_of(key_identity({"pk": {"N": "10E-1"}}, SCHEMA), 7)
    assert partition_of(("x",), 1000) == partition_of(("x",), 1000)


def test_a_base_line_is_kept_byte_for_byte_and_a_new_image_written_as_logged() -> None:
    kept = b'{"pk":{"N":"01.0"},"v":{"N":"1E0"}}'  # spelled as no encoder of ours writes it
    changed = b'{"pk":{"N":"2"},"v":{"N":"0"}}'
    event = Event(1, 5, 10, 0)  # key 2: its state replaces the second line
    with Spill(SCHEMA, 3) as spill:
        spill.add_line(kept)
        spill.add_line(changed)
        spill.add_record(0, record_of(0, event))
        assert spill.resolve(10) == []
        lines = sorted(line for part in spill.partitions_merged(10) for line in part)
    assert lines == sorted([kept, encode_item(item_of(event)).encode()])


def test_two_different_records_at_one_position_are_a_problem() -> None:
    first = record_of(0, Event(0, 1, 10, 0))
    other = record_of(0, Event(0, 2, 10, 0))  # the same sequence number, another value
    with Spill(SCHEMA, 2) as spill:
        spill.add_record(0, first)
        spill.add_record(0, first)  # the same record twice: harmless
        assert spill.resolve(10) == []
    with Spill(SCHEMA, 2) as spill:
        spill.add_record(0, first)
        spill.add_record(0, other)
        problems = spill.resolve(10)
    assert problems == ["damaged sequence number 1000: two different records hold it"]


def _full(seq: int, event: str, new: int | None, old: int | None) -> ChangeRecord:
    def image(v: int | None) -> Item | None:
        return None if v is None else {"pk": {"N": "1"}, "v": {"N": str(v)}}

    return ChangeRecord(
        f"e{seq}", str(seq), "10", "s", event, {"pk": {"N": "1"}}, image(new), image(old)
    )


def test_a_missing_change_between_two_records_of_a_key_is_a_problem() -> None:
    good = [_full(1, "INSERT", 1, None), _full(2, "MODIFY", 2, 1), _full(3, "REMOVE", None, 2)]
    bad = [_full(1, "INSERT", 1, None), _full(2, "MODIFY", 3, 2), _full(3, "INSERT", 4, None)]
    with Spill(SCHEMA, 1) as spill:
        for record in good:
            spill.add_record(0, record)
        assert spill.resolve(10, check_changes=True) == []
    with Spill(SCHEMA, 1) as spill:
        for record in bad:
            spill.add_record(0, record)
        problems = spill.resolve(10, check_changes=True)
        assert spill.resolve(10) == []  # only checked on NEW_AND_OLD_IMAGES logs
    assert [p.split(" does not")[0] for p in problems] == [
        "missing-change record 2 (MODIFY)",
        "missing-change record 3 (INSERT)",
    ]


def test_a_key_state_is_the_prefix_within_t() -> None:
    records = [
        (10, encode_line(record_of(0, Event(0, 1, 10, 0))).encode()),
        (12, encode_line(record_of(1, Event(0, 2, 12, 0))).encode()),
        (11, encode_line(record_of(2, Event(0, None, 11, 0))).encode()),
    ]
    assert key_state(records, 9) == (None, [])  # nothing applies: the base stands
    state, problems = key_state(records, 11)  # the prefix stops at the record of second 12
    assert problems == []
    assert items_equal(decode_item(state or b""), item_of(Event(0, 1, 10, 0)))
    assert key_state(records, 12) == (b"", [])  # deleted
    broken = [(10, b'{"format":1,"eventName":"MODIFY","newImage":{"v":{"N":"x"}}}')]
    state, problems = key_state(broken, 10)
    assert state is None
    assert problems[0].startswith("damaged record")
