"""Follower shard handling with scripted Streams answers: lineage, splits, new shards, resume."""

from __future__ import annotations

import pytest
from follower_fakes import (
    ARN,
    FakeClock,
    FakeShard,
    FakeStreams,
    MemoryStore,
    Recorder,
    seq,
)

from dynamodb_replicator.errors import ConfigError, NotCaughtUpError
from dynamodb_replicator.replicate.checkpoint import CheckpointState, ShardCheckpoint
from dynamodb_replicator.replicate.follower import (
    Follower,
    FollowOptions,
    FollowResult,
)
from dynamodb_replicator.replicate.streams import Shard, find_stream, list_shards

CAUGHT_UP = FollowOptions(until_caught_up=True, concurrency=3)


def follow(
    streams: FakeStreams,
    store: MemoryStore | None = None,
    options: FollowOptions = CAUGHT_UP,
    recorder: Recorder | None = None,
) -> tuple[FollowResult, Recorder, MemoryStore, FakeClock]:
    clock = FakeClock()
    recorder = recorder or Recorder()
    store = store or MemoryStore()
    follower = Follower(
        streams, ARN, store, recorder, options, clock=clock, sleep=clock.sleep, wall=clock
    )
    return follower.run(), recorder, store, clock


def test_list_shards_follows_pagination() -> None:
    streams = FakeStreams([FakeShard(f"s{i}", [i]) for i in range(5)], page_size=2)
    assert [s.shard_id for s in list_shards(streams, ARN)] == [f"s{i}" for i in range(5)]
    assert [c for c in streams.calls if c[0] == "describe_stream"] == [
        ("describe_stream", None),
        ("describe_stream", "s1"),
        ("describe_stream", "s3"),
    ]


def test_children_of_a_split_are_read_only_after_the_parent_is_finished() -> None:
    parent = FakeShard("p", list(range(1, 11)), closed=True)
    left = FakeShard("c1", [20, 21, 22, 23], parent="p")
    right = FakeShard("c2", [30, 31], parent="p", closed=True)
    # children listed first: the follower must still wait for the parent
    result, rec, store, _ = follow(FakeStreams([left, right, parent]))
    assert result.caught_up
    assert rec.numbers("p") == list(range(1, 11))
    assert rec.numbers("c1") == [20, 21, 22, 23]
    assert rec.numbers("c2") == [30, 31]
    last_parent_batch = max(i for i, (s, _) in enumerate(rec.applied) if s == "p")
    first_child_batch = min(i for i, (s, _) in enumerate(rec.applied) if s != "p")
    assert last_parent_batch < first_child_batch
    assert store.state is not None
    assert store.state.shards["p"] == ShardCheckpoint(seq(10), finished=True)
    assert store.state.shards["c2"].finished
    assert store.state.shards["c1"] == ShardCheckpoint(seq(23), finished=False)


def test_a_shard_that_appears_later_is_read_from_its_start_even_with_latest() -> None:
    first = FakeShard("a", [1, 2, 3])
    streams = FakeStreams([first])

    def rotate(fake: FakeStreams) -> None:
        describes = sum(1 for c in fake.calls if c[0] == "describe_stream")
        if describes == 2 and len(fake.shards) == 1:  # AWS rotates: a closes, b opens
            first.numbers.extend([4, 5])
            first.closed = True
            fake.shards.append(FakeShard("b", [6, 7, 8], parent="a"))

    streams.on_describe = rotate
    options = FollowOptions(
        until_caught_up=True, start_position="LATEST", relist_seconds=0.5, concurrency=2
    )
    result, rec, _, _ = follow(streams, options=options)
    assert result.caught_up
    assert rec.numbers("a") == [4, 5]  # LATEST: records before the first start are skipped
    assert rec.numbers("b") == [6, 7, 8]  # a new shard: from its start
    assert ("get_shard_iterator", ("b", "TRIM_HORIZON", None)) in streams.calls


def test_latest_skips_closed_history_at_the_first_start() -> None:
    old = FakeShard("old", [1, 2], closed=True)
    live = FakeShard("live", [3, 4], parent="old")
    result, rec, store, _ = follow(
        FakeStreams([old, live]),
        options=FollowOptions(until_caught_up=True, start_position="LATEST"),
    )
    assert result.caught_up
    assert rec.applied == []
    assert store.state is not None
    assert store.state.shards["old"].finished


def test_restart_resumes_after_the_checkpoint() -> None:
    shard = FakeShard("s", list(range(1, 9)))
    store = MemoryStore(CheckpointState(ARN, {"s": ShardCheckpoint(seq(5))}))
    streams = FakeStreams([shard])
    result, rec, _, _ = follow(streams, store=store)
    assert result.caught_up
    assert rec.numbers("s") == [6, 7, 8]
    assert ("get_shard_iterator", ("s", "AFTER_SEQUENCE_NUMBER", seq(5))) in streams.calls


def test_checkpoint_of_another_stream_reads_every_shard_from_its_start() -> None:
    old = ARN.rsplit("/stream/", 1)[0] + "/stream/2020-01-01T00:00:00.000"  # re-enabled stream
    shard = FakeShard("s", [1, 2])
    store = MemoryStore(CheckpointState(old, {"s": ShardCheckpoint(seq(1))}))
    _, rec, _, _ = follow(FakeStreams([shard]), store=store)
    assert rec.numbers("s") == [1, 2]


def test_checkpoint_of_another_tables_stream_is_refused() -> None:
    other = "arn:aws:dynamodb:us-east-1:123456789012:table/other/stream/2020-01-01T00:00:00.000"
    store = MemoryStore(CheckpointState(other, {"s": ShardCheckpoint(seq(1))}))
    with pytest.raises(ConfigError, match="belongs to another table's stream"):
        follow(FakeStreams([FakeShard("s", [1, 2])]), store=store)


def test_until_caught_up_needs_quiet_polls_spanning_quiet_seconds() -> None:
    options = FollowOptions(until_caught_up=True, quiet_polls=3, quiet_seconds=2.0, idle_sleep=0.25)
    streams = FakeStreams([FakeShard("s", [1])])
    result, _, _, clock = follow(streams, options=options)
    assert result.caught_up
    assert clock.now - 1000.0 >= 2.0
    empty_polls = sum(1 for c in streams.calls if c[0] == "get_records") - 1
    assert empty_polls >= 3


def test_an_open_shard_waiting_on_an_unfinished_parent_is_not_caught_up() -> None:
    parent = FakeShard("p", [1])  # open forever: its child can never be read
    child = FakeShard("c", [2], parent="p")
    options = FollowOptions(until_caught_up=True, max_seconds=5.0)
    with pytest.raises(NotCaughtUpError, match="not caught up"):
        follow(FakeStreams([parent, child]), options=options)


def test_max_seconds_without_until_caught_up_stops_cleanly() -> None:
    result, rec, _, _ = follow(
        FakeStreams([FakeShard("s", [1, 2])]), options=FollowOptions(max_seconds=3.0)
    )
    assert not result.caught_up
    assert rec.numbers("s") == [1, 2]


def test_the_lease_is_released_even_on_failure() -> None:
    store = MemoryStore()
    with pytest.raises(NotCaughtUpError):
        follow(
            FakeStreams([FakeShard("s", [1])]),
            store=store,
            options=FollowOptions(until_caught_up=True, quiet_seconds=60, max_seconds=1),
        )
    assert not store.held


class _Info:
    def __init__(self, arn: str | None, view: str | None) -> None:
        self.stream_arn, self.stream_view_type = arn, view


def test_find_stream_errors() -> None:
    with pytest.raises(ConfigError, match="no enabled stream"):
        find_stream(_Info(None, None), mode="image", where="t")
    with pytest.raises(ConfigError, match="KEYS_ONLY") as keys_only:
        find_stream(_Info(ARN, "KEYS_ONLY"), mode="image", where="t")
    assert keys_only.value.hint is not None
    assert "--mode fetch" in keys_only.value.hint
    assert find_stream(_Info(ARN, "KEYS_ONLY"), mode="fetch", where="t").arn == ARN
    assert find_stream(_Info(ARN, "NEW_IMAGE"), mode="image", where="t").view_type == "NEW_IMAGE"


def test_shard_dataclass_is_frozen() -> None:
    shard = Shard("s", None, False)
    with pytest.raises(AttributeError):
        shard.closed = True  # type: ignore[misc]
