"""Batches Lambda discarded, kept by the event source mapping's S3 on-failure destination.

For each batch it gives up on (retries or record age exhausted), Lambda puts one JSON object
into the destination bucket, named
``aws/lambda/<mapping UUID>/<shard id>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random UUID>``::

    {"requestContext": {"requestId": ..., "functionArn": ..., "condition": ...,
                        "approximateInvokeCount": ...},
     "responseContext": {"statusCode": ..., "executedVersion": ..., "functionError": ...},
     "version": "1.0", "timestamp": "2026-01-02T03:04:05.678Z",
     "DDBStreamBatchInfo": {"shardId": ..., "startSequenceNumber": ...,
                            "endSequenceNumber": ..., "approximateArrivalOfFirstRecord": ...,
                            "approximateArrivalOfLastRecord": ..., "batchSize": ...,
                            "streamArn": ...},
     "payload": "{\\"Records\\": [...]}"}

``payload`` is the invocation event itself, as JSON text: the records, as the function was
given them. An SQS or SNS destination gets the same record without ``payload``.

This module reads those objects (``payload`` as JSON text or as an object; a bare
``{"Records": [...]}`` event too), re-ingests their records into the change log through the
Lambda writer, and tells which batches are not in the log yet (for ``verify-changes``). A
record without its payload (an SQS message saved to a file, say) names only the shard and the
sequence range: those records are read again from the stream, which keeps them 24 hours.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..backup.storage import Storage, StorageSpec
from ..dynamo import StreamsClient, make_client, resolve_region
from ..dynamo.aws import BotoError, aws_errors, translate
from ..errors import ChangeLogError, ReplicatorError, aws_error_code
from ..items import item_to_text
from ..replicate.stream_records import normalise_record
from ..replicate.streams import read_records
from .format import sequence_key
from .lambda_writer import BackupConfig, LambdaLogWriter
from .store import walk

__all__ = [
    "BatchInfo",
    "FailedBatch",
    "ReadRange",
    "ReingestJob",
    "Reingested",
    "failed_batches",
    "parse_failure",
    "reingest",
    "run_reingest",
    "stream_reader",
]

log = logging.getLogger(__name__)

_HINT = (
    "point at the S3 on-failure destination of the change log writer's event source mapping "
    "(one object per discarded batch, under aws/lambda/)"
)


@dataclass(frozen=True)
class BatchInfo:
    """What Lambda says of a discarded batch (its ``DDBStreamBatchInfo``)."""

    shard_id: str
    start_sequence_number: str
    end_sequence_number: str
    stream_arn: str
    batch_size: int | None = None
    first_arrival: str | None = None
    last_arrival: str | None = None

    @property
    def start(self) -> int:
        return int(self.start_sequence_number)

    @property
    def end(self) -> int:
        return int(self.end_sequence_number)

    def seconds(self) -> tuple[int | None, int | None]:
        """The batch's first and last record times (epoch seconds), where Lambda gave them."""
        return _epoch(self.first_arrival), _epoch(self.last_arrival)

    def describe(self) -> str:
        size = f"{self.batch_size} record(s), " if self.batch_size is not None else ""
        return (
            f"{size}sequence numbers {self.start_sequence_number}..{self.end_sequence_number} "
            f"of shard {self.shard_id}"
        )


@dataclass(frozen=True)
class FailedBatch:
    """One discarded batch: the object it was found in, its stream records (``None`` when the
    object holds no payload), what Lambda said of it, and why it gave up (``condition``)."""

    name: str
    records: tuple[dict[str, Any], ...] | None
    info: BatchInfo | None = None
    condition: str | None = None

    def sequence_numbers(self) -> list[int]:
        """The records' sequence numbers (none when the payload is missing)."""
        return [sequence_key(str(r["dynamodb"]["SequenceNumber"])) for r in self.records or ()]


@dataclass(frozen=True)
class Reingested:
    """What re-ingesting did: batches and records read, records written, batches that failed,
    and how many batches were read again from the stream (no payload)."""

    batches: int
    records: int
    written: int
    failed: tuple[tuple[str, str], ...]
    reread: int = 0


def _epoch(text: str | None) -> int | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def _fail(name: str, problem: str) -> ChangeLogError:
    return ChangeLogError(f"{name} {problem}", hint=_HINT)


def _batch_info(raw: object, name: str) -> BatchInfo | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _fail(name, "has a DDBStreamBatchInfo that is not an object")
    text: dict[str, str] = {}
    for key in ("shardId", "startSequenceNumber", "endSequenceNumber", "streamArn"):
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise _fail(name, f"has no DDBStreamBatchInfo.{key}")
        text[key] = value
    for key in ("startSequenceNumber", "endSequenceNumber"):
        if not (text[key].isdigit() and text[key].isascii()):
            raise _fail(name, f"has a DDBStreamBatchInfo.{key} that is not a sequence number")
    size = raw.get("batchSize")
    first, last = (
        raw.get("approximateArrivalOfFirstRecord"),
        raw.get("approximateArrivalOfLastRecord"),
    )
    return BatchInfo(
        text["shardId"],
        text["startSequenceNumber"],
        text["endSequenceNumber"],
        text["streamArn"],
        size if type(size) is int else None,
        first if isinstance(first, str) else None,
        last if isinstance(last, str) else None,
    )


def parse_failure(data: bytes, name: str, where: str | None = None) -> FailedBatch:
    """One object of an on-failure destination (or a bare event) -> :class:`FailedBatch`;
    ``where`` (its URL; default ``name``) names it in errors."""
    shown = where or name
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(shown, f"is not a JSON invocation record ({exc})") from exc
    if not isinstance(obj, dict):
        raise _fail(shown, "holds no invocation event (not a JSON object)")
    if "KinesisBatchInfo" in obj and "DDBStreamBatchInfo" not in obj:
        raise _fail(shown, "is a Kinesis stream's discarded batch, not a DynamoDB stream's")
    info = _batch_info(obj.get("DDBStreamBatchInfo"), shown)
    context = obj.get("requestContext")
    condition = context.get("condition") if isinstance(context, dict) else None
    event: Any = obj.get("payload", obj if "Records" in obj else None)
    if isinstance(event, str):
        try:
            event = json.loads(event)
        except json.JSONDecodeError as exc:
            raise _fail(shown, f"has a payload that is not JSON ({exc})") from exc
    if event is None:
        if info is None:
            raise _fail(shown, "holds no invocation event (no payload with Records)")
        return FailedBatch(name, None, info, condition if isinstance(condition, str) else None)
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise _fail(shown, "holds no invocation event (no payload with Records)")
    return FailedBatch(
        name, tuple(records), info, condition if isinstance(condition, str) else None
    )


def failed_batches(source: Storage) -> Iterator[FailedBatch]:
    """Every discarded batch under ``source`` (any depth), in name order."""
    for name in walk(source):
        yield parse_failure(source.get(name), name, source.location.url(name))


# --- records read again from the stream -------------------------------------------------------

ReadRange = Callable[[BatchInfo], list[dict[str, Any]]]
"""A discarded batch's records, read again from its stream, as a Lambda event holds them."""


def _lambda_seconds(stamp: object) -> object:
    """The record's time as Lambda's event gives it: epoch seconds, whole when they are."""
    if isinstance(stamp, dt.datetime):
        moment = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
        whole, rest = divmod(
            moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.timedelta(seconds=1)
        )
        return int(whole) if not rest else moment.timestamp()
    return stamp


def _as_event_record(record: Mapping[str, Any], info: BatchInfo) -> dict[str, Any]:
    """A Streams API record in a Lambda event's shape (binary as base64, epoch seconds)."""
    out = normalise_record(record)
    body = dict(out["dynamodb"])
    body["ApproximateCreationDateTime"] = _lambda_seconds(
        record["dynamodb"].get("ApproximateCreationDateTime")
    )
    for image in ("Keys", "NewImage", "OldImage"):
        if image in body:
            body[image] = item_to_text(body[image])
    out["dynamodb"] = body
    out.setdefault("eventSourceARN", info.stream_arn)
    out.setdefault("eventSource", "aws:dynamodb")
    return out


def stream_reader(
    streams: StreamsClient, *, page_limit: int = 1000, patience: int = 5
) -> ReadRange:
    """Reads a batch's records again from its shard, from its first sequence number to its
    last. ``ChangeLogError`` when the stream no longer holds them (trimmed after 24 hours,
    shard gone) or the shard ends, or ``patience`` reads in a row bring nothing, before the
    last one."""

    def read(info: BatchInfo) -> list[dict[str, Any]]:
        where = f"re-reading {info.describe()}"

        def gone(exc: BotoError) -> ReplicatorError:
            return _gone(exc, info, where)

        with aws_errors(where, otherwise=gone):
            iterator: str | None = streams.get_shard_iterator(
                StreamArn=info.stream_arn,
                ShardId=info.shard_id,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=info.start_sequence_number,
            )["ShardIterator"]
        out: list[dict[str, Any]] = []
        idle = 0
        while iterator and idle < patience:
            with aws_errors(where, otherwise=gone):
                page = read_records(streams, iterator, page_limit)
            records = page.get("Records", [])
            for record in records:
                sequence = int(record["dynamodb"]["SequenceNumber"])
                if sequence > info.end:
                    return out
                if sequence >= info.start:
                    out.append(_as_event_record(record, info))
                if sequence == info.end:
                    return out
            idle = 0 if records else idle + 1
            iterator = page.get("NextShardIterator")
        last = out[-1]["dynamodb"]["SequenceNumber"] if out else "none"
        raise ChangeLogError(
            f"{where}: the shard gave records only up to {last}",
            hint="the batch's last records may be gone from the stream: its window stays "
            "reported by verify-changes",
        )

    return read


def _gone(exc: BaseException, info: BatchInfo, where: str) -> ReplicatorError:
    code = aws_error_code(exc)
    if code in ("TrimmedDataAccessException", "ResourceNotFoundException"):
        return ChangeLogError(
            f"{where}: the stream no longer holds them ({code})",
            hint="a stream keeps records 24 hours: this batch cannot be re-ingested and its "
            "changes are missing from the log; take a new base backup",
            cause=exc,
        )
    return translate(exc, where)


# --- re-ingesting -------------------------------------------------------------------------------


def reingest(
    source: Storage, writer: LambdaLogWriter, read_range: ReadRange | None = None
) -> Reingested:
    """Write every discarded batch under ``source`` into the log, as the Lambda writer would;
    a batch without its payload is read again from the stream with ``read_range``."""
    batches = records = written = reread = 0
    failed: list[tuple[str, str]] = []
    for batch in failed_batches(source):
        batches += 1
        url = source.location.url(batch.name)
        raw = batch.records
        if raw is None:
            assert batch.info is not None  # parse_failure gives one or the other
            if read_range is None:
                failed.append((url, f"no payload, and no stream to read {batch.info.describe()}"))
                continue
            try:
                raw = tuple(read_range(batch.info))
            except ReplicatorError as exc:
                failed.append((url, exc.message))
                continue
            reread += 1
        records += len(raw)
        if not raw:
            continue
        outcome = writer.process(list(raw))
        written += outcome.written
        if outcome.failed_ids:
            failed.append((url, outcome.reason or "records not written"))
    return Reingested(batches, records, written, tuple(failed), reread)


@dataclass(frozen=True)
class ReingestJob:
    """``backup-changes --from-failures``: the destination's objects, the log's target (as the
    Lambda writer is configured), and where the stream is read for batches without payload."""

    failures: StorageSpec
    config: BackupConfig
    region: str | None = None
    streams_endpoint_url: str | None = None


def run_reingest(job: ReingestJob) -> Reingested:
    """Run a :class:`ReingestJob`: clients made here, in the calling process (a Streams
    client only if a batch has no payload, in its stream's region unless one is given)."""
    readers: dict[str, ReadRange] = {}

    def read(info: BatchInfo) -> list[dict[str, Any]]:
        parts = info.stream_arn.split(":")
        region = job.region or (parts[3] if len(parts) > 3 and parts[3] else None)
        region = resolve_region(region, os.environ)
        if region not in readers:
            streams = make_client(
                "dynamodbstreams", region=region, endpoint_url=job.streams_endpoint_url
            )
            readers[region] = stream_reader(streams)
        return readers[region](info)

    writer = LambdaLogWriter.from_config(job.config)
    return reingest(job.failures.open(), writer, read)
