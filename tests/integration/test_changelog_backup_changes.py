"""``backup-changes`` on the embedded moto server: every change lands once, byte for byte.

The log is compared with the stream itself, read directly through the Streams API: after
de-duplication the log holds exactly the stream's records, in stream order, with every digit
and byte, through a restart after SIGKILL too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.backup.storage import FolderStorage, S3Storage, Storage
from dynamodb_replicator.changelog.format import ChangeRecord, record_from_stream
from dynamodb_replicator.changelog.layout import log_location, stream_label
from dynamodb_replicator.changelog.reader import (
    LogWindow,
    read_descriptor,
    read_heartbeats,
    read_window,
)
from dynamodb_replicator.cli.app import cli
from helpers import Endpoint, wait_for_checkpoint

# Stream times must be second-precise (DynamoDB Local truncates them to the minute): moto only.
ON_MOTO = pytest.mark.parametrize("ddb", ["moto"], indirect=True)
BIG = "12345678901234567890123456789012345678"
NEG = "-9.876543210987654321098765432109876543E-100"


def _stream_records(ddb_client: Any, streams_client: Any, table: str) -> list[ChangeRecord]:
    """Every record of the table's stream, read directly, parents' shards first."""
    arn = ddb_client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shards = streams_client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    out: list[ChangeRecord] = []
    for shard in shards:
        iterator = streams_client.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams_client.get_records(ShardIterator=iterator, Limit=1000)
            out.extend(record_from_stream(r, binary_as_text=False) for r in page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return out


def _comparable(record: ChangeRecord) -> tuple[Any, ...]:
    """Every field but the time's spelling (a datetime read here, epoch seconds in the log)."""
    return (
        record.event_id,
        record.sequence_number,
        record.seconds,
        record.event_name,
        record.keys,
        record.new_image,
        record.old_image,
        record.user_identity,
    )


def _workload(client: Any, table: str, first: int = 0, count: int = 20) -> None:
    for n in range(first, first + count):
        client.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"k{n}"},
                "n": {"N": BIG},
                "neg": {"N": NEG},
                "nested": {
                    "M": {"b": {"B": bytes([n % 256, 0, 255])}, "l": {"L": [{"BS": [b"\0"]}]}}
                },
                "ss": {"SS": ["a", "b"]},
                "ns": {"NS": ["1", BIG]},
                "empty": {"S": ""},
                "eb": {"B": b""},
            },
        )
    for n in range(first, first + count, 2):
        client.update_item(
            TableName=table,
            Key={"pk": {"S": f"k{n}"}},
            UpdateExpression="SET n = :n, nested.b = :b",
            ExpressionAttributeValues={":n": {"N": f"-{BIG}"}, ":b": {"B": b"\x01\x02"}},
        )
    for n in range(first, first + count, 5):
        client.delete_item(TableName=table, Key={"pk": {"S": f"k{n}"}})


def _log_storage(target: Path, table: str, ddb_client: Any) -> Storage:
    arn = ddb_client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    return FolderStorage(log_location(Location("folder", str(target)), table, stream_label(arn)))


def _run(ddb: Endpoint, table: str, target: str, *extra: str) -> Any:
    args = [
        "backup-changes", f"{ddb.url}/{table}", target, "--quiet",
        "--s3-endpoint-url", ddb.url, *extra,
    ]  # fmt: skip
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _assert_exactly_the_stream(window: LogWindow, stream: list[ChangeRecord]) -> None:
    assert window.damaged == ()
    assert window.unfinished == ()
    logged = [_comparable(r.record) for r in window.records]
    assert logged == [_comparable(r) for r in stream]


@ON_MOTO
def test_workload_lands_exactly_once_byte_for_byte(
    ddb: Endpoint,
    ddb_client: Any,
    streams_client: Any,
    make_table: Callable[..., str],
    tmp_path: Path,
) -> None:
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    _workload(ddb_client, table)
    big = {"pk": {"S": "big"}, "blob": {"B": bytes(range(256)) * 1560}}  # 390 KB
    ddb_client.put_item(TableName=table, Item=big)
    target = tmp_path / "log"
    cp = tmp_path / "cp.json"
    result = _run(ddb, table, f"{target}/", "--until-caught-up", "--quiet-seconds", "0.5",
                  "--max-seconds", "60", "--checkpoint", str(cp))  # fmt: skip
    assert result.exit_code == 0, result.output

    storage = _log_storage(target, table, ddb_client)
    window = read_window(storage)
    stream = _stream_records(ddb_client, streams_client, table)
    assert [r.event_name for r in stream].count("REMOVE") == 4
    _assert_exactly_the_stream(window, stream)
    last = window.records[-1].record
    assert last.new_image == big
    assert window.records[0].record.new_image is not None
    assert window.records[0].record.new_image["n"] == {"N": BIG}
    assert all(m.shard_id and m.writer == "follower" for m in window.objects)
    descriptor = read_descriptor(storage)
    assert descriptor is not None
    assert descriptor.table == table
    assert descriptor.key_schema == (("pk", "HASH", "S"),)
    beats = read_heartbeats(storage)
    assert beats
    assert {b.last_sequence_number for b in beats} == {last.sequence_number}
    verified = CliRunner().invoke(cli, ["verify-changes", f"{target}/{table}"])
    assert verified.exit_code == 0, verified.output
    assert f"{len(stream)} record(s)" in verified.output

    # a second run has nothing new to write, and the log is unchanged
    again = _run(ddb, table, f"{target}/", "--until-caught-up", "--quiet-seconds", "0.5",
                 "--max-seconds", "60", "--checkpoint", str(cp))  # fmt: skip
    assert again.exit_code == 0, again.output
    assert read_window(storage).records == window.records


@ON_MOTO
def test_to_s3(
    ddb: Endpoint,
    ddb_client: Any,
    streams_client: Any,
    s3_client: Any,
    make_table: Callable[..., str],
    make_bucket: Callable[..., str],
    tmp_path: Path,
) -> None:
    table = make_table(stream="NEW_IMAGE")
    _workload(ddb_client, table, count=5)
    bucket = make_bucket()
    result = _run(ddb, table, f"s3://{bucket}/logs", "--sse", "AES256", "--until-caught-up", "--quiet-seconds",
                  "0.5", "--max-seconds", "60", "--checkpoint", str(tmp_path / "cp.json"))  # fmt: skip
    assert result.exit_code == 0, result.output
    arn = ddb_client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    where = log_location(Location("s3", "logs", bucket), table, stream_label(arn))
    window = read_window(S3Storage(where, s3_client))
    _assert_exactly_the_stream(window, _stream_records(ddb_client, streams_client, table))
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.endswith(".jsonl.gz") for k in keys)
    for key in keys:
        head = s3_client.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "AES256", key


@ON_MOTO
def test_keys_only_is_refused_unless_fetch(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    table = make_table(stream="KEYS_ONLY")
    ddb_client.put_item(TableName=table, Item={"pk": {"S": "a"}, "n": {"N": BIG}})
    ddb_client.put_item(TableName=table, Item={"pk": {"S": "gone"}})
    ddb_client.delete_item(TableName=table, Key={"pk": {"S": "gone"}})
    cp = str(tmp_path / "cp.json")
    refused = _run(ddb, table, f"{tmp_path}/log", "--checkpoint", cp)
    assert refused.exit_code == 2
    assert "KEYS_ONLY" in refused.output
    assert "--fetch" in refused.output
    fetched = _run(ddb, table, f"{tmp_path}/log", "--checkpoint", cp, "--fetch",
                   "--until-caught-up", "--quiet-seconds", "0.5", "--max-seconds", "60")  # fmt: skip
    assert fetched.exit_code == 0, fetched.output
    records = [
        r.record for r in read_window(_log_storage(tmp_path / "log", table, ddb_client)).records
    ]
    assert [(r.event_name, r.new_image) for r in records] == [
        ("INSERT", {"pk": {"S": "a"}, "n": {"N": BIG}}),
        ("INSERT", None),  # deleted since: nothing to fetch
        ("REMOVE", None),
    ]


def test_a_bare_target_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["backup-changes", "localhost:1/table", "my-bucket/prefix"])
    assert result.exit_code == 2
    assert "neither an S3 location nor an explicit local folder" in result.output


def _spawn(ddb: Endpoint, table: str, target: Path, cp: Path, *extra: str) -> Any:
    cmd = [
        sys.executable, "-m", "dynamodb_replicator.cli", "backup-changes",
        f"{ddb.url}/{table}", f"{target}/", "--quiet", "--checkpoint", str(cp), *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@ON_MOTO
def test_sigkilled_writer_restarted_loses_and_duplicates_nothing(
    ddb: Endpoint,
    ddb_client: Any,
    streams_client: Any,
    make_table: Callable[..., str],
    tmp_path: Path,
) -> None:
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    _workload(ddb_client, table, 0, 300)
    target, cp = tmp_path / "log", tmp_path / "cp.json"
    proc = _spawn(ddb, table, target, cp)
    try:
        wait_for_checkpoint(proc, cp)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    _workload(ddb_client, table, 1000, 100)  # changes made while it was down
    restarted = _spawn(ddb, table, target, cp, "--until-caught-up", "--quiet-seconds", "1",
                       "--max-seconds", "120")  # fmt: skip
    _out, err = restarted.communicate(timeout=150)
    assert restarted.returncode == 0, err.decode()
    window = read_window(_log_storage(target, table, ddb_client))
    _assert_exactly_the_stream(window, _stream_records(ddb_client, streams_client, table))
    assert json.loads(cp.read_text())["shards"]
    verified = CliRunner().invoke(cli, ["verify-changes", f"{target}/{table}"])
    assert verified.exit_code == 0, verified.output


@ON_MOTO
def test_record_history_shows_every_version_newest_first(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    table = make_table(range_key=("sk", "N"), stream="NEW_AND_OLD_IMAGES")
    key = {"pk": {"S": "a"}, "sk": {"N": "1.5"}}
    for version in range(1, 6):
        ddb_client.put_item(TableName=table, Item={**key, "v": {"N": f"{version}{BIG}"}})
        ddb_client.put_item(TableName=table, Item={"pk": {"S": "other"}, "sk": {"N": "1"}})
    ddb_client.delete_item(TableName=table, Key=key)
    target = tmp_path / "log"
    result = _run(ddb, table, f"{target}/", "--until-caught-up", "--quiet-seconds", "0.5",
                  "--max-seconds", "60", "--checkpoint", str(tmp_path / "cp.json"))  # fmt: skip
    assert result.exit_code == 0, result.output

    shown = CliRunner().invoke(
        cli, ["record-history", f"{target}/{table}", '{"pk": "a", "sk": 1.50}']
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert [line.split()[1] for line in lines] == ["REMOVE", *["MODIFY"] * 4, "INSERT"]
    assert "(deleted)" in lines[0]
    for version, line in zip(range(5, 0, -1), lines[1:], strict=True):
        assert f'"v":{{"N":"{version}{BIG}"}}' in line

    as_jsonl = CliRunner().invoke(
        cli, ["record-history", f"{target}/{table}", '{"pk": {"S": "a"}, "sk": {"N": "1.50"}}',
              "--format", "jsonl"],
    )  # fmt: skip
    assert as_jsonl.exit_code == 0, as_jsonl.output
    records = [json.loads(line) for line in as_jsonl.output.splitlines()]
    assert [r["eventName"] for r in records] == ["REMOVE", *["MODIFY"] * 4, "INSERT"]
    assert records[-1]["newImage"]["v"] == {"N": f"1{BIG}"}
    assert records[0]["oldImage"]["v"] == {"N": f"5{BIG}"}
