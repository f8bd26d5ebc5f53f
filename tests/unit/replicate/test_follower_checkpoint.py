"""File checkpoints: atomic round trip, the lease, bad files; the CLI's gap exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dynamodb_replicator.cli.replicate_cmd import _summary
from dynamodb_replicator.errors import ConfigError, UsageError
from dynamodb_replicator.replicate.checkpoint import (
    CheckpointState,
    FileCheckpoint,
    ShardCheckpoint,
    parse_checkpoint_location,
)
from dynamodb_replicator.replicate.follower import FollowResult, ShardGap

STATE = CheckpointState("arn:s", {"a": ShardCheckpoint("12", True), "b": ShardCheckpoint(None)})


def test_round_trip_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = FileCheckpoint(tmp_path / "sub" / "cp.json")
    assert store.load() is None
    store.save(STATE)
    store.save(STATE)
    assert store.load() == STATE
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["cp.json"]


def test_second_holder_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    first = FileCheckpoint(tmp_path / "cp.json", holder="host-a pid 1")
    second = FileCheckpoint(tmp_path / "cp.json", holder="host-b pid 2")
    first.acquire()
    with pytest.raises(ConfigError, match="in use by another follower: host-a pid 1"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_a_damaged_checkpoint_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        FileCheckpoint(path).load()
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(ConfigError, match="not a valid checkpoint"):
        FileCheckpoint(path).load()


def test_checkpoint_locations() -> None:
    assert parse_checkpoint_location("ddb://eu-west-1/cps") == ("eu-west-1", "cps")
    assert parse_checkpoint_location("x/cp.json") == Path("x/cp.json")
    with pytest.raises(UsageError, match="malformed"):
        parse_checkpoint_location("ddb://eu-west-1")
    with pytest.raises(UsageError, match="malformed"):
        parse_checkpoint_location("ddb://localhost:8000/cps")


def test_a_run_with_a_gap_exits_1(tmp_path: Path) -> None:
    store = FileCheckpoint(tmp_path / "cp.json")
    clean = FollowResult(records=3, batches=1, shards_finished=0, gaps=(), caught_up=True)
    gap = FollowResult(3, 1, 0, (ShardGap("s", "1", "9"),), True)
    assert _summary(clean, store, quiet=True) == 0
    assert _summary(gap, store, quiet=True) == 1
