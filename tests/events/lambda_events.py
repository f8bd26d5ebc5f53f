"""Build Lambda events the way Lambda builds them (binary values as base64 text).

Importable from tests as ``lambda_events`` once ``tests/events`` is on ``sys.path`` (see
:func:`load_event`'s callers); the JSON files beside this module were written with it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dynamodb_replicator.items import item_to_text

EVENTS_DIR = Path(__file__).resolve().parent
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/primary/stream/2024-01-01T00:00:00.000"
KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/primary-changes"
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def load_event(name: str) -> dict[str, Any]:
    """A stored event, e.g. ``load_event("streams-insert")``."""
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())  # type: ignore[no-any-return]


def stream_record(
    event_name: str,
    key: Mapping[str, Any],
    new_image: Mapping[str, Any] | None = None,
    *,
    seq: int,
    created: int = 1_700_000_000,
    view: str = "NEW_AND_OLD_IMAGES",
    ttl: bool = False,
) -> dict[str, Any]:
    """One DynamoDB Streams record of a Lambda event; ``key``/``new_image`` in memory form."""
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": created,
        "Keys": item_to_text(key),
        "SequenceNumber": f"{seq:021d}",
        "SizeBytes": 100,
        "StreamViewType": view,
    }
    if new_image is not None and view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        body["NewImage"] = item_to_text(new_image)
    record: dict[str, Any] = {
        "eventID": f"event-{seq}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": body,
        "eventSourceARN": STREAM_ARN,
    }
    if ttl:
        record["userIdentity"] = dict(TTL_IDENTITY)
    return record


def kds_payload(
    event_name: str,
    key: Mapping[str, Any],
    new_image: Mapping[str, Any] | None = None,
    *,
    created: int,
    precision: str = "MILLISECOND",
) -> dict[str, Any]:
    """A Kinesis Data Streams for DynamoDB payload (before base64)."""
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": created,
        "ApproximateCreationDateTimePrecision": precision,
        "Keys": item_to_text(key),
        "SizeBytes": 100,
    }
    if new_image is not None:
        body["NewImage"] = item_to_text(new_image)
    return {
        "awsRegion": "us-east-1",
        "eventID": "00000000-0000-0000-0000-000000000000",
        "eventName": event_name,
        "userIdentity": None,
        "recordFormat": "application/json",
        "tableName": "primary",
        "dynamodb": body,
        "eventSource": "aws:dynamodb",
    }


def original_payload(event_name: str, key: Mapping[str, Any]) -> dict[str, Any]:
    """The original tool's keys-only Kinesis payload (no creation time)."""
    return {
        "awsRegion": "us-east-1",
        "eventID": "00000000-0000-0000-0000-000000000000",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.0",
        "dynamodb": {
            "Keys": item_to_text(key),
            "SequenceNumber": "0",
            "SizeBytes": 0,
            "StreamViewType": "KEYS_ONLY",
        },
    }


def kinesis_record(payload: Mapping[str, Any], *, seq: int) -> dict[str, Any]:
    """One Kinesis record of a Lambda event carrying ``payload`` as base64 JSON."""
    sequence = f"{seq:056d}"
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "pk",
            "sequenceNumber": sequence,
            "data": data,
            "approximateArrivalTimestamp": 1700000000.123,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/replicator",
        "awsRegion": "us-east-1",
        "eventSourceARN": KINESIS_ARN,
    }


def event(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {"Records": list(records)}


def ids(evt: Mapping[str, Any]) -> list[str]:
    """Every record's failure identifier, in order."""
    out = []
    for record in evt["Records"]:
        if "kinesis" in record:
            out.append(record["kinesis"]["sequenceNumber"])
        else:
            out.append(record["dynamodb"]["SequenceNumber"])
    return out
