"""The Lambda change log writer (``lambda_handler.backup``) on the moto server: events built
from the table's real stream records, as Lambda delivers them (binary base64, epoch seconds)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from click.testing import CliRunner

from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.backup.storage import S3Storage
from dynamodb_replicator.changelog.format import ChangeRecord, record_from_stream
from dynamodb_replicator.changelog.lambda_writer import LambdaLogWriter, load_backup_config
from dynamodb_replicator.changelog.layout import log_location, stream_label
from dynamodb_replicator.changelog.reader import LogWindow, read_window
from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.errors import ConfigError
from dynamodb_replicator.items import item_to_text
from dynamodb_replicator.lambda_handler import build_backup_handler
from helpers import Endpoint

ROOT = Path(__file__).resolve().parents[2]
ON_MOTO = pytest.mark.parametrize("ddb", ["moto"], indirect=True)
BIG = "12345678901234567890123456789012345678"


def _event_records(ddb_client: Any, streams_client: Any, table: str) -> list[dict[str, Any]]:
    arn = ddb_client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    (shard,) = streams_client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams_client.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    raw = streams_client.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    out = []
    for record in raw:
        body = dict(record["dynamodb"])
        body["ApproximateCreationDateTime"] = int(body["ApproximateCreationDateTime"].timestamp())
        for image in ("Keys", "NewImage", "OldImage"):
            if image in body:
                body[image] = item_to_text(body[image])
        out.append({**record, "dynamodb": body, "eventSourceARN": arn, "awsRegion": "us-east-1"})
    return out


def _workload(client: Any, table: str) -> None:
    for n in range(12):
        client.put_item(
            TableName=table,
            Item={"pk": {"S": f"k{n}"}, "n": {"N": BIG}, "m": {"M": {"b": {"B": bytes([n, 0])}}},
                  "e": {"S": ""}, "bs": {"BS": [b"\0", b"\1"]}},
        )  # fmt: skip
    client.update_item(
        TableName=table,
        Key={"pk": {"S": "k1"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": f"-{BIG}"}},
    )
    client.delete_item(TableName=table, Key={"pk": {"S": "k2"}})


def _env(ddb: Endpoint, **extra: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL_S3": ddb.url, "AWS_ENDPOINT_URL_DYNAMODB": ddb.url, **extra}


def _window(s3_client: Any, bucket: str, prefix: str, ddb_client: Any, table: str) -> LogWindow:
    arn = ddb_client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    where = log_location(Location("s3", prefix, bucket), table, stream_label(arn))
    return read_window(S3Storage(where, s3_client))


def _expected(records: list[dict[str, Any]]) -> list[ChangeRecord]:
    return [record_from_stream(r, binary_as_text=True) for r in records]


@ON_MOTO
def test_batches_retried_whole_bisected_or_twice_leave_the_same_log(
    ddb: Endpoint,
    ddb_client: Any,
    streams_client: Any,
    s3_client: Any,
    make_table: Callable[..., str],
    make_bucket: Callable[..., str],
) -> None:
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    _workload(ddb_client, table)
    records = _event_records(ddb_client, streams_client, table)
    bucket = make_bucket()
    handle = build_backup_handler(_env(ddb, BACKUP_TARGET=f"s3://{bucket}/logs"))
    assert handle({"Records": records}, None) == {"batchItemFailures": []}
    first = _window(s3_client, bucket, "logs", ddb_client, table)
    assert [r.record for r in first.records] == _expected(records)
    assert first.records[0].record.new_image is not None
    assert first.records[0].record.new_image["m"] == {"M": {"b": {"B": b"\x00\x00"}}}
    assert all(m.writer == "lambda" and m.predecessor is None for m in first.objects)

    assert handle({"Records": records}, None) == {"batchItemFailures": []}  # retried whole
    half = len(records) // 2
    handle({"Records": records[:half]}, None)  # bisected
    handle({"Records": records[half:]}, None)
    handle({"Records": records[half:]}, None)  # twice
    again = _window(s3_client, bucket, "logs", ddb_client, table)
    assert [r.record for r in again.records] == [r.record for r in first.records]
    assert again.damaged == ()
    verified = CliRunner().invoke(
        cli, ["verify-changes", f"s3://{bucket}/logs/{table}", "--s3-endpoint-url", ddb.url]
    )
    assert verified.exit_code == 0, verified.output

    # the original tool's variables name the same place
    original = build_backup_handler(_env(ddb, BackupBucket=bucket, BackupPrefix="/logs/"))
    assert original({"Records": records}, None) == {"batchItemFailures": []}
    same = _window(s3_client, bucket, "logs", ddb_client, table)
    assert [r.record for r in same.records] == [r.record for r in first.records]


@ON_MOTO
def test_a_refused_record_and_a_failed_write_report_exactly_the_rest(
    ddb: Endpoint,
    ddb_client: Any,
    streams_client: Any,
    s3_client: Any,
    make_table: Callable[..., str],
    make_bucket: Callable[..., str],
) -> None:
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    _workload(ddb_client, table)
    records = _event_records(ddb_client, streams_client, table)
    bucket = make_bucket()
    config = load_backup_config(_env(ddb, BACKUP_TARGET=f"s3://{bucket}/logs"))
    writer = LambdaLogWriter.from_config(config)
    handle = build_backup_handler({}, writer=writer)

    bad = [*records[:5], {**records[5], "eventName": "UPSERT"}, *records[6:]]
    failed = handle({"Records": bad}, None)["batchItemFailures"]
    ids = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert [f["itemIdentifier"] for f in failed] == ids[5:]
    assert [r.record for r in _window(s3_client, bucket, "logs", ddb_client, table).records] == (
        _expected(records[:5])
    )

    # the records after it fall in the next hour (scripted times); its object's PUT fails (5xx)
    later = [
        {**r, "dynamodb": {**r["dynamodb"], "ApproximateCreationDateTime": 4_000_000_000}}
        for r in records[8:]
    ]
    batch = records[5:8] + later
    client = writer.root.client  # type: ignore[attr-defined]
    puts: list[str] = []

    def fail_second_object(params: Any, **_: Any) -> None:
        puts.append(params["Key"])
        if len(puts) == 3:  # object 1, its manifest, then object 2
            raise ClientError({"Error": {"Code": "InternalError"}}, "PutObject")

    client.meta.events.register("before-parameter-build.s3.PutObject", fail_second_object)
    try:
        failed = handle({"Records": batch}, None)["batchItemFailures"]
    finally:
        client.meta.events.unregister("before-parameter-build.s3.PutObject", fail_second_object)
    assert [f["itemIdentifier"] for f in failed] == ids[8:]
    assert handle({"Records": later}, None) == {"batchItemFailures": []}
    window = _window(s3_client, bucket, "logs", ddb_client, table)
    assert len(window.records) == len(records)
    assert window.unfinished == ()  # the failed object never appeared


def test_configuration_errors_are_named() -> None:
    with pytest.raises(ConfigError, match="no backup target"):
        load_backup_config({})
    with pytest.raises(ConfigError, match="both BACKUP_TARGET and BackupBucket"):
        load_backup_config({"BACKUP_TARGET": "s3://b-1/x", "BackupBucket": "b-1"})
    with pytest.raises(ConfigError, match="neither an S3 location"):
        load_backup_config({"BACKUP_TARGET": "my-bucket/prefix"})
    config = load_backup_config({"BackupBucket": "b-1", "BackupRegion": "eu-west-1",
                                 "BACKUP_SSE_KMS_KEY_ID": "k"})  # fmt: skip
    assert (config.target.url(), config.region, config.sse) == ("s3://b-1/", "eu-west-1", "aws:kms")


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !If, ...) as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_template_runs_the_writer_as_a_second_function_on_the_stream() -> None:
    template = yaml.load((ROOT / "deploy" / "template.yaml").read_text(), Loader=_Loader)
    resources = template["Resources"]
    function = resources["BackupFunction"]
    assert function["Condition"] == "HasBackup"
    assert function["Properties"]["Handler"] == "dynamodb_replicator.lambda_handler.backup"
    mapping = resources["BackupStreamMapping"]["Properties"]
    assert mapping["ParallelizationFactor"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert "MaximumBatchingWindowInSeconds" in mapping
    assert template["Parameters"]["BackupBatchingWindowSeconds"]["Default"] > 0
    alarms = [
        r for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r.get("Condition") == "HasBackup"
    ]  # fmt: skip
    assert {a["Properties"]["MetricName"] for a in alarms} == {
        "IteratorAge",
        "Errors",
        "OnFailureDestinationDeliveredEventCount",
        "DestinationDeliveryFailures",
    }


def _reingest(ddb: Endpoint, logs: str, table: str, failures: str) -> tuple[str, str]:
    """verify-changes --failures (exit 1 while a batch is not re-ingested), backup-changes
    --from-failures (exit 0), verify-changes again (exit 0); the outputs of the first two."""
    endpoint = ["--s3-endpoint-url", ddb.url]
    verify = ["verify-changes", f"s3://{logs}/logs/{table}", "--failures", f"s3://{failures}"]
    before = CliRunner().invoke(cli, [*verify, *endpoint])
    assert before.exit_code == 1, before.output
    again = CliRunner().invoke(
        cli,
        ["backup-changes", "--from-failures", f"s3://{failures}", f"s3://{logs}/logs",
         "--endpoint-url", ddb.url, *endpoint],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    after = CliRunner().invoke(cli, [*verify, *endpoint])
    assert after.exit_code == 0, after.output
    return before.output, again.output


@ON_MOTO
def test_a_discarded_batch_fails_verification_until_reingested(
    ddb: Endpoint,
    ddb_client: Any,
    streams_client: Any,
    s3_client: Any,
    make_table: Callable[..., str],
    make_bucket: Callable[..., str],
) -> None:
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    _workload(ddb_client, table)
    records = _event_records(ddb_client, streams_client, table)
    logs, failures = make_bucket(), make_bucket()
    handle = build_backup_handler(_env(ddb, BACKUP_TARGET=f"s3://{logs}/logs"))
    half = len(records) // 2
    assert handle({"Records": records[:half]}, None) == {"batchItemFailures": []}
    # What an S3 on-failure destination keeps of a discarded batch: metadata and the event.
    invocation = {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3},
        "version": "1.0",
        "payload": json.dumps({"Records": records[half:]}),
    }
    s3_client.put_object(
        Bucket=failures,
        Key="aws/lambda/mapping-id/shard-1/2026/01/02/03/batch-1.json",
        Body=json.dumps(invocation).encode(),
    )
    before, again = _reingest(ddb, logs, table, failures)
    assert f"NOT-REINGESTED: s3://{failures}/aws/lambda/mapping-id/" in before
    assert f"{len(records) - half} record(s) Lambda discarded" in before
    assert f"re-ingested {len(records) - half} of {len(records) - half} record(s)" in again
    window = _window(s3_client, logs, "logs", ddb_client, table)
    assert [r.record for r in window.records] == _expected(records)


def test_from_failures_takes_target_only() -> None:
    result = CliRunner().invoke(cli, ["backup-changes", "--from-failures", "s3://b-1/x", "a", "b"])
    assert result.exit_code == 2
    assert "give TARGET only" in result.output


def _shard_of(ddb_client: Any, streams_client: Any, table: str) -> tuple[str, str]:
    arn = ddb_client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    (shard,) = streams_client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    return arn, shard["ShardId"]


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _invocation_record(
    arn: str, shard: str, records: list[dict[str, Any]], *, payload: bool
) -> tuple[str, bytes]:
    """The object Lambda puts into an S3 on-failure destination for a discarded batch, named
    and shaped as documented: aws/lambda/<mapping UUID>/<shard id>/YYYY/MM/DD/<time>-<UUID>,
    the metadata, and the event as JSON text under "payload" (left out: what an SQS or SNS
    destination gets)."""
    body: dict[str, Any] = {
        "requestContext": {
            "requestId": "316aa6d0-8154-4e5c-9af7-85d5f4a6bc81",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:backup",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2026-01-02T03:04:05.678Z",
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(
                records[0]["dynamodb"]["ApproximateCreationDateTime"]
            ),
            "approximateArrivalOfLastRecord": _iso(
                records[-1]["dynamodb"]["ApproximateCreationDateTime"]
            ),
            "batchSize": len(records),
            "streamArn": arn,
        },
    }
    if payload:
        body["payload"] = json.dumps({"Records": records})
    key = (
        f"aws/lambda/f89f8514-cdd9-4602-9e1f-01a5b77d449b/{shard}/2026/01/02/"
        "2026-01-02T03.04.05-4d9f6a1e-5f0b-4b6f-9c2e-0a1b2c3d4e5f"
    )
    return key, json.dumps(body).encode()


@ON_MOTO
@pytest.mark.parametrize("payload", [True, False], ids=["s3-payload", "range-only"])
def test_a_documented_failure_record_is_reingested(
    payload: bool,
    ddb: Endpoint,
    ddb_client: Any,
    streams_client: Any,
    s3_client: Any,
    make_table: Callable[..., str],
    make_bucket: Callable[..., str],
) -> None:
    """A batch discarded after a bisect: its first records reached the log, the rest are only
    in the failure bucket, whole (payload) or by range (read again from the stream)."""
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    _workload(ddb_client, table)
    records = _event_records(ddb_client, streams_client, table)
    arn, shard = _shard_of(ddb_client, streams_client, table)
    logs, failures = make_bucket(), make_bucket()
    handle = build_backup_handler(_env(ddb, BACKUP_TARGET=f"s3://{logs}/logs"))
    third = len(records) // 3
    assert handle({"Records": records[:third]}, None) == {"batchItemFailures": []}
    key, body = _invocation_record(arn, shard, records[third:], payload=payload)
    s3_client.put_object(Bucket=failures, Key=key, Body=body)

    before, again = _reingest(ddb, logs, table, failures)
    assert f"NOT-REINGESTED: s3://{failures}/{key}" in before
    rest = len(records) - third
    assert f"re-ingested {rest} of {rest} record(s) from 1 discarded batch(es)" in again
    assert ("read again from the stream" in again) is not payload
    logged = [r.record for r in _window(s3_client, logs, "logs", ddb_client, table).records]
    expected = _expected(records)
    if payload:
        assert logged == expected
    else:  # read from the Streams API: the same changes, the time as that API gives it
        assert [(r.sequence_number, r.event_name, r.keys, r.new_image, r.old_image, r.seconds)
                for r in logged] == [
            (r.sequence_number, r.event_name, r.keys, r.new_image, r.old_image, r.seconds)
            for r in expected
        ]  # fmt: skip


@ON_MOTO
def test_a_range_the_stream_no_longer_holds_is_named(
    ddb: Endpoint,
    ddb_client: Any,
    streams_client: Any,
    make_table: Callable[..., str],
    make_bucket: Callable[..., str],
    s3_client: Any,
) -> None:
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    _workload(ddb_client, table)
    records = _event_records(ddb_client, streams_client, table)
    arn, shard = _shard_of(ddb_client, streams_client, table)
    ddb_client.delete_table(TableName=table)  # its stream goes with it, as after 24 hours
    logs, failures = make_bucket(), make_bucket()
    key, body = _invocation_record(arn, shard, records, payload=False)
    s3_client.put_object(Bucket=failures, Key=key, Body=body)
    result = CliRunner().invoke(
        cli,
        ["backup-changes", "--from-failures", f"s3://{failures}", f"s3://{logs}/logs",
         "--endpoint-url", ddb.url, "--s3-endpoint-url", ddb.url],
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert f"NOT WRITTEN: s3://{failures}/{key}: re-reading {len(records)} record(s)" in (
        result.output
    )
    assert "the stream no longer holds them (ResourceNotFoundException)" in result.output
