"""``backup-changes``: follow a table's stream into its change log (the follower's machinery).

The follower reads each shard in order (parents first), hands every page here, and checkpoints
a shard's last sequence number only after its page's objects are written: a writer killed at
any moment re-reads from its checkpoint and overwrites or overlaps what it wrote, and readers
de-duplicate. Each object names its shard, the shard's parent and its predecessor (the shard's
last record written before it). A heartbeat per shard records how far the shard was read even
when idle; trimmed data becomes a gap marker in the log.

``KEYS_ONLY`` and ``OLD_IMAGE`` streams carry no new image: they are refused unless ``fetch``,
which reads each changed item from the table when writing (not point-in-time exact: the item
may have changed again since the record).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..backup.storage import Storage, StorageSpec
from ..dynamo import Client, StreamsClient, TableSpec, batch_get, describe_table, make_client
from ..errors import GapError, ReplicatorError
from ..items import KeySchema, key_identity
from ..replicate.checkpoint import CheckpointStore, TableCheckpoint
from ..replicate.follower import (
    ApplyOutcome,
    Follower,
    FollowOptions,
    FollowResult,
    FollowStatus,
    ShardGap,
    ShardProgress,
)
from .describe import descriptor_of
from .format import ChangeRecord, record_from_stream
from .layout import GapMarker, Heartbeat, LogDescriptor, log_location
from .store import storage_at
from .writer import ChangeLogWriter, ShardPosition

__all__ = [
    "BackupChangesJob",
    "BackupChangesResult",
    "LogRun",
    "backup_changes",
    "checkpoint_table",
    "follow_into_log",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupChangesJob:
    """What to log and where: the primary, the destination (``<prefix>``; the log goes under
    ``<prefix>/<table>/changes/<stream label>``), the follower's options, fetch mode, and how
    often an idle shard's heartbeat is rewritten."""

    primary: TableSpec
    destination: StorageSpec
    options: FollowOptions = field(default_factory=FollowOptions)
    fetch: bool = False
    heartbeat_seconds: float = 60.0


@dataclass(frozen=True)
class BackupChangesResult:
    """How a run ended: the follower's result, where the log is, objects and markers written."""

    follow: FollowResult
    log_url: str
    objects: int
    gap_markers: int


class _LogApplier:
    """The follower's ``apply``: one page -> objects in the log, then the follower checkpoints."""

    def __init__(
        self,
        writer: ChangeLogWriter,
        fetch: Callable[[list[ChangeRecord]], list[ChangeRecord]] | None,
    ):
        self.writer = writer
        self.fetch = fetch
        self.follower: Follower | None = None
        self.objects = 0

    def _position(self, shard_id: str) -> ShardPosition:
        assert self.follower is not None
        for shard in self.follower.progress():
            if shard.shard_id == shard_id:
                return ShardPosition(shard_id, shard.parent_id, shard.sequence)
        return ShardPosition(shard_id, None, None)

    def __call__(self, shard_id: str, records: list[dict[str, Any]]) -> ApplyOutcome:
        try:
            changes = [record_from_stream(r, binary_as_text=False) for r in records]
            if self.fetch is not None:
                changes = self.fetch(changes)
            self.objects += len(self.writer.write(changes, self._position(shard_id)))
        except ReplicatorError as exc:
            return ApplyOutcome(None, exc)
        return ApplyOutcome(changes[-1].sequence_number)


def _fetcher(
    client: Client, table: str, schema: KeySchema
) -> Callable[[list[ChangeRecord]], list[ChangeRecord]]:
    """Fetch mode: each non-REMOVE record gets the item as it is now (consistent read)."""

    def fetch(changes: list[ChangeRecord]) -> list[ChangeRecord]:
        wanted = [c.keys for c in changes if c.event_name != "REMOVE"]
        found = batch_get(client, table, wanted, schema, consistent=True).by_key(schema)
        out = []
        for change in changes:
            image = None if change.event_name == "REMOVE" else found.get(_identity(change, schema))
            out.append(_with_image(change, image))
        return out

    return fetch


def _identity(change: ChangeRecord, schema: KeySchema) -> Any:
    return key_identity(change.keys, schema)


def _with_image(change: ChangeRecord, image: Mapping[str, Any] | None) -> ChangeRecord:
    return ChangeRecord(
        change.event_id,
        change.sequence_number,
        change.time,
        change.time_unit,
        change.event_name,
        change.keys,
        dict(image) if image is not None else None,
        change.old_image,
        change.user_identity,
    )


class _Heartbeats:
    """Writes a heartbeat per shard when its progress changed and ``every`` seconds passed."""

    def __init__(
        self,
        writer: ChangeLogWriter,
        every: float,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ):
        self.writer = writer
        self.every = every
        self.clock = clock
        self.wall = wall
        self.written: dict[str, Heartbeat] = {}
        self.last: dict[str, float] = {}

    def beat(self, progress: tuple[ShardProgress, ...], *, force: bool = False) -> None:
        now = self.clock()
        for shard in progress:
            if not shard.finished and shard.empty_read_at is None:
                continue  # nothing proven yet: no empty read of this shard
            beat = Heartbeat(
                shard.shard_id,
                shard.parent_id,
                shard.sequence,
                int(shard.empty_read_at or 0) if not shard.finished else int(self.wall()),
                closed=shard.finished,
            )
            previous = self.written.get(shard.shard_id)
            if previous is not None and previous.closed:
                continue
            due = now - self.last.get(shard.shard_id, float("-inf")) >= self.every
            if previous != beat and (force or due or beat.closed):
                self.writer.heartbeat(beat)
                self.written[shard.shard_id] = beat
                self.last[shard.shard_id] = now


def _open_log(job: BackupChangesJob, descriptor: LogDescriptor) -> Storage:
    root = job.destination.open()
    root.check()
    return storage_at(root, log_location(root.location, descriptor.table, descriptor.stream_label))


@dataclass(frozen=True)
class LogRun:
    """What following a stream into a log did: the follower's result, objects and gap markers."""

    follow: FollowResult
    objects: int
    gap_markers: tuple[str, ...]


def follow_into_log(
    streams: StreamsClient,
    stream_arn: str,
    writer: ChangeLogWriter,
    store: CheckpointStore,
    options: FollowOptions,
    *,
    fetch: Callable[[list[ChangeRecord]], list[ChangeRecord]] | None = None,
    heartbeat_seconds: float = 60.0,
    on_status: Callable[[FollowStatus], None] | None = None,
    wall: Callable[[], float] = time.time,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> LogRun:
    """Run a follower on ``stream_arn`` whose every page becomes objects written by ``writer``,
    with heartbeats and gap markers; the last heartbeats are written when it stops."""
    applier = _LogApplier(writer, fetch)
    heartbeats = _Heartbeats(writer, heartbeat_seconds, clock, wall)
    markers: list[str] = []

    def gap(found: ShardGap) -> None:
        marker = GapMarker(found.shard_id, found.after_sequence, found.resumed_at, int(wall()))
        markers.append(writer.gap(marker))

    def status(now: FollowStatus) -> None:
        heartbeats.beat(follower.progress())
        if on_status is not None:
            on_status(now)

    follower = Follower(
        streams,
        stream_arn,
        store,
        applier,
        options,
        clock=clock,
        wall=wall,
        sleep=sleep,
        on_status=status,
        on_gap=gap,
    )
    applier.follower = follower
    try:
        result = follower.run()  # stopped by an error: the heartbeats last written stand
    except GapError as exc:  # --fail-on-gap: the marker is written; no replica to repair
        raise GapError(f"{exc.message} (gap marker written in the log)", cause=exc) from exc
    heartbeats.beat(follower.progress(), force=True)
    return LogRun(result, applier.objects, tuple(markers))


def backup_changes(
    job: BackupChangesJob,
    store: CheckpointStore,
    *,
    on_status: Callable[[FollowStatus], None] | None = None,
) -> BackupChangesResult:
    """Follow ``job.primary``'s stream into its change log, checkpointing in ``store``.

    Configuration problems (no stream, a view without new images, an unusable destination, a
    log folder of another stream) are raised before any record is read (exit 2).
    """
    primary = job.primary
    client = primary.client()
    info = describe_table(client, primary.name, str(primary.address))
    descriptor = descriptor_of(info, fetch=job.fetch, where=str(primary.address))
    storage = _open_log(job, descriptor)
    writer = ChangeLogWriter(storage, writer="follower")
    writer.ensure_descriptor(descriptor)
    run = follow_into_log(
        primary.streams_client(),
        descriptor.stream_arn,
        writer,
        store,
        job.options,
        fetch=_fetcher(client, primary.name, info.key_schema) if job.fetch else None,
        heartbeat_seconds=job.heartbeat_seconds,
        on_status=on_status,
    )
    return BackupChangesResult(
        run.follow, storage.location.url(), run.objects, len(run.gap_markers)
    )


def checkpoint_table(
    primary: TableSpec, region: str, table: str, endpoint_url: str | None = None
) -> TableCheckpoint:
    """The checkpoint of ``backup-changes`` of ``primary`` kept in the DynamoDB table
    ``region``/``table`` (``ddb://REGION/TABLE``), reached at ``endpoint_url`` or the
    primary's endpoint."""
    endpoint = endpoint_url or primary.address.endpoint_url
    client = make_client("dynamodb", region=region, endpoint_url=endpoint)
    return TableCheckpoint(client, table, f"backup-changes {primary.address}")
