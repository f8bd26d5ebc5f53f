"""Stopping a follower: Ctrl-C saves the checkpoint and exits 130; an expired lease is taken over."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dynamodb_replicator.dynamo import make_client
from dynamodb_replicator.errors import ConfigError
from dynamodb_replicator.local.sample import sample_item
from dynamodb_replicator.replicate.checkpoint import TableCheckpoint
from helpers import Endpoint, put_items, wait_for_checkpoint

STREAM = "NEW_AND_OLD_IMAGES"


def test_ctrl_c_saves_the_checkpoint_and_exits_130(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    primary, replica = make_table(stream=STREAM), make_table()
    put_items(ddb_client, primary, [sample_item(i, random.Random(i)) for i in range(200)])
    checkpoint = tmp_path / "cp.json"
    cmd = [
        sys.executable, "-m", "dynamodb_replicator.cli", "replicate",
        f"{ddb.url}/{primary}", f"{ddb.url}/{replica}", "--quiet",
        "--checkpoint", str(checkpoint),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=dict(os.environ), stderr=subprocess.PIPE, text=True)
    try:
        wait_for_checkpoint(proc, checkpoint)
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "checkpoint saved" in err
    assert "Traceback" not in err
    state = json.loads(checkpoint.read_text())
    assert all(s["sequence"] for s in state["shards"].values())


def test_an_expired_table_lease_is_taken_over(
    ddb: Endpoint, make_table: Callable[..., str]
) -> None:
    table = f"ckpt-{make_table()}"
    client = make_client("dynamodb", region=ddb.region, endpoint_url=ddb.url)
    now = [1_000_000.0]
    first = TableCheckpoint(
        client, table, "p->r", holder="crashed host", lease_seconds=60, clock=lambda: now[0]
    )
    second = TableCheckpoint(
        client, table, "p->r", holder="new host", lease_seconds=60, clock=lambda: now[0]
    )
    try:
        first.acquire()  # and then the host dies without releasing it
        with pytest.raises(ConfigError, match="crashed host"):
            second.acquire()
        now[0] += 61  # the lease expires
        second.acquire()
        with pytest.raises(ConfigError, match="new host"):
            first.acquire()
        second.release()
    finally:
        client.delete_table(TableName=table)


def test_a_follower_that_lost_its_lease_cannot_overwrite_the_checkpoint(
    ddb: Endpoint, make_table: Callable[..., str]
) -> None:
    from dynamodb_replicator.errors import ReplicatorError
    from dynamodb_replicator.replicate.checkpoint import CheckpointState

    table = f"ckpt-{make_table()}"
    client = make_client("dynamodb", region=ddb.region, endpoint_url=ddb.url)
    now = [1_000_000.0]
    stalled = TableCheckpoint(client, table, "p->r", holder="stalled", clock=lambda: now[0])
    fresh = TableCheckpoint(client, table, "p->r", holder="fresh", clock=lambda: now[0])
    try:
        stalled.acquire()
        now[0] += 120  # the stalled follower's lease expires; another takes over and saves
        fresh.acquire()
        state = CheckpointState.from_json(
            {"version": 1, "stream_arn": "arn:stream", "shards": {"s1": {"sequence": "900"}}},
            "test",
        )
        fresh.save(state)
        old = CheckpointState.from_json(
            {"version": 1, "stream_arn": "arn:stream", "shards": {"s1": {"sequence": "100"}}},
            "test",
        )
        with pytest.raises(ReplicatorError, match="lost the lease"):
            stalled.save(old)
        loaded = fresh.load()
        assert loaded is not None
        assert loaded.to_json() == state.to_json()
    finally:
        client.delete_table(TableName=table)


def test_a_batch_the_replica_keeps_refusing_names_its_keys(
    ddb: Endpoint, ddb_client: Any, streams_client: Any, make_table: Callable[..., str]
) -> None:
    from dynamodb_replicator.dynamo import Backoff, TableSpec, parse_table_address
    from dynamodb_replicator.errors import IncompleteBatchError
    from dynamodb_replicator.replicate import Replicator, ReplicatorConfig, TableRef
    from dynamodb_replicator.replicate.stream_applier import make_stream_applier
    from faults import inject_leftovers

    primary, replica = make_table(stream=STREAM), make_table()
    put_items(ddb_client, primary, [{"pk": {"S": f"k{i}"}} for i in range(5)])
    arn = ddb_client.describe_table(TableName=primary)["Table"]["LatestStreamArn"]
    shard = streams_client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams_client.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    while len(records) < 5:
        page = streams_client.get_records(ShardIterator=iterator)
        records += page["Records"]
        iterator = page["NextShardIterator"]

    client = make_client("dynamodb", region=ddb.region, endpoint_url=ddb.url)
    inject_leftovers(
        client, "BatchWriteItem", lambda r, _call: r["PutRequest"]["Item"]["pk"]["S"] == "k3"
    )
    spec = TableSpec(parse_table_address(f"{ddb.url}/{replica}", environ={}))
    replicator = Replicator(
        ReplicatorConfig(replica=spec),
        replica=TableRef(client, replica),
        backoff=Backoff(max_attempts=3, sleep=lambda _s: None),
    )
    outcome = make_stream_applier(replicator)(shard["ShardId"], records)
    assert isinstance(outcome.error, IncompleteBatchError)
    assert [dict(k) for k in outcome.error.keys] == [{"pk": {"S": "k3"}}]
