"""Where backup-table writes (the seed's command lines, as written), what it refuses, and the
S3 storage's streaming upload."""

from __future__ import annotations

import functools
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dynamodb_replicator.backup import (
    BackupJob,
    Location,
    S3Storage,
    StorageSpec,
    backup_segment,
)
from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.dynamo import TableSpec, parse_table_address
from dynamodb_replicator.errors import TableNotFoundError
from dynamodb_replicator.segments import SegmentContext
from helpers import Endpoint, put_items

MiB = 1024 * 1024


class _Sink:
    def put(self, item: Any) -> None:
        return None


@pytest.fixture
def env(ddb: Endpoint, s3_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point REGION/TABLE addresses and S3 at the test servers, as a user's environment would."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", ddb.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint.url)


@pytest.fixture
def primary(make_table: Callable[..., str], ddb_client: Any) -> str:
    table = make_table()
    put_items(ddb_client, table, [{"pk": {"S": f"k{i}"}, "v": {"N": str(i)}} for i in range(30)])
    return table


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _keys(s3: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.mark.usefixtures("env")
def test_the_seed_command_lines_write_where_the_seed_says(
    primary: str, make_bucket: Callable[..., str], s3_client: Any
) -> None:
    bucket = make_bucket()
    # backup-table us-east-1/primary s3://my-bucket/some-prefix
    result = _run("backup-table", f"us-east-1/{primary}", f"s3://{bucket}/some-prefix")
    assert result.exit_code == 0, result.output
    (jobid,) = {k.split("/")[1] for k in _keys(s3_client, bucket)}
    assert _keys(s3_client, bucket) == {
        f"some-prefix/{jobid}/_started",
        f"some-prefix/{jobid}/0",
        f"some-prefix/{jobid}/0.manifest.json",
    }
    assert f"jobid {jobid} at s3://{bucket}/some-prefix/{jobid}" in result.output
    assert "30 items" in result.output

    # ... --jobid my-job-id
    result = _run(
        "backup-table", f"us-east-1/{primary}", f"s3://{bucket}/some-prefix", "--jobid", "my-job-id"
    )
    assert result.exit_code == 0, result.output
    assert "some-prefix/my-job-id/0" in _keys(s3_client, bucket)

    # ... --jobid my-job-id --segment 4 --segments 10 (another bucket: the same jobid with
    # another segment count is refused, see below)
    other = make_bucket()
    result = _run(
        "backup-table", f"us-east-1/{primary}", f"s3://{other}/some-prefix",
        "--jobid", "my-job-id", "--segment", "4", "--segments", "10",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _keys(s3_client, other) == {
        "some-prefix/my-job-id/_started",
        "some-prefix/my-job-id/4",
        "some-prefix/my-job-id/4.manifest.json",
    }
    result = _run(
        "backup-table", f"us-east-1/{primary}", f"s3://{bucket}/some-prefix",
        "--jobid", "my-job-id", "--segment", "4", "--segments", "10",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "already holds a backup" in result.output


@pytest.mark.usefixtures("env")
def test_a_bare_bucket_gets_the_job_at_its_top(
    primary: str, make_bucket: Callable[..., str], s3_client: Any
) -> None:
    bucket = make_bucket()
    result = _run("backup-table", f"us-east-1/{primary}", f"s3://{bucket}", "--jobid", "top")
    assert result.exit_code == 0, result.output
    assert _keys(s3_client, bucket) == {"top/_started", "top/0", "top/0.manifest.json"}


@pytest.mark.usefixtures("env")
def test_refusals_before_any_work(
    primary: str, make_bucket: Callable[..., str], s3_client: Any
) -> None:
    bucket = make_bucket()
    result = _run("backup-table", f"us-east-1/{primary}", f"s3://{bucket}/p", "--jobid", "../x")
    assert result.exit_code == 2
    assert "not a single safe path component" in result.output
    result = _run("backup-table", f"us-east-1/{primary}", "s3://no-such-bucket-here/p")
    assert result.exit_code == 2
    assert "no-such-bucket-here" in result.output
    result = _run("backup-table", "us-east-1/no-such-table", f"s3://{bucket}/p")
    assert result.exit_code == 2
    assert "not found" in result.output
    assert _keys(s3_client, bucket) == set()


@pytest.mark.usefixtures("env")
def test_resume_keeps_finished_segments_and_a_jobid_is_not_reused_for_another_table(
    primary: str, make_table: Callable[..., str], tmp_path: Any
) -> None:
    dest = str(tmp_path)
    args = ("backup-table", f"us-east-1/{primary}", dest, "--jobid", "j", "--segments", "2")
    result = _run(*args, "--workers", "1")
    assert result.exit_code == 0, result.output
    first = (tmp_path / "j" / "1").stat().st_mtime_ns
    (tmp_path / "j" / "0.manifest.json").unlink()
    result = _run(*args, "--workers", "1", "--resume")
    assert result.exit_code == 0, result.output
    assert "segment 1: kept (--resume" in result.output
    assert "segment 0: kept" not in result.output
    assert (tmp_path / "j" / "1").stat().st_mtime_ns == first
    assert (tmp_path / "j" / "0.manifest.json").exists()

    other = make_table()
    result = _run("backup-table", f"us-east-1/{other}", dest, "--jobid", "j", "--segments", "2")
    assert result.exit_code == 2
    assert "already holds a backup" in result.output


def test_a_failed_segment_leaves_no_object_and_no_manifest(ddb: Endpoint, tmp_path: Any) -> None:
    spec = TableSpec(parse_table_address(f"{ddb.url}/no-such-table-x"))
    storage = StorageSpec(Location("folder", str(tmp_path / "j")))
    job = BackupJob(spec, storage, "j", 1)
    ctx = SegmentContext(0, 1, threading.Event(), _Sink())
    with pytest.raises(TableNotFoundError):
        functools.partial(backup_segment, job)(ctx)
    assert not (tmp_path / "j").exists() or os.listdir(tmp_path / "j") == []


def test_s3_streaming_upload_in_growing_parts_and_abort(
    make_bucket: Callable[..., str], s3_client: Any
) -> None:
    bucket = make_bucket()
    storage = S3Storage(Location("s3", "p", bucket), s3_client, part_base=5 * MiB)
    data = os.urandom(11 * MiB + 123)
    writer = storage.writer("big")
    for i in range(0, len(data), 3 * MiB):
        writer.write(data[i : i + 3 * MiB])
    assert writer.commit() == len(data)
    assert storage.size("big") == len(data)
    assert b"".join(storage.read("big")) == data
    head = s3_client.head_object(Bucket=bucket, Key="p/big")
    assert head["ETag"].strip('"').endswith("-3")  # three parts of a multipart upload

    writer = storage.writer("aborted")
    writer.write(os.urandom(6 * MiB))
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    writer.abort()
    assert not s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert storage.size("aborted") is None

    small = storage.writer("small")
    small.write(b"abc")
    assert small.commit() == 3
    assert storage.get("small") == b"abc"


def test_a_job_refuses_segments_of_another_table_with_the_same_name(
    dynalite: Endpoint, moto_server: Endpoint, tmp_path: Path
) -> None:
    """Same region and name, another endpoint (or account): not the same table."""
    from helpers import make_client

    name = f"same-{uuid.uuid4().hex[:6]}"
    for endpoint in (dynalite, moto_server):
        client = make_client("dynamodb", endpoint)
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        put_items(client, name, [{"pk": {"S": f"{endpoint.name}-{i}"}} for i in range(5)])
    dest = str(tmp_path / "mixed")
    first = CliRunner().invoke(
        cli, ["backup-table", f"{dynalite.url}/{name}", dest, "--jobid", "j",
              "--segment", "0", "--segments", "2"],
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(
        cli, ["backup-table", f"{moto_server.url}/{name}", dest, "--jobid", "j",
              "--segment", "1", "--segments", "2"],
    )  # fmt: skip
    assert second.exit_code == 2, second.output
    assert "already holds a backup" in second.output


def test_consistent_backup_is_recorded_in_the_manifest(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    import json

    table = make_table()
    put_items(ddb_client, table, [{"pk": {"S": f"k{i}"}} for i in range(7)])
    dest = tmp_path / "c"
    result = CliRunner().invoke(
        cli, ["backup-table", f"{ddb.url}/{table}", str(dest), "--jobid", "j", "--consistent"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((dest / "j" / "0.manifest.json").read_text())
    assert manifest["consistent_read"] is True
    assert manifest["item_count"] == 7
