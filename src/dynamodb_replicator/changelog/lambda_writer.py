"""The Lambda change log writer: one invocation's batch -> objects in the stream's log.

Configured from the environment at the cold start: ``BACKUP_TARGET=s3://bucket/prefix``, or
the original tool's ``BackupBucket`` and ``BackupPrefix``; ``BackupRegion`` is the bucket's
region; ``BACKUP_SSE`` / ``BACKUP_SSE_KMS_KEY_ID`` encrypt the objects. The table's key schema
is read once per stream (``DescribeTable``) for the log's descriptor.

The partial-batch contract is the replicator's: records are parsed in order up to the first
that cannot be used; the good prefix is written as one object per UTC hour, in order; the
response names every record from the first not written (a record refused, or the first record
of an object whose write failed), so Lambda retries from there. An object is written whole or
not at all (its manifest last), and a retried batch rewrites the same names with the same
bytes. Lambda events carry no shard id, so these objects carry no predecessor.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..backup.layout import Location, parse_destination
from ..backup.storage import Storage, StorageSpec
from ..dynamo import TableInfo, describe_table, make_client, resolve_region
from ..errors import ConfigError, ReplicatorError, UsageError
from .describe import descriptor_of
from .format import EventRecord, event_record
from .layout import LogDescriptor, log_location, split_by_hour
from .store import storage_at
from .writer import ChangeLogWriter

__all__ = ["BackupConfig", "BackupOutcome", "LambdaLogWriter", "load_backup_config"]

log = logging.getLogger(__name__)

Describe = Callable[[str, str | None], TableInfo]
"""(table name, region) -> the described table."""


@dataclass(frozen=True)
class BackupConfig:
    """Where the Lambda writer puts logs, and how it reaches S3 and DynamoDB."""

    target: Location
    region: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    s3_endpoint_url: str | None = None
    dynamodb_endpoint_url: str | None = None

    def storage(self) -> Storage:
        spec = StorageSpec(
            self.target,
            s3_endpoint_url=self.s3_endpoint_url,
            region=self.region,
            sse=self.sse,
            sse_kms_key_id=self.sse_kms_key_id,
        )
        return spec.open()


def _target(environ: Mapping[str, str]) -> Location:
    target = environ.get("BACKUP_TARGET", "").strip()
    bucket = environ.get("BackupBucket", "").strip()
    if target and bucket:
        raise ConfigError(
            "both BACKUP_TARGET and BackupBucket are set",
            hint="set BACKUP_TARGET=s3://bucket/prefix only (BackupBucket/BackupPrefix are the "
            "original tool's names for the same thing)",
        )
    if bucket:
        prefix = environ.get("BackupPrefix", "").strip().strip("/")
        target = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    if not target:
        raise ConfigError(
            "no backup target: set BACKUP_TARGET=s3://bucket/prefix (or BackupBucket)",
            hint="the change log is written under <target>/<table>/changes/<stream label>/",
        )
    try:
        return parse_destination(target)
    except UsageError as exc:
        raise ConfigError(f"BACKUP_TARGET: {exc.message}", hint=exc.hint) from exc


def load_backup_config(environ: Mapping[str, str]) -> BackupConfig:
    """The writer's configuration from ``environ``; :class:`ConfigError` when it is wrong."""
    sse_key = environ.get("BACKUP_SSE_KMS_KEY_ID") or None
    sse = environ.get("BACKUP_SSE") or ("aws:kms" if sse_key else None)
    if sse not in (None, "AES256", "aws:kms"):
        raise ConfigError(f"BACKUP_SSE {sse!r} is not AES256 or aws:kms")
    return BackupConfig(
        target=_target(environ),
        region=environ.get("BackupRegion") or None,
        sse=sse,
        sse_kms_key_id=sse_key,
        s3_endpoint_url=environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL"),
        dynamodb_endpoint_url=environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        or environ.get("AWS_ENDPOINT_URL"),
    )


@dataclass(frozen=True)
class BackupOutcome:
    """What one invocation did: records received and written, objects, the first failure."""

    received: int
    written: int
    objects: int
    failed_ids: tuple[str, ...]
    reason: str | None = None

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial-batch response Lambda expects (``ReportBatchItemFailures``)."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failed_ids]}


def _sequence_of(record: Any) -> str:
    body = record.get("dynamodb") if isinstance(record, Mapping) else None
    value = body.get("SequenceNumber") if isinstance(body, Mapping) else None
    if not isinstance(value, str) or not value:
        raise ConfigError(
            "a record has no dynamodb.SequenceNumber: not a DynamoDB Streams event",
            hint="invoke this function only from a DynamoDB stream event source mapping",
        )
    return value


class LambdaLogWriter:
    """Writes Lambda batches into the logs under one target (one log per stream ARN)."""

    def __init__(self, root: Storage, describe: Describe):
        self.root = root
        self.describe = describe
        self.writers: dict[str, ChangeLogWriter] = {}

    @classmethod
    def from_config(cls, config: BackupConfig) -> LambdaLogWriter:
        def describe(table: str, region: str | None) -> TableInfo:
            client = make_client(
                "dynamodb",
                region=resolve_region(region, os.environ),
                endpoint_url=config.dynamodb_endpoint_url,
            )
            return describe_table(client, table)

        return cls(config.storage(), describe)

    def _writer(self, record: Mapping[str, Any]) -> ChangeLogWriter:
        arn = record.get("eventSourceARN")
        if not isinstance(arn, str) or "/stream/" not in arn:
            raise ConfigError(
                "a record has no DynamoDB stream eventSourceARN",
                hint="invoke this function only from a DynamoDB stream event source mapping",
            )
        writer = self.writers.get(arn)
        if writer is None:
            table = arn.partition(":table/")[2].split("/", 1)[0]
            info = self.describe(table, record.get("awsRegion"))
            body = record.get("dynamodb") or {}
            view = body.get("StreamViewType") or info.stream_view_type
            described = TableInfo(
                info.name,
                info.key_schema,
                info.item_count,
                info.size_bytes,
                arn,
                view,
                info.is_global_replica,
                info.description,
            )
            descriptor: LogDescriptor = descriptor_of(described, fetch=False, where=table)
            where = log_location(self.root.location, table, descriptor.stream_label)
            writer = ChangeLogWriter(storage_at(self.root, where), writer="lambda")
            writer.ensure_descriptor(descriptor)
            self.writers[arn] = writer
        return writer

    def process(self, records: Sequence[Any]) -> BackupOutcome:
        """Write ``records`` (one Lambda batch, in order); never raises for a record's fault."""
        ids = [_sequence_of(r) for r in records]
        if not records:
            return BackupOutcome(0, 0, 0, ())
        parsed: list[EventRecord] = []
        reason: str | None = None
        for record in records:
            try:
                if "kinesis" in record:
                    raise ConfigError("Kinesis records are not written to a change log")
                parsed.append(event_record(record))
            except ReplicatorError as exc:
                reason = f"record {ids[len(parsed)]}: {exc.message}"
                log.error("refused %s", reason)
                break
        written = objects = 0
        try:
            writer = self._writer(records[0])
            for _hour, run in split_by_hour(parsed):
                writer.write(run)
                written += len(run)
                objects += 1
        except ReplicatorError as exc:
            reason = f"writing from record {ids[written]}: {exc.message}"
            log.error("write failed: %s", reason)
        return BackupOutcome(len(records), written, objects, tuple(ids[written:]), reason)
