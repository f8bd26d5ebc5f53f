"""Restoring: prepare the target table, then write each proven data object into it.

Before anything is written the target is checked (or created from the manifest): its key
schema must match the backup's, and it must be empty unless the caller forces it. Each
segment's object is proven against its manifest first (:mod:`.spool`), so a damaged object
writes nothing; then its items go through the batch writer (bounded retries, leftovers named).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Any

from ..dynamo import (
    BatchResult,
    Put,
    RateLimiter,
    TableSpec,
    batch_write,
    describe_table,
)
from ..dynamo.aws import call
from ..dynamo.batch import MAX_WRITE_REQUESTS
from ..dynamo.clients import Client
from ..dynamo.retry import CallCounts, call_counts
from ..errors import (
    AwsError,
    BackupIntegrityError,
    ConfigError,
    IncompleteBatchError,
    JobInterrupted,
    TableNotFoundError,
    UsageError,
)
from ..items import Item, Key, KeySchema, key_identity
from ..segments import SegmentContext
from .reader import SegmentSource
from .spool import proven_items
from .storage import StorageSpec
from .tabledef import create_plan

__all__ = [
    "RestoreJob",
    "SegmentRestore",
    "Target",
    "create_table",
    "prepare_target",
    "restore_segment",
]

log = logging.getLogger(__name__)

#: Items handed to the batch writer at a time (it sends them 25 per request).
WRITE_CHUNK = 100


def _schema_text(schema: KeySchema) -> str:
    return ", ".join(f"{name} ({type_})" for name, type_ in schema.attributes)


def _wait_active(
    client: Client, table: str, timeout: float, sleep: Callable[[float], None]
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        desc = call(f"DescribeTable {table}", client.describe_table, TableName=table)["Table"]
        indexes = desc.get("GlobalSecondaryIndexes", [])
        if desc.get("TableStatus") == "ACTIVE" and all(
            i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes
        ):
            return
        if time.monotonic() > deadline:
            raise AwsError(f"table {table} is not ACTIVE after {timeout:.0f} s")
        sleep(1.0)


def create_table(
    client: Client,
    table: str,
    definition: Mapping[str, Any],
    *,
    billing_mode: str | None = None,
    sse_kms_key_id: str | None = None,
    ttl: bool = True,
    timeout: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Create ``table`` from a manifest's definition and wait until it (and its indexes) are
    active; then set its TTL (unless ``ttl`` is false)."""
    plan = create_plan(definition, table, billing_mode=billing_mode, sse_kms_key_id=sse_kms_key_id)
    call(f"CreateTable {table}", client.create_table, table=table, **plan.create_args)
    _wait_active(client, table, timeout, sleep)
    if ttl and plan.ttl_attribute:
        call(
            f"UpdateTimeToLive {table}",
            client.update_time_to_live,
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": plan.ttl_attribute},
        )


def _has_items(client: Client, table: str) -> bool:
    response = call(f"Scan {table}", client.scan, table=table, TableName=table, Limit=1)
    return bool(response.get("Items")) or "LastEvaluatedKey" in response


@dataclass(frozen=True)
class Target:
    """The restore's target as checked before any write."""

    schema: KeySchema
    created: bool
    held_items: bool
    """The table held items before the restore (only checked for whole-job restores)."""


def prepare_target(
    spec: TableSpec,
    definition: Mapping[str, Any] | None,
    *,
    create: bool,
    force: bool,
    check_empty: bool = True,
    billing_mode: str | None = None,
    sse_kms_key_id: str | None = None,
    ttl: bool = True,
) -> Target:
    """Check (or create) the target before any write: its key schema, whether it was created,
    whether it held items.

    Exit-2 errors: ``--create`` without a definition (an original-tool backup), a target that
    does not exist without ``--create``, a key schema that differs from the backup's, and a
    target that holds items without ``force``.
    """
    client = spec.client()
    expected = KeySchema.from_description(definition) if definition else None
    try:
        info = describe_table(client, spec.name, str(spec.address))
    except TableNotFoundError:
        if not create:
            raise
        if definition is None:
            raise UsageError(
                "--create needs a backup with manifests; this one has none (original tool)",
                hint="create the table yourself, then restore without --create",
            ) from None
        create_table(
            client,
            spec.name,
            definition,
            billing_mode=billing_mode,
            sse_kms_key_id=sse_kms_key_id,
            ttl=ttl,
        )
        assert expected is not None
        return Target(expected, created=True, held_items=False)
    if expected is not None and info.key_schema != expected:
        raise ConfigError(
            f"{spec.address} has key {_schema_text(info.key_schema)}; "
            f"the backup's table has {_schema_text(expected)}",
            hint="restore into a new table (--create) or one with the backup's key schema",
        )
    held = check_empty and _has_items(client, spec.name)
    if held and not force:
        raise ConfigError(
            f"{spec.address} already holds items",
            hint="restore into an empty table, or pass --force (puts overwrite items by key; "
            "add --delete-extraneous to delete the items the backup lacks)",
        )
    return Target(info.key_schema, created=False, held_items=held)


@dataclass(frozen=True)
class RestoreJob:
    """One restore job, as each segment (in any process) needs it. Picklable."""

    table: TableSpec
    storage: StorageSpec
    schema: KeySchema
    segments: tuple[SegmentSource, ...]
    rate_write: float | None = None
    """Write capacity units per second this worker may spend (its share of the job budget)."""
    write_threads: int = 4
    collect_keys: bool = False
    """Return the identities of the keys written, to find the target's items the backup lacks."""
    spool_dir: str | None = None
    """Where segments are spooled while proven (``None``: ``TMPDIR``)."""


@dataclass(frozen=True)
class SegmentRestore:
    """What one segment's restore wrote (and, when asked, the identities of its keys)."""

    segment: int
    items: int
    consumed: float
    retries: int
    keys: frozenset[Hashable] = field(default_factory=frozenset)
    calls: CallCounts = field(default_factory=CallCounts)


def _chunks(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def restore_segment(job: RestoreJob, ctx: SegmentContext) -> SegmentRestore:
    """Prove one data object against its manifest, then write its items into the table.

    A damaged object raises :class:`BackupIntegrityError` with ``before_write=True`` (nothing
    of this segment was written). Up to ``job.write_threads`` batch writes are in flight at
    once (a backup holds each key once, so their order does not matter). A write that fails
    stops the segment naming the keys not written (puts are idempotent: re-run with --force).
    """
    source = next(s for s in job.segments if s.segment == ctx.segment)
    storage = job.storage.open()
    try:
        with proven_items(storage, source, spool_dir=job.spool_dir) as items:
            return _write_items(job, ctx, source, items)
    except BackupIntegrityError as exc:
        if not exc.before_write:
            raise
        raise BackupIntegrityError(
            f"{exc.message}; nothing of segment {source.segment} was written",
            before_write=True,
            hint=exc.hint,
        ) from exc


def _write_items(
    job: RestoreJob, ctx: SegmentContext, source: SegmentSource, items: Iterator[Item]
) -> SegmentRestore:
    client = job.table.client()
    limiter = RateLimiter(job.rate_write) if job.rate_write else None
    # Under a write rate, one request per chunk: progress (and Ctrl-C's count) moves per call.
    size = MAX_WRITE_REQUESTS if limiter is not None else WRITE_CHUNK
    total = _Totals()
    keys: set[Hashable] = set()

    def write(chunk: list[Item]) -> BatchResult:
        # Consumed capacity only when a rate limit needs it: nothing reports it otherwise.
        return batch_write(
            client,
            job.table.name,
            [Put(i) for i in chunk],
            job.schema,
            limiter=limiter,
            capacity=False,
        )

    with ThreadPoolExecutor(max(job.write_threads, 1), thread_name_prefix="restore") as pool:
        # Settled as they finish, not in order: a slow write never idles the other threads.
        inflight: set[Future[BatchResult]] = set()
        finished: SimpleQueue[Future[BatchResult]] = SimpleQueue()
        sent = 0
        try:
            for chunk in _chunks(items, size):
                if ctx.cancelled():
                    raise JobInterrupted(
                        f"segment {source.segment} stopped after {total.items} item(s)"
                    )
                if job.collect_keys:
                    keys.update(key_identity(item, job.schema) for item in chunk)
                future = pool.submit(write, chunk)
                inflight.add(future)
                future.add_done_callback(finished.put)
                sent += len(chunk)
                while len(inflight) >= max(job.write_threads, 1):
                    _settle(finished.get(), inflight, total, ctx)
            while inflight:
                _settle(finished.get(), inflight, total, ctx)
        except IncompleteBatchError as exc:
            unwritten = list(exc.keys) + _drain(inflight, total, ctx)
            raise IncompleteBatchError(
                f"{exc.message}; segment {source.segment}: {sent - len(unwritten)} item(s) "
                f"written, {len(unwritten)} key(s) not written",
                keys=unwritten,
                hint="fix the cause, then re-run the restore with --force (puts are idempotent)",
                cause=exc,
            ) from exc
        except BackupIntegrityError as exc:
            _drain(inflight, total, ctx)
            why = (
                "its spooled copy changed on local disk after it was proven"
                if source.manifest is not None
                else "it has no manifest, so it could not be proven before writing"
            )
            raise BackupIntegrityError(
                f"{exc.message}; {total.items} item(s) of segment {source.segment} were "
                f"already written ({why})",
                before_write=False,
                hint="fix or replace the backup, then re-run the restore with --force "
                "--delete-extraneous",
            ) from exc
        except BaseException:
            for future in inflight:
                future.cancel()
            raise
    return SegmentRestore(
        source.segment,
        total.items,
        total.consumed,
        total.retries,
        frozenset(keys),
        call_counts(client),
    )


class _Totals:
    def __init__(self) -> None:
        self.items = 0
        self.consumed = 0.0
        self.retries = 0

    def add(self, result: BatchResult, ctx: SegmentContext) -> None:
        self.items += result.written
        self.consumed += result.consumed
        self.retries += result.retries
        ctx.advance("restore", result.written)


def _settle(
    future: Future[BatchResult],
    inflight: set[Future[BatchResult]],
    total: _Totals,
    ctx: SegmentContext,
) -> None:
    """Count a finished write (a failed one raises; the others stay in ``inflight``)."""
    inflight.discard(future)
    total.add(future.result(), ctx)


def _drain(inflight: set[Future[BatchResult]], total: _Totals, ctx: SegmentContext) -> list[Key]:
    """Let the writes already sent finish, so the count of items written is exact.

    Returns the keys those writes could not land: every failed write is named.
    """
    unwritten: list[Key] = []
    while inflight:
        future = inflight.pop()
        error = future.exception()
        if error is None:
            total.add(future.result(), ctx)
        elif isinstance(error, IncompleteBatchError):
            unwritten.extend(dict(k) for k in error.keys)
    return unwritten
