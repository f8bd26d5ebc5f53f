"""The follower writing a change log, with scripted Streams answers (shard splits, trimmed
data, a restart from an older checkpoint) into a real local folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.backup.storage import FolderStorage
from dynamodb_replicator.changelog.follow import LogRun, follow_into_log
from dynamodb_replicator.changelog.layout import GapMarker, LogDescriptor
from dynamodb_replicator.changelog.reader import read_gaps, read_heartbeats, read_window
from dynamodb_replicator.changelog.verify import verify_log
from dynamodb_replicator.changelog.writer import ChangeLogWriter
from dynamodb_replicator.errors import GapError
from dynamodb_replicator.replicate.checkpoint import CheckpointState, ShardCheckpoint
from dynamodb_replicator.replicate.follower import FollowOptions
from unit.replicate.follower_fakes import ARN, FakeClock, FakeShard, FakeStreams, MemoryStore, seq

CAUGHT_UP = FollowOptions(until_caught_up=True, quiet_polls=2, quiet_seconds=0)


WALL = 1_767_322_800.5  # epoch seconds; the monotonic clock (FakeClock) starts at 1000


def _run(streams: FakeStreams, store: MemoryStore, storage: FolderStorage) -> LogRun:
    clock = FakeClock()
    return follow_into_log(
        streams,
        ARN,
        ChangeLogWriter(storage, writer="follower"),
        store,
        CAUGHT_UP,
        clock=clock,
        wall=lambda: WALL + clock.now,
        sleep=clock.sleep,
    )


def _storage(tmp_path: Path) -> FolderStorage:
    storage = FolderStorage(Location("folder", str(tmp_path / "log")))
    descriptor = LogDescriptor("t", None, ARN, "L", (("pk", "HASH", "S"),), "NEW_IMAGE")
    ChangeLogWriter(storage, writer="follower").ensure_descriptor(descriptor)
    return storage


def test_child_shard_chains_to_its_parent_and_heartbeats_prove_reading(tmp_path: Path) -> None:
    parent = FakeShard("p", [1, 2, 3], closed=True)
    child = FakeShard("c", [10, 11, 12, 13], parent="p")
    storage = _storage(tmp_path)
    run = _run(FakeStreams([child, parent], record_limit=3), MemoryStore(), storage)
    assert run.follow.caught_up
    window = read_window(storage)
    assert [int(r.record.sequence_number) for r in window.records] == [1, 2, 3, 10, 11, 12, 13]
    chain = [(m.shard_id, m.parent_shard_id, m.predecessor) for m in window.objects]
    assert sorted(chain, key=str) == sorted(
        [("p", None, None), ("c", "p", None), ("c", "p", seq(12))], key=str
    )
    beats = {b.shard_id: b for b in read_heartbeats(storage)}
    assert beats["p"].closed
    assert beats["p"].last_sequence_number == seq(3)
    assert not beats["c"].closed
    assert beats["c"].last_sequence_number == seq(13)
    assert int(WALL) + 1000 <= beats["c"].read_at <= WALL + 1100  # wall time, not monotonic
    assert int(WALL) + 1000 <= beats["p"].read_at <= WALL + 1100
    assert verify_log(storage)[1] == []


def test_trimmed_data_leaves_a_gap_marker(tmp_path: Path) -> None:
    shard = FakeShard("s", list(range(1, 21)), trim_below=10)
    store = MemoryStore(CheckpointState(ARN, {"s": ShardCheckpoint(seq(3))}))
    storage = _storage(tmp_path)
    run = _run(FakeStreams([shard]), store, storage)
    assert len(run.gap_markers) == 1
    assert read_gaps(storage) == [GapMarker("s", seq(3), seq(10), int(WALL + 1000))]
    window = read_window(storage)
    assert [int(r.record.sequence_number) for r in window.records] == list(range(10, 21))
    found = verify_log(storage)[1]
    assert sorted(p.kind for p in found) == ["chain-break", "gap"]  # record 3 is in no object


def test_restart_from_an_older_checkpoint_overlaps_harmlessly(tmp_path: Path) -> None:
    shard = FakeShard("s", list(range(1, 11)))
    storage = _storage(tmp_path)
    store = MemoryStore()
    _run(FakeStreams([shard], record_limit=4), store, storage)
    # As if killed after writing objects but before their checkpoints were saved.
    store.state = CheckpointState(ARN, {"s": ShardCheckpoint(seq(2))})
    _run(FakeStreams([shard], record_limit=3), store, storage)
    window = read_window(storage)
    assert [int(r.record.sequence_number) for r in window.records] == list(range(1, 11))
    assert window.duplicates == 6  # 3-5 and 6-8 twice; 9-10 rewritten under its own name
    assert window.damaged == ()
    assert {m.predecessor for m in window.objects} == {None, seq(2), seq(4), seq(5), seq(8)}


def test_fail_on_gap_still_writes_the_marker_before_stopping(tmp_path: Path) -> None:
    shard = FakeShard("s", list(range(1, 21)), trim_below=10)
    store = MemoryStore(CheckpointState(ARN, {"s": ShardCheckpoint(seq(3))}))
    storage = _storage(tmp_path)
    clock = FakeClock()
    options = FollowOptions(until_caught_up=True, fail_on_gap=True)
    with pytest.raises(GapError):
        follow_into_log(
            FakeStreams([shard]),
            ARN,
            ChangeLogWriter(storage, writer="follower"),
            store,
            options,
            clock=clock,
            wall=clock,
            sleep=clock.sleep,
        )
    assert read_gaps(storage) == [GapMarker("s", seq(3), None, 1000)]


def test_fail_on_gap_says_the_marker_is_written(tmp_path: Path) -> None:
    """The CLI prints the error as it is (no command catches a gap): it says where the gap is
    recorded, and gives no replica's repair hint (a log has no replica)."""
    shard = FakeShard("s", list(range(1, 21)), trim_below=10)
    store = MemoryStore(CheckpointState(ARN, {"s": ShardCheckpoint(seq(3))}))
    clock = FakeClock()
    options = FollowOptions(until_caught_up=True, fail_on_gap=True)
    with pytest.raises(GapError, match=r"shard s: .*\(gap marker written in the log\)$") as info:
        follow_into_log(
            FakeStreams([shard]),
            ARN,
            ChangeLogWriter(_storage(tmp_path), writer="follower"),
            store,
            options,
            clock=clock,
            wall=clock,
            sleep=clock.sleep,
        )
    assert info.value.hint is None
