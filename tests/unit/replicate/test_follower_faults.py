"""Follower faults with scripted Streams answers: expired iterators, trimmed data, failed
applies and Ctrl-C."""

from __future__ import annotations

from typing import Any

import pytest
from follower_fakes import ARN, FakeClock, FakeShard, FakeStreams, MemoryStore, Recorder, seq

from dynamodb_replicator.errors import GapError, JobInterrupted, ReplicatorError
from dynamodb_replicator.replicate.checkpoint import CheckpointState, ShardCheckpoint
from dynamodb_replicator.replicate.follower import (
    ApplyOutcome,
    Follower,
    FollowOptions,
    ShardGap,
)

CAUGHT_UP = FollowOptions(until_caught_up=True)


def run(
    streams: FakeStreams,
    store: MemoryStore,
    apply: Any,
    options: FollowOptions = CAUGHT_UP,
) -> Any:
    clock = FakeClock()
    return Follower(
        streams, ARN, store, apply, options, clock=clock, sleep=clock.sleep, wall=clock
    ).run()


def test_expired_iterator_is_reacquired_from_the_checkpoint() -> None:
    # Set before the run: with read-ahead, a flag set during an apply would race the next read.
    shard = FakeShard("s", list(range(1, 8)))
    streams = FakeStreams([shard], record_limit=3)
    streams.expire_next.add("s")  # the first read's iterator has expired
    store = MemoryStore(CheckpointState(ARN, {"s": ShardCheckpoint(seq(3))}))
    rec = Recorder()
    result = run(streams, store, rec)
    assert result.caught_up
    assert rec.numbers("s") == list(range(4, 8))  # nothing lost, nothing twice
    reacquire = ("get_shard_iterator", ("s", "AFTER_SEQUENCE_NUMBER", seq(3)))
    assert streams.calls.count(reacquire) == 2


def test_trimmed_checkpoint_is_reported_as_a_gap_and_reading_continues() -> None:
    shard = FakeShard("s", list(range(1, 21)), trim_below=10)
    store = MemoryStore(CheckpointState(ARN, {"s": ShardCheckpoint(seq(3))}))
    rec = Recorder()
    result = run(FakeStreams([shard]), store, rec)
    assert result.gaps == (ShardGap("s", seq(3), seq(10)),)
    assert "after 000000000000000000003 before 000000000000000000010" in result.gaps[0].describe()
    assert rec.numbers("s") == list(range(10, 21))
    assert result.caught_up  # the run ends, and the CLI turns the gap into exit 1


def test_trimmed_data_while_reading_is_a_gap_too() -> None:
    shard = FakeShard("s", list(range(1, 10)))
    streams = FakeStreams([shard], record_limit=3)
    rec = Recorder()
    read = streams.get_records

    def get_records(ShardIterator: str, Limit: int) -> Any:
        response = read(ShardIterator=ShardIterator, Limit=Limit)
        shard.trim_below = 6  # records 4 and 5 are trimmed before they are read
        return response

    streams.get_records = get_records  # type: ignore[method-assign]
    result = run(streams, MemoryStore(), rec)
    assert result.gaps == (ShardGap("s", seq(3), seq(6)),)
    assert rec.numbers("s") == [1, 2, 3, 6, 7, 8, 9]


def test_fail_on_gap_stops_at_once_and_keeps_the_checkpoint() -> None:
    shard = FakeShard("s", list(range(1, 21)), trim_below=10)
    store = MemoryStore(CheckpointState(ARN, {"s": ShardCheckpoint(seq(3))}))
    rec = Recorder()
    options = FollowOptions(until_caught_up=True, fail_on_gap=True)
    with pytest.raises(GapError, match="shard s: records after") as info:
        run(FakeStreams([shard]), store, rec, options)
    assert info.value.hint is not None
    assert "diff-tables --repair" in info.value.hint
    assert rec.applied == []
    assert store.state is not None
    assert store.state.shards["s"].sequence == seq(3)


def test_a_failed_apply_checkpoints_the_applied_prefix_and_stops() -> None:
    shard = FakeShard("s", list(range(1, 8)))
    store = MemoryStore()
    calls = []

    def apply(shard_id: str, records: list[dict[str, Any]]) -> ApplyOutcome:
        calls.append(records)
        if len(calls) == 2:  # the second page fails after its first record
            return ApplyOutcome(
                records[0]["dynamodb"]["SequenceNumber"], ReplicatorError("replica refused")
            )
        return ApplyOutcome(records[-1]["dynamodb"]["SequenceNumber"])

    with pytest.raises(ReplicatorError, match="replica refused"):
        run(FakeStreams([shard], record_limit=3), store, apply)
    assert store.state is not None
    assert store.state.shards["s"].sequence == seq(4)
    assert not store.held


def test_ctrl_c_saves_the_checkpoint_and_raises_job_interrupted() -> None:
    shard = FakeShard("s", list(range(1, 8)))
    store = MemoryStore()
    rec = Recorder()
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    follower = Follower(
        FakeStreams([shard], record_limit=10), ARN, store, rec, FollowOptions(), clock=clock,
        sleep=sleep,
    )  # fmt: skip
    with pytest.raises(JobInterrupted, match="checkpoint saved"):
        follower.run()
    assert store.state is not None
    assert store.state.shards["s"].sequence == seq(7)
    assert not store.held
