"""The original tool's incremental backups -> a backup in our format (``incremental-snapshot``).

The original's ``backup`` Lambda function and ``incremental-backfill`` kept one object per item
at ``<prefix>/<table>/<hash>``, the hash (MD5 before its 10.0, SHA-256 from 10.1) of the key's
JSON text, the body the item's wire JSON (binary as base64); REMOVE deleted the object, and a
versioned bucket kept the history. The key's JSON was built in different attribute orders
(stream order in the Lambda, key-schema order in the backfill), so one item can live under two
names, and a REMOVE deleted only one of them.

**The rule for an item under more than one name:** every name's newest event counts (its
newest object version, or its newest delete marker), and the newest event across the item's
names wins, by ``LastModified``. A name whose newest event is a delete marker says when the
item was deleted; an older object under another name does not bring it back (a name that holds
only delete markers is matched to its item by hashing the known keys). Two events of one
item at the same ``LastModified`` cannot be ordered: the item is kept (nothing is lost) and the
key is reported as a tie. A local folder (no versions) is read by file modification times.

Memory: one item per key is held until the end (the winner so far).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..dynamo import s3_client
from ..errors import BackupError, ItemFormatError
from ..items import Item, KeySchema, decode_item, extract_key, item_to_text, key_identity
from .jobs import job_location
from .layout import Location, Manifest, Started, data_name, manifest_name
from .storage import StorageSpec
from .writer import GzipLines, now_iso, write_started

__all__ = [
    "NameEvent",
    "SnapshotResult",
    "key_definition",
    "key_names",
    "list_names",
    "name_matches_key",
    "resolve",
    "snapshot",
]

log = logging.getLogger(__name__)

_BATCH = 500


@dataclass(frozen=True)
class NameEvent:
    """The newest event of one object name: when, whether it is a deletion, and which version
    holds the item's content (the newest object version; for a deleted name, the one the delete
    marker hid; ``None`` when the name never held an object or in a folder)."""

    name: str
    time: datetime
    deleted: bool
    version_id: str | None = None


@dataclass(frozen=True)
class Candidate:
    """One name's claim on a key: its newest event and the item it held."""

    event: NameEvent
    item: Item


@dataclass
class SnapshotResult:
    """What ``incremental-snapshot`` found and wrote."""

    jobid: str
    location: str
    names: int = 0
    items: int = 0
    deleted: int = 0
    multi_name_keys: int = 0
    kept_deleted: int = 0
    """Keys deleted under one name while another name still held an older object."""
    ties: list[str] = field(default_factory=list)
    """Keys whose newest events across names share one ``LastModified`` (item kept)."""
    unmatched_names: list[str] = field(default_factory=list)
    """Names that are not the hash of the item's key in any attribute order."""
    empty_names: int = 0
    """Names holding only delete markers, of no key any other name holds."""


def key_definition(table: str, schema: KeySchema) -> dict[str, Any]:
    """A table definition with the key only (on-demand), so ``restore-table --create`` works."""
    roles = ("HASH", "RANGE")
    return {
        "TableName": table,
        "KeySchema": [
            {"AttributeName": name, "KeyType": role}
            for (name, _), role in zip(schema.attributes, roles, strict=False)
        ],
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": type_} for name, type_ in schema.attributes
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def key_names(item: Item, schema: KeySchema) -> set[str]:
    """Every name the original could have given ``item``'s object: the SHA-256 and MD5 hex
    digests of the key's compact JSON text in each attribute order."""
    key = item_to_text(extract_key(item, schema))
    names = set()
    for order in itertools.permutations(key):
        text = json.dumps({k: key[k] for k in order}, separators=(",", ":"), ensure_ascii=False)
        data = text.encode("utf-8")
        names.add(hashlib.sha256(data).hexdigest())
        names.add(hashlib.md5(data, usedforsecurity=False).hexdigest())
    return names


def name_matches_key(name: str, item: Item, schema: KeySchema) -> bool:
    """Whether ``name`` is one the original could have given ``item``'s object."""
    return name in key_names(item, schema)


def resolve(candidates: Iterable[Candidate]) -> tuple[Candidate, bool]:
    """The winning claim on one key (the newest event) and whether that was a tie.

    On a tie between a deletion and an object, the object wins (kept, reported)."""
    ordered = sorted(candidates, key=lambda c: (c.event.time, not c.event.deleted, c.event.name))
    winner = ordered[-1]
    tied = [c for c in ordered if c.event.time == winner.event.time]
    return winner, len(tied) > 1 and any(c.event.deleted for c in tied)


# --- reading the source ------------------------------------------------------------------------


def _is_item_name(name: str) -> bool:
    return bool(name) and "/" not in name and not name.startswith(".")


def _s3_events(client: Any, location: Location) -> Iterator[NameEvent]:
    prefix = f"{location.prefix}/" if location.prefix else ""
    by_name: dict[str, list[tuple[datetime, bool, str | None, bool]]] = {}
    pages = client.get_paginator("list_object_versions").paginate(
        Bucket=location.bucket, Prefix=prefix
    )
    for page in pages:
        for entry, deleted in itertools.chain(
            ((v, False) for v in page.get("Versions", [])),
            ((m, True) for m in page.get("DeleteMarkers", [])),
        ):
            name = entry["Key"][len(prefix) :]
            if _is_item_name(name):
                by_name.setdefault(name, []).append(
                    (entry["LastModified"], deleted, entry.get("VersionId"), entry["IsLatest"])
                )
    for name, entries in sorted(by_name.items()):
        latest = next((e for e in entries if e[3]), max(entries, key=lambda e: e[0]))
        objects = [e for e in entries if not e[1]]
        newest_object = max(objects, key=lambda e: e[0]) if objects else None
        yield NameEvent(
            name,
            latest[0],
            latest[1],
            newest_object[2] if newest_object else None,
        )


def _folder_events(location: Location) -> Iterator[NameEvent]:
    root = Path(location.prefix)
    if not root.is_dir():
        raise BackupError(f"{root} is not a folder", hint="name the folder holding the items")
    for path in sorted(root.iterdir()):
        if path.is_file() and _is_item_name(path.name):
            yield NameEvent(path.name, datetime.fromtimestamp(path.stat().st_mtime, UTC), False)


def list_names(source: StorageSpec) -> tuple[list[NameEvent], Callable[[NameEvent], bytes]]:
    """Every object name under ``source`` with its newest event, and a reader of a name's item
    content (the version :class:`NameEvent` names)."""
    location = source.location
    if location.kind == "folder":
        root = Path(location.prefix)
        return list(_folder_events(location)), lambda e: (root / e.name).read_bytes()
    client = s3_client(endpoint_url=source.s3_endpoint_url, region=source.region)
    prefix = f"{location.prefix}/" if location.prefix else ""
    bucket = location.bucket or ""  # an s3 location always names its bucket

    def read(event: NameEvent) -> bytes:
        key = prefix + event.name
        if event.version_id and event.version_id != "null":
            answer = client.get_object(Bucket=bucket, Key=key, VersionId=event.version_id)
        else:
            answer = client.get_object(Bucket=bucket, Key=key)
        body: bytes = answer["Body"].read()
        return body

    try:
        return list(_s3_events(client, location)), read
    except client.exceptions.NoSuchBucket as exc:
        raise BackupError(f"no bucket {location.bucket}", hint="check SOURCE") from exc


# --- writing the backup ------------------------------------------------------------------------


def _describe_key(item: Item, schema: KeySchema) -> str:
    return json.dumps(item_to_text(extract_key(item, schema)), separators=(",", ":"))


def _collect(
    events: list[NameEvent],
    read: Callable[[NameEvent], bytes],
    schema: KeySchema,
    result: SnapshotResult,
) -> dict[Hashable, list[Candidate]]:
    claims: dict[Hashable, list[Candidate]] = {}
    markers_only: list[NameEvent] = []
    for event in events:
        if event.deleted and event.version_id is None:
            markers_only.append(event)
            continue
        where = f"{event.name}" + (f" (version {event.version_id})" if event.version_id else "")
        try:
            item = decode_item(read(event))
            identity = key_identity(extract_key(item, schema), schema)
        except ItemFormatError as exc:
            raise BackupError(
                f"object {where} is not an item of this key schema: {exc.message}",
                hint="check --key against the table's key schema",
            ) from exc
        if not name_matches_key(event.name, item, schema):
            result.unmatched_names.append(event.name)
        claims.setdefault(identity, []).append(Candidate(event, item))
    _claim_markers(markers_only, claims, schema, result)
    return claims


def _claim_markers(
    markers: list[NameEvent],
    claims: dict[Hashable, list[Candidate]],
    schema: KeySchema,
    result: SnapshotResult,
) -> None:
    """Give each name that holds only delete markers (a REMOVE under a name never written) to
    the key it is a name of, found by hashing the known keys' attribute orders."""
    if not markers:
        return
    owners: dict[str, Hashable] = {}
    for identity, candidates in claims.items():
        for name in key_names(candidates[0].item, schema):
            owners[name] = identity
    for event in markers:
        identity = owners.get(event.name)
        if identity is None:
            result.empty_names += 1  # the deletion of an item no name holds: nothing to undo
            continue
        claims[identity].append(Candidate(event, claims[identity][0].item))


def snapshot(
    source: StorageSpec,
    destination: StorageSpec,
    *,
    table: str,
    schema: KeySchema,
    jobid: str,
    region: str = "unknown",
    clock: Callable[[], str] = now_iso,
) -> SnapshotResult:
    """Read the original's incremental backup at ``source``; write job ``jobid`` (one segment,
    its manifest vouching for it) under ``destination``."""
    started_at = clock()
    events, read = list_names(source)
    job = job_location(destination.location, jobid)
    result = SnapshotResult(jobid, job.url(), names=len(events))
    claims = _collect(events, read, schema, result)
    winners: list[Item] = []
    for candidates in claims.values():
        winner, tie = resolve(candidates)
        if len({c.event.name for c in candidates}) > 1:
            result.multi_name_keys += 1
            if winner.event.deleted and any(not c.event.deleted for c in candidates):
                result.kept_deleted += 1
        if tie:
            result.ties.append(_describe_key(winner.item, schema))
        if winner.event.deleted:
            result.deleted += 1
        else:
            winners.append(winner.item)
    storage = destination.at(job).open()
    storage.check()
    write_started(storage, Started(jobid, table, region, 1, started_at, __version__))
    encoder = GzipLines()
    writer = storage.writer(data_name(0))
    try:
        for start in range(0, len(winners), _BATCH):
            writer.write(encoder.encode(winners[start : start + _BATCH]))
        writer.write(encoder.finish())
        size = writer.commit()
    except BaseException:
        writer.abort()
        raise
    manifest = _manifest(jobid, table, region, encoder, size, started_at, clock(), schema)
    storage.put(manifest_name(0), manifest.to_bytes())
    result.items = encoder.items
    log.info("incremental snapshot %s: %d items at %s", jobid, result.items, result.location)
    return result


def _manifest(
    jobid: str,
    table: str,
    region: str,
    encoder: GzipLines,
    size: int,
    started_at: str,
    finished_at: str,
    schema: KeySchema,
) -> Manifest:
    definition: Mapping[str, Any] = key_definition(table, schema)
    return Manifest(
        jobid=jobid,
        table=table,
        region=region,
        segment=0,
        segments=1,
        item_count=encoder.items,
        uncompressed_bytes=encoder.uncompressed,
        compressed_bytes=size,
        sha256=encoder.sha256,
        started_at=started_at,
        finished_at=finished_at,
        tool_version=__version__,
        table_description=dict(definition),
        object=data_name(0),
    )
