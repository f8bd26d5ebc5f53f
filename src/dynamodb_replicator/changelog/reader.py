"""Reading a change log: list a window's hours, verify each object, order its records.

Every object is checked against its manifest (SHA-256 of the bytes, count of lines, its own
name) before any record of it is used; a damaged object is reported, never read. Objects
overlap harmlessly (a batch re-read after a restart, a Lambda batch bisected or retried):
records are de-duplicated by sequence number, and two different records under one sequence
number are reported as damage. Order is stream order, never time: a parent shard's records
before its children's, then sequence number within a shard. Records whose object names no
shard (written by the Lambda handler) are ordered by sequence number alone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..backup.storage import Storage
from ..errors import ChangeLogError
from .format import ChangeRecord, decode_object
from .layout import (
    DATA_SUFFIX,
    DESCRIPTOR,
    GAPS,
    HEARTBEATS,
    MANIFEST_SUFFIX,
    GapMarker,
    Heartbeat,
    LogDescriptor,
    ObjectManifest,
    hour_bounds,
    is_day,
    is_hour,
)
from .store import get_optional, storage_at, subfolders

__all__ = [
    "Damage",
    "LogWindow",
    "LoggedRecord",
    "list_hours",
    "order_records",
    "read_descriptor",
    "read_gaps",
    "read_heartbeats",
    "read_object",
    "read_window",
    "shard_order",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Damage:
    """An object (or record) that cannot be trusted, and why."""

    name: str
    problem: str


@dataclass(frozen=True)
class LoggedRecord:
    """A record with where it came from: its shard (``None`` for Lambda objects) and object."""

    record: ChangeRecord
    shard_id: str | None
    object_name: str


@dataclass(frozen=True)
class LogWindow:
    """What a window of the log holds.

    ``records``: de-duplicated, in stream order, times within the window. ``objects``: the
    manifests of the objects read whole and verified. ``damaged``: objects that failed a check.
    ``unfinished``: data objects without a manifest (a write stopped between the two).
    """

    hours: tuple[str, ...]
    records: tuple[LoggedRecord, ...]
    objects: tuple[ObjectManifest, ...]
    damaged: tuple[Damage, ...]
    unfinished: tuple[str, ...]
    duplicates: int
    sequences: dict[str | None, frozenset[int]]
    """Every sequence number of the objects read (times outside the window included), by
    shard (``None``: Lambda objects), for checking that predecessors are present."""


def read_descriptor(storage: Storage) -> LogDescriptor | None:
    """The log's ``_log.json``, ``None`` when there is none."""
    data = get_optional(storage, DESCRIPTOR)
    return (
        None if data is None else LogDescriptor.from_bytes(data, storage.location.url(DESCRIPTOR))
    )


def list_hours(storage: Storage, first: int | None = None, last: int | None = None) -> list[str]:
    """The hour folders (``YYYY-MM-DD/HH``) present in the log that overlap ``[first, last]``
    (epoch seconds; either end open when ``None``), in time order."""
    hours: list[str] = []
    for day in subfolders(storage):
        if not is_day(day):
            continue
        for hour in subfolders(storage_at(storage, storage.location.child(day))):
            if not is_hour(hour):
                continue
            start, end = hour_bounds(f"{day}/{hour}")
            if (first is None or end >= first) and (last is None or start <= last):
                hours.append(f"{day}/{hour}")
    return hours


def read_object(storage: Storage, name: str) -> tuple[ObjectManifest, list[ChangeRecord]]:
    """One object (``YYYY-MM-DD/HH/<name>``) and its records, verified against its manifest;
    :class:`ChangeLogError` naming the damage."""
    hour, _, short = name.rpartition("/")
    folder = storage_at(storage, storage.location.child(hour))
    try:
        return _verify(folder, hour, short, folder.get(short + MANIFEST_SUFFIX))
    except _Damaged as exc:
        raise ChangeLogError(f"{storage.location.url(name)}: {exc}") from exc


def _verify(
    storage: Storage, hour: str, name: str, manifest_bytes: bytes
) -> tuple[ObjectManifest, list[ChangeRecord]]:
    what = storage.location.url(f"{hour}/{name}")
    manifest = ObjectManifest.from_bytes(manifest_bytes, what + MANIFEST_SUFFIX)
    if manifest.name != f"{hour}/{name}":
        raise _Damaged(f"its manifest names another object ({manifest.name})")
    data = storage.get(name)
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.sha256:
        raise _Damaged(f"SHA-256 {digest} does not match its manifest's {manifest.sha256}")
    records = decode_object(data)
    if len(records) != manifest.count:
        raise _Damaged(f"holds {len(records)} records, its manifest says {manifest.count}")
    return manifest, records


class _Damaged(Exception):
    pass


def _read_hour(
    storage: Storage, hour: str
) -> tuple[list[tuple[ObjectManifest, list[ChangeRecord]]], list[Damage], list[str]]:
    folder = storage_at(storage, storage.location.child(hour))
    listing = folder.listing()
    read: list[tuple[ObjectManifest, list[ChangeRecord]]] = []
    damaged: list[Damage] = []
    unfinished: list[str] = []
    for name in sorted(listing):
        if not name.endswith(DATA_SUFFIX):
            continue
        path = f"{hour}/{name}"
        if name + MANIFEST_SUFFIX not in listing:
            unfinished.append(path)
            continue
        try:
            read.append(_verify(folder, hour, name, folder.get(name + MANIFEST_SUFFIX)))
        except _Damaged as exc:
            damaged.append(Damage(path, str(exc)))
        except ChangeLogError as exc:
            damaged.append(Damage(path, exc.message))
    for name in sorted(listing):
        if name.endswith(MANIFEST_SUFFIX) and name[: -len(MANIFEST_SUFFIX)] not in listing:
            damaged.append(Damage(f"{hour}/{name}", "its data object is missing"))
    return read, damaged, unfinished


def read_window(
    storage: Storage, *, first: int | None = None, last: int | None = None
) -> LogWindow:
    """Read, verify and order every record of the log whose time is in ``[first, last]``."""
    hours = list_hours(storage, first, last)
    entries: list[LoggedRecord] = []
    sequences: dict[str | None, set[int]] = {}
    objects: list[ObjectManifest] = []
    damaged: list[Damage] = []
    unfinished: list[str] = []
    for hour in hours:
        read, bad, partial = _read_hour(storage, hour)
        damaged.extend(bad)
        unfinished.extend(partial)
        for manifest, records in read:
            objects.append(manifest)
            sequences.setdefault(manifest.shard_id, set()).update(r.order for r in records)
            entries.extend(
                LoggedRecord(r, manifest.shard_id, manifest.name)
                for r in records
                if (first is None or r.seconds >= first) and (last is None or r.seconds <= last)
            )
    lineage = {m.shard_id: m.parent_shard_id for m in objects if m.shard_id is not None}
    ordered, duplicates, conflicts = order_records(entries, lineage)
    return LogWindow(
        hours=tuple(hours),
        records=tuple(ordered),
        objects=tuple(objects),
        damaged=tuple(damaged + conflicts),
        unfinished=tuple(unfinished),
        duplicates=duplicates,
        sequences={shard: frozenset(found) for shard, found in sequences.items()},
    )


def shard_order(lineage: dict[str, str | None]) -> list[str]:
    """Shard ids with every parent before its children (ties by id), from child -> parent."""
    children: dict[str | None, list[str]] = {}
    for shard, parent in lineage.items():
        root = parent if parent in lineage else None
        children.setdefault(root, []).append(shard)
    order: list[str] = []
    queue = sorted(children.get(None, []))
    while queue:
        shard = queue.pop(0)
        order.append(shard)
        queue = sorted(queue + children.get(shard, []))
    # A cycle cannot come from DynamoDB; keep any such shards rather than drop their records.
    order.extend(sorted(set(lineage) - set(order)))
    return order


def order_records(
    entries: Iterable[LoggedRecord], lineage: dict[str, str | None]
) -> tuple[list[LoggedRecord], int, list[Damage]]:
    """De-duplicate by sequence number and put in stream order (pure).

    Returns the records, the number of duplicates dropped, and a :class:`Damage` for every
    sequence number held by two different records. A copy that names its shard is preferred.
    """
    kept: dict[int, LoggedRecord] = {}
    duplicates = 0
    conflicts: list[Damage] = []
    for entry in entries:
        order = entry.record.order
        held = kept.get(order)
        if held is None:
            kept[order] = entry
            continue
        duplicates += 1
        if held.record != entry.record:
            conflicts.append(
                Damage(
                    entry.object_name,
                    f"sequence number {entry.record.sequence_number} differs from the record "
                    f"in {held.object_name}",
                )
            )
        elif held.shard_id is None and entry.shard_id is not None:
            kept[order] = entry
    records = list(kept.values())
    if any(r.shard_id is None for r in records):
        return sorted(records, key=lambda r: r.record.order), duplicates, conflicts
    rank = {shard: i for i, shard in enumerate(shard_order(lineage))}
    return (
        sorted(records, key=lambda r: (rank.get(r.shard_id or "", -1), r.record.order)),
        duplicates,
        conflicts,
    )


def _records_under(storage: Storage, folder: str) -> Sequence[tuple[str, bytes]]:
    sub = storage_at(storage, storage.location.child(folder))
    return [(f"{folder}/{name}", sub.get(name)) for name in sorted(sub.listing())]


def read_heartbeats(storage: Storage) -> list[Heartbeat]:
    """Every shard's heartbeat."""
    return [
        Heartbeat.from_bytes(data, storage.location.url(name))
        for name, data in _records_under(storage, HEARTBEATS)
    ]


def read_gaps(storage: Storage) -> list[GapMarker]:
    """Every gap marker."""
    return [
        GapMarker.from_bytes(data, storage.location.url(name))
        for name, data in _records_under(storage, GAPS)
    ]
