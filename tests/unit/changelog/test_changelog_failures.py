"""Reading an on-failure destination's invocation records (a real local folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.backup.storage import FolderStorage
from dynamodb_replicator.changelog.failures import BatchInfo, failed_batches
from dynamodb_replicator.errors import ChangeLogError


def _record(seq: int) -> dict[str, object]:
    return {"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(seq)}}


def test_payload_as_text_as_object_or_a_bare_event(tmp_path: Path) -> None:
    folder = tmp_path / "failures"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "a" / "b" / "1.json").write_text(
        json.dumps({"version": "1.0", "payload": json.dumps({"Records": [_record(1)]})})
    )
    (folder / "a" / "2.json").write_text(json.dumps({"payload": {"Records": [_record(2)]}}))
    (folder / "3.json").write_text(json.dumps({"Records": [_record(3), _record(4)]}))
    batches = list(failed_batches(FolderStorage(Location("folder", str(folder)))))
    assert [(b.name, b.sequence_numbers()) for b in batches] == [
        ("3.json", [3, 4]),
        ("a/2.json", [2]),
        ("a/b/1.json", [1]),
    ]


def test_an_object_without_an_event_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"requestContext": {}}))
    with pytest.raises(ChangeLogError, match=r"x\.json holds no invocation event"):
        list(failed_batches(FolderStorage(Location("folder", str(tmp_path)))))


# What Lambda puts into an S3 on-failure destination for a discarded DynamoDB stream batch, as
# documented: the invocation's metadata, and the event as JSON text under "payload".
STREAM_ARN = "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388"
SHARD = "shardId-00000001573689847184-864758bb"
KEY = f"aws/lambda/f89f8514-cdd9-4602-9e1f-01a5b77d449b/{SHARD}/2019/11/14/2019-11-14T00.13.49-4d9f6a1e-5f0b-4b6f-9c2e-0a1b2c3d4e5f"


def _invocation(records: list[dict[str, object]] | None) -> dict[str, object]:
    record: dict[str, object] = {
        "requestContext": {
            "requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
            "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:13:49.717Z",
        "DDBStreamBatchInfo": {
            "shardId": SHARD,
            "startSequenceNumber": "800000000003126276362",
            "endSequenceNumber": "800000000003126276363",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:13:20Z",
            "batchSize": 2,
            "streamArn": STREAM_ARN,
        },
    }
    if records is not None:
        record["payload"] = json.dumps({"Records": records})
    return record


def _put(root: Path, key: str, body: dict[str, object]) -> FolderStorage:
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    (root / key).write_text(json.dumps(body))
    return FolderStorage(Location("folder", str(root)))


def test_the_documented_s3_invocation_record_is_read_whole(tmp_path: Path) -> None:
    source = _put(
        tmp_path, KEY, _invocation([_record(800000000003126276362), _record(800000000003126276363)])
    )
    (batch,) = failed_batches(source)
    assert batch.name.endswith(KEY)
    assert batch.sequence_numbers() == [800000000003126276362, 800000000003126276363]
    assert batch.condition == "RetryAttemptsExhausted"
    assert batch.info == BatchInfo(
        SHARD,
        "800000000003126276362",
        "800000000003126276363",
        STREAM_ARN,
        2,
        "2019-11-14T00:13:19Z",
        "2019-11-14T00:13:20Z",
    )
    assert batch.info.seconds() == (1573690399, 1573690400)


def test_a_record_without_payload_names_its_range_only(tmp_path: Path) -> None:
    (batch,) = failed_batches(_put(tmp_path, KEY, _invocation(None)))
    assert batch.records is None
    assert batch.sequence_numbers() == []
    assert batch.info is not None
    assert (batch.info.start, batch.info.end) == (800000000003126276362, 800000000003126276363)
    assert "2 record(s), sequence numbers" in batch.info.describe()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"DDBStreamBatchInfo": {"shardId": SHARD}}, "no DDBStreamBatchInfo.startSequenceNumber"),
        ({"payload": "{not json"}, "payload that is not JSON"),
        ({"KinesisBatchInfo": {}, "DDBStreamBatchInfo": None}, "Kinesis"),
        ({"payload": json.dumps({"Records": "x"})}, "holds no invocation event"),
    ],
)
def test_malformed_invocation_records_are_named(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    body = {**_invocation(None), **change}
    if body.get("DDBStreamBatchInfo") is None:
        body.pop("DDBStreamBatchInfo")
    with pytest.raises(ChangeLogError, match=message):
        list(failed_batches(_put(tmp_path, "x.json", body)))
