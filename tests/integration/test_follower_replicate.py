"""The stand-alone follower against a real server (moto by default): convergence, restart after SIGKILL, leases."""

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
from click.testing import CliRunner

from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.dynamo import TableSpec, make_client
from dynamodb_replicator.items import canonical_number
from dynamodb_replicator.local.sample import sample_item
from dynamodb_replicator.replicate.checkpoint import FileCheckpoint, TableCheckpoint
from helpers import Endpoint, put_items, scan_all, wait_for_checkpoint

STREAM = "NEW_AND_OLD_IMAGES"


def _by_key(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["pk"]["S"]: i for i in items}


def _assert_same(client: Any, primary: str, replica: str) -> int:
    want = _by_key(scan_all(client, primary))
    got = _by_key(scan_all(client, replica))
    assert sorted(got) == sorted(want)
    bad = [k for k in want if got[k] != want[k]]
    assert not bad, f"{len(bad)} item(s) differ, e.g. {bad[:3]}"
    return len(want)


def _delete(client: Any, table: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 25):
        requests = [{"DeleteRequest": {"Key": {"pk": {"S": k}}}} for k in keys[start : start + 25]]
        while requests:
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])


def _changes(client: Any, table: str, rng: random.Random, first: int, count: int) -> None:
    """``count`` changes: inserts of every type, then overwrites, updates and deletes."""
    inserts = count * 2 // 5
    items = [sample_item(first + i, rng) for i in range(inserts)]
    put_items(client, table, items)
    keys = [i["pk"]["S"] for i in items]
    overwrites = count // 5
    changed = []
    for item in rng.sample(items, overwrites):
        item = dict(
            item, small={"N": str(rng.randint(-(10**6), 10**6))}, bin={"B": rng.randbytes(9)}
        )
        changed.append(item)
    put_items(client, table, changed)
    updates = count // 10
    for key in rng.sample(keys, updates):
        client.update_item(
            TableName=table,
            Key={"pk": {"S": key}},
            UpdateExpression="SET n38 = :n, extra = :m",
            ExpressionAttributeValues={
                ":n": {"N": "-9876543210987654321098765432109876543"},
                ":m": {"M": {"b": {"B": b"\x00\x01"}, "e": {"S": ""}}},
            },
        )
    deletes = count - inserts - overwrites - updates
    _delete(client, table, rng.sample(keys, deletes))


def _replicate(ddb: Endpoint, primary: str, replica: str, *extra: str) -> Any:
    args = ["replicate", f"{ddb.url}/{primary}", f"{ddb.url}/{replica}", "--quiet", *extra]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_5000_changes_converge_byte_for_byte(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    primary, replica = make_table(stream=STREAM), make_table()
    _changes(ddb_client, primary, random.Random(1), 0, 5000)
    checkpoint = tmp_path / "cp.json"
    result = _replicate(
        ddb, primary, replica, "--until-caught-up", "--quiet-seconds", "1",
        "--max-seconds", "120", "--checkpoint", str(checkpoint),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _assert_same(ddb_client, primary, replica) == 500
    state = json.loads(checkpoint.read_text())
    assert state["shards"]
    assert all(s["sequence"] for s in state["shards"].values())

    # a second run from the checkpoint has nothing to do and still agrees
    again = _replicate(
        ddb, primary, replica, "--until-caught-up", "--quiet-seconds", "0.5",
        "--checkpoint", str(checkpoint),
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    _assert_same(ddb_client, primary, replica)


def _spawn(ddb: Endpoint, primary: str, replica: str, checkpoint: Path, *extra: str) -> Any:
    cmd = [
        sys.executable, "-m", "dynamodb_replicator.cli", "replicate",
        f"{ddb.url}/{primary}", f"{ddb.url}/{replica}", "--quiet",
        "--checkpoint", str(checkpoint), *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_sigkill_then_restart_converges(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    primary, replica = make_table(stream=STREAM), make_table()
    rng = random.Random(2)
    _changes(ddb_client, primary, rng, 0, 1500)
    checkpoint = tmp_path / "cp.json"
    proc = _spawn(ddb, primary, replica, checkpoint)
    try:
        wait_for_checkpoint(proc, checkpoint)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    _changes(ddb_client, primary, rng, 10_000, 500)  # changes made while it was down
    restarted = _spawn(
        ddb, primary, replica, checkpoint, "--until-caught-up", "--quiet-seconds", "1",
        "--max-seconds", "120",
    )  # fmt: skip
    _out, err = restarted.communicate(timeout=150)
    assert restarted.returncode == 0, err.decode()
    _assert_same(ddb_client, primary, replica)


def test_second_follower_on_a_file_checkpoint_is_refused(
    ddb: Endpoint, make_table: Callable[..., str], tmp_path: Path
) -> None:
    primary, replica = make_table(stream=STREAM), make_table()
    checkpoint = tmp_path / "cp.json"
    first = FileCheckpoint(checkpoint, holder="first-follower pid 1")
    first.acquire()
    try:
        result = _replicate(ddb, primary, replica, "--checkpoint", str(checkpoint))
    finally:
        first.release()
    assert result.exit_code == 2, result.output
    assert "in use by another follower: first-follower pid 1" in result.output


def test_table_checkpoint_round_trip_and_lease(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    primary, replica = make_table(stream=STREAM), make_table()
    put_items(ddb_client, primary, [sample_item(i, random.Random(i)) for i in range(30)])
    table = f"ckpt-{primary}"
    location = f"ddb://{ddb.region}/{table}"
    result = _replicate(
        ddb, primary, replica, "--until-caught-up", "--quiet-seconds", "0.5",
        "--checkpoint", location, "--endpoint-url", ddb.url,
    )  # fmt: skip
    try:
        assert result.exit_code == 0, result.output
        _assert_same(ddb_client, primary, replica)
        client = make_client("dynamodb", region=ddb.region, endpoint_url=ddb.url)
        name = f"{ddb.url}/{primary} ({ddb.region})->{ddb.url}/{replica} ({ddb.region})"
        holder = TableCheckpoint(client, table, name, holder="other host pid 7")
        state = holder.load()
        assert state is not None
        assert state.shards
        holder.acquire()
        refused = _replicate(
            ddb, primary, replica, "--checkpoint", location, "--endpoint-url", ddb.url
        )
        holder.release()
        assert refused.exit_code == 2, refused.output
        assert "in use by another follower: other host pid 7" in refused.output
    finally:
        ddb_client.delete_table(TableName=table)


def test_table_without_stream_is_a_usage_error(
    ddb: Endpoint, make_table: Callable[..., str], tmp_path: Path
) -> None:
    primary, replica = make_table(), make_table()
    result = _replicate(ddb, primary, replica, "--checkpoint", str(tmp_path / "c.json"))
    assert result.exit_code == 2
    assert "has no enabled stream" in result.output


def test_keys_only_stream_suggests_fetch_mode_and_fetch_works(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    primary, replica = make_table(stream="KEYS_ONLY"), make_table()
    _changes(ddb_client, primary, random.Random(3), 0, 200)
    checkpoint = str(tmp_path / "c.json")
    refused = _replicate(ddb, primary, replica, "--checkpoint", checkpoint)
    assert refused.exit_code == 2
    assert "--mode fetch" in refused.output
    result = _replicate(
        ddb, primary, replica, "--mode", "fetch", "--until-caught-up", "--quiet-seconds", "0.5",
        "--checkpoint", checkpoint,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    _assert_same(ddb_client, primary, replica)


def test_empty_maps_and_lists_replicate(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    """DynamoDB Local's stream images carry an empty map as ``{}``: still an empty map."""
    primary, replica = make_table(stream=STREAM), make_table()
    item = {
        "pk": {"S": "e"},
        "m": {"M": {}},
        "l": {"L": []},
        "n": {"M": {"x": {"M": {}}, "y": {"L": [{"M": {}}, {"L": []}]}}},
    }
    put_items(ddb_client, primary, [item])
    result = _replicate(
        ddb, primary, replica, "--until-caught-up", "--quiet-seconds", "0.5",
        "--checkpoint", str(tmp_path / "cp.json"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert scan_all(ddb_client, replica) == [item]


@pytest.mark.moto
def test_a_number_key_spelled_two_ways_replicates(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    """DynamoDB Local's stream keeps ``1.50`` in Keys and ``1.5`` in NewImage: one key."""
    primary, replica = (
        make_table(("pk", "S"), ("sk", "N"), stream=STREAM),
        make_table(("pk", "S"), ("sk", "N")),
    )
    for qty in ("1", "2"):
        ddb_client.update_item(
            TableName=primary,
            Key={"pk": {"S": "a"}, "sk": {"N": "1.50"}},
            UpdateExpression="SET qty = :q",
            ExpressionAttributeValues={":q": {"N": qty}},
        )
    result = _replicate(
        ddb, primary, replica, "--until-caught-up", "--quiet-seconds", "0.5",
        "--checkpoint", str(tmp_path / "cp.json"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (item,) = scan_all(ddb_client, replica)
    assert canonical_number(item["sk"]["N"]) == "1.5"
    assert item["qty"] == {"N": "2"}


class _DamageOneRecord:
    """Makes the stream's MODIFY of ``pk`` carry a NewImage of another key, as a broken
    producer or server might: a record that is truly inconsistent (a server will not make one)."""

    def __init__(self, pk: str):
        self.pk = pk
        self.sequence: str | None = None

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        for record in parsed.get("Records", []):
            body = record["dynamodb"]
            if record["eventName"] == "MODIFY" and body["Keys"]["pk"] == {"S": self.pk}:
                body["NewImage"] = {**body["NewImage"], "pk": {"S": self.pk + "-other"}}
                self.sequence = body["SequenceNumber"]


@pytest.mark.moto
def test_an_inconsistent_record_stops_the_follower_until_skipped(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    primary, replica = make_table(stream=STREAM), make_table()
    put_items(ddb_client, primary, [{"pk": {"S": f"k{i}"}, "v": {"N": "1"}} for i in range(3)])
    put_items(ddb_client, primary, [{"pk": {"S": "k1"}, "v": {"N": "2"}}])
    put_items(ddb_client, primary, [{"pk": {"S": "k2"}, "v": {"N": "2"}}])
    damage = _DamageOneRecord("k1")
    streams_client = TableSpec.streams_client

    def damaged(self: TableSpec, environ: Any = None) -> Any:
        client = streams_client(self, environ)
        client.meta.events.register("after-call.dynamodbstreams.GetRecords", damage)
        return client

    monkeypatch.setattr(TableSpec, "streams_client", damaged)
    checkpoint = str(tmp_path / "cp.json")
    args = ("--until-caught-up", "--quiet-seconds", "0.5", "--checkpoint", checkpoint)
    for _ in range(2):  # the same record stops every run
        refused = _replicate(ddb, primary, replica, *args)
        assert refused.exit_code == 3, refused.output
        assert damage.sequence is not None
        assert f"--skip-record {damage.sequence}" in refused.output
    assert by_key_values(ddb_client, replica) == {"k0": "1", "k1": "1", "k2": "1"}

    skip = ["--skip-record", damage.sequence]
    loud = [f"{ddb.url}/{primary}", f"{ddb.url}/{replica}", *args, *skip]  # warnings shown
    skipped = CliRunner().invoke(cli, ["replicate", *loud], catch_exceptions=False)
    assert skipped.exit_code == 0, skipped.output
    assert by_key_values(ddb_client, replica) == {"k0": "1", "k1": "1", "k2": "2"}
    assert f"record {damage.sequence} (position " in skipped.output
    assert 'skipped on request, keys {"pk":{"S":"k1"}}' in skipped.output
    assert "(1 skipped on request)" in skipped.output

    bad = _replicate(ddb, primary, replica, *args, "--skip-record", "12a")
    assert bad.exit_code == 2
    assert "--skip-record '12a' is not a sequence number" in bad.output


def by_key_values(client: Any, table: str) -> dict[str, str]:
    return {i["pk"]["S"]: i["v"]["N"] for i in scan_all(client, table)}
