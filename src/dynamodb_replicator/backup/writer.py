"""Backing up: scan a segment -> JSON Lines -> gzip -> streamed upload -> manifest.

Memory stays bounded whatever the table size: one scan page, one compressed part buffer.
The manifest is written only after the data object is complete, so a manifest always vouches
for a whole object. A failed segment aborts its upload and leaves no manifest.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from ..dynamo import (
    RateLimiter,
    TableInfo,
    TableSpec,
    describe_table,
    scan_segment,
)
from ..dynamo.aws import aws_errors, expected
from ..dynamo.clients import Client
from ..dynamo.retry import CallCounts, call_counts
from ..errors import BackupError, JobInterrupted, UsageError
from ..items import encode_item
from ..segments import SegmentContext
from .layout import STARTED, Manifest, Started, data_name, manifest_name
from .storage import Storage, StorageSpec
from .tabledef import table_definition

__all__ = [
    "BackupJob",
    "GzipLines",
    "SegmentBackup",
    "backup_segment",
    "describe_for_backup",
    "now_iso",
    "segments_to_skip",
    "write_started",
]

log = logging.getLogger(__name__)

#: gzip level 1: backups are bound by scan speed; higher levels cost CPU for ~20 % less space.
DEFAULT_GZIP_LEVEL = 1


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class GzipLines:
    """Items -> gzip-compressed JSON Lines, counting items and bytes and hashing the output."""

    def __init__(self, level: int = DEFAULT_GZIP_LEVEL):
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
        self._sha = hashlib.sha256()
        self.items = 0
        self.uncompressed = 0
        self.compressed = 0

    def _out(self, data: bytes) -> bytes:
        self._sha.update(data)
        self.compressed += len(data)
        return data

    def encode(self, items: Iterable[Mapping[str, Any]]) -> bytes:
        """The compressed bytes for ``items`` (possibly empty: zlib buffers)."""
        text = "".join(encode_item(item) + "\n" for item in items).encode("utf-8")
        self.items += text.count(b"\n")
        self.uncompressed += len(text)
        return self._out(self._compressor.compress(text))

    def finish(self) -> bytes:
        """The last compressed bytes (gzip trailer included)."""
        return self._out(self._compressor.flush())

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


def describe_for_backup(client: Client, table: str, where: str) -> tuple[TableInfo, dict[str, Any]]:
    """DescribeTable plus TTL and tags (where readable), as the manifest's definition."""
    info = describe_table(client, table, where)
    ttl: Mapping[str, Any] | None = None
    tags: list[Mapping[str, str]] | None = None
    with aws_errors(f"DescribeTimeToLive {table}", otherwise=expected) as unreadable:
        ttl = client.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
    if unreadable:
        log.warning("TTL settings of %s not readable (%s); not recorded", table, unreadable.error)
    arn = info.description.get("TableArn")
    if arn:
        with aws_errors(f"ListTagsOfResource {table}", otherwise=expected) as unreadable:
            tags = []
            for page in client.get_paginator("list_tags_of_resource").paginate(ResourceArn=arn):
                tags.extend({"Key": t["Key"], "Value": t["Value"]} for t in page.get("Tags", []))
        if unreadable:
            tags = None
            log.warning("tags of %s not readable (%s); not recorded", table, unreadable.error)
    return info, table_definition(info.description, ttl=ttl, tags=tags)


@dataclass(frozen=True)
class BackupJob:
    """One backup job, as each segment (in any process) needs it. Picklable."""

    table: TableSpec
    storage: StorageSpec
    jobid: str
    total_segments: int
    definition: Mapping[str, Any] = field(default_factory=dict)
    rate_read: float | None = None
    """Read capacity units per second this worker may spend (its share of the job budget)."""
    gzip_level: int = DEFAULT_GZIP_LEVEL
    page_size: int | None = None
    consistent: bool = False
    """Strongly consistent scan reads (twice the read capacity): every write acknowledged
    before a page is read is in it."""


@dataclass(frozen=True)
class SegmentBackup:
    """What one segment's backup wrote (its manifest's numbers)."""

    segment: int
    items: int
    uncompressed_bytes: int
    compressed_bytes: int
    sha256: str
    started_at: str
    finished_at: str
    skipped: bool = False
    calls: CallCounts = field(default_factory=CallCounts)


def write_started(storage: Storage, started: Started) -> None:
    """Write ``_started`` first; refuse a jobid already used for another table or segment count.

    Re-running a job (the same table and segments) keeps the existing record, so separate
    ``--segment`` runs of one job do not overwrite each other's start time.
    """
    if storage.size(STARTED) is not None:
        try:
            existing = Started.from_bytes(storage.get(STARTED), storage.location.url(STARTED))
        except BackupError as exc:
            raise UsageError(
                f"jobid {started.jobid!r} holds an unreadable {STARTED}: {exc.message}",
                hint=f"run this backup under another jobid, e.g. --jobid {started.jobid}-2 "
                "(verify-backup lists what else is wrong with the old one)",
            ) from exc
        if not existing.same_job(started):
            raise UsageError(
                f"jobid {started.jobid!r} already holds a backup of {existing.region}/"
                f"{existing.table} in {existing.segments} segment(s) at {storage.location.url()}"
                + (f" (table {existing.table_arn})" if existing.table_arn else "")
                + "; a job keeps the table and segment count of its first run",
                hint=_another_jobid_hint(existing, started),
            )
        return
    storage.put(STARTED, started.to_bytes())


def _another_jobid_hint(existing: Started, wanted: Started) -> str:
    """How to run the refused backup: under another jobid (the same one on every machine of
    that job), or with the existing job's segment count when it is of the same table."""
    suggestion = f"{wanted.jobid}-{wanted.segments}"
    example = f"--jobid {suggestion}" if len(suggestion) <= 200 else "another --jobid"
    hint = (
        f"run this backup under another jobid, e.g. {example} (the same --jobid and "
        f"--segments {wanted.segments} on every machine of that job)"
    )
    if (existing.table, existing.region) == (wanted.table, wanted.region):
        hint += f"; or add to the existing job with --segments {existing.segments}"
    return hint


def segments_to_skip(storage: Storage, segments: Iterable[int]) -> dict[int, Manifest]:
    """For ``--resume``: the segments whose manifest exists and matches its object's size."""
    done: dict[int, Manifest] = {}
    for segment in segments:
        if storage.size(manifest_name(segment)) is None:
            continue
        try:
            manifest = Manifest.from_bytes(storage.get(manifest_name(segment)))
        except BackupError as exc:
            log.warning("segment %d runs again: %s", segment, exc.message)
            continue
        if storage.size(data_name(segment)) == manifest.compressed_bytes:
            done[segment] = manifest
    return done


def backup_segment(
    job: BackupJob, ctx: SegmentContext, *, clock: Callable[[], str] = now_iso
) -> SegmentBackup:
    """Back up one segment: stream its scan into ``<segment>``, then write its manifest.

    Module-level and driven by frozen dataclasses, so worker processes can run it.
    """
    segment = ctx.segment
    storage = job.storage.open()
    client = job.table.client()
    limiter = RateLimiter(job.rate_read) if job.rate_read else None
    started_at = clock()
    encoder = GzipLines(job.gzip_level)
    writer = storage.writer(data_name(segment))
    try:
        pages = scan_segment(
            client,
            job.table.name,
            segment=segment,
            total_segments=job.total_segments if job.total_segments > 1 else None,
            limiter=limiter,
            page_size=job.page_size,
            consistent=job.consistent,
        )
        for page in pages:
            if ctx.cancelled():
                raise JobInterrupted(f"segment {segment} stopped: the job is stopping")
            writer.write(encoder.encode(page.items))
            ctx.advance("backup", len(page.items))
        writer.write(encoder.finish())
        size = writer.commit()
    except BaseException:
        writer.abort()
        raise
    finished_at = clock()
    result = SegmentBackup(
        segment=segment,
        items=encoder.items,
        uncompressed_bytes=encoder.uncompressed,
        compressed_bytes=size,
        sha256=encoder.sha256,
        started_at=started_at,
        finished_at=finished_at,
        calls=call_counts(client),
    )
    storage.put(manifest_name(segment), _manifest(job, result).to_bytes())
    log.info("segment %d: %d items, %d bytes", segment, result.items, size)
    return result


def _manifest(job: BackupJob, result: SegmentBackup) -> Manifest:
    return Manifest(
        jobid=job.jobid,
        table=job.table.name,
        region=job.table.address.region,
        segment=result.segment,
        segments=job.total_segments,
        item_count=result.items,
        uncompressed_bytes=result.uncompressed_bytes,
        compressed_bytes=result.compressed_bytes,
        sha256=result.sha256,
        started_at=result.started_at,
        finished_at=result.finished_at,
        tool_version=__version__,
        table_description=dict(job.definition),
        object=data_name(result.segment),
        consistent_read=job.consistent,
    )
