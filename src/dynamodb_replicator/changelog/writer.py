"""Writing a change log: the descriptor, one object per batch and hour, heartbeats, gap markers.

Each object is written whole, then its manifest: a reader takes an object only once its
manifest exists, so a writer stopped between the two leaves an object that the next write of
the same batch (same name, same bytes) completes. Both writers, the follower and the Lambda
handler, go through :class:`ChangeLogWriter`, so one encoder makes every log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..backup.storage import Storage
from ..errors import ChangeLogError
from .format import GZIP_LEVEL, LogRecord, encode_object
from .layout import (
    DESCRIPTOR,
    GapMarker,
    Heartbeat,
    LogDescriptor,
    ObjectManifest,
    Writer,
    gap_name,
    heartbeat_name,
    manifest_for,
    manifest_name,
    object_name,
    split_by_hour,
)
from .store import get_optional

__all__ = ["ChangeLogWriter", "ShardPosition"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardPosition:
    """Where a follower's batch sits in its shard: the shard, its parent, and the sequence
    number of the shard's record just before the batch (``None`` at the shard's start)."""

    shard_id: str
    parent_shard_id: str | None
    predecessor: str | None


class ChangeLogWriter:
    """Writes one stream's log into ``storage`` (rooted at the log's folder)."""

    def __init__(self, storage: Storage, *, writer: Writer, gzip_level: int = GZIP_LEVEL):
        self.storage = storage
        self.writer = writer
        self.gzip_level = gzip_level

    def ensure_descriptor(self, descriptor: LogDescriptor) -> None:
        """Write ``_log.json``, or check that the one there describes the same stream."""
        existing = get_optional(self.storage, DESCRIPTOR)
        if existing is None:
            self.storage.put(DESCRIPTOR, descriptor.to_bytes())
            return
        found = LogDescriptor.from_bytes(existing, self.storage.location.url(DESCRIPTOR))
        if not found.same_stream(descriptor):
            raise ChangeLogError(
                f"{self.storage.location.url(DESCRIPTOR)} describes the stream "
                f"{found.stream_arn}, not {descriptor.stream_arn}",
                hint="each stream has its own folder: check the destination and the table",
            )

    def write(
        self, records: Sequence[LogRecord], position: ShardPosition | None = None
    ) -> list[ObjectManifest]:
        """Write ``records`` (in stream order) as one object per UTC hour they span.

        Returns the manifests written. ``position`` (follower only) is recorded in each
        manifest; an object after the first chains to the previous object's last record.
        """
        manifests: list[ObjectManifest] = []
        predecessor = position.predecessor if position else None
        for hour, run in split_by_hour(records):
            encoded = encode_object(run, level=self.gzip_level)
            name = object_name(hour, run[0].sequence_number, run[-1].sequence_number)
            manifest = manifest_for(
                name,
                run,
                sha256=encoded.sha256,
                size=len(encoded.data),
                writer=self.writer,
                shard_id=position.shard_id if position else None,
                parent_shard_id=position.parent_shard_id if position else None,
                predecessor=predecessor,
            )
            self.storage.put(name, encoded.data)
            self.storage.put(manifest_name(name), manifest.to_bytes())
            log.debug("wrote %s (%d records)", self.storage.location.url(name), len(run))
            manifests.append(manifest)
            predecessor = run[-1].sequence_number if position else None
        return manifests

    def heartbeat(self, heartbeat: Heartbeat) -> None:
        """Record how far a shard has been read (overwrites the shard's previous heartbeat)."""
        self.storage.put(heartbeat_name(heartbeat.shard_id), heartbeat.to_bytes())

    def gap(self, marker: GapMarker) -> str:
        """Record data found trimmed; returns the marker's name."""
        name = gap_name(marker.shard_id, marker.after)
        self.storage.put(name, marker.to_bytes())
        log.warning(
            "gap in %s: shard %s lost records after %s",
            self.storage.location.url(),
            marker.shard_id,
            marker.after or "its start",
        )
        return name
