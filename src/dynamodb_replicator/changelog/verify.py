"""``verify-changes``: prove a window of a change log complete, or name what breaks it.

In the window ``[first, last]`` (epoch seconds; open ends allowed) it reports:

- ``damaged``: an object whose SHA-256 or count does not match its manifest, a manifest
  without its object, two different records under one sequence number;
- ``unfinished``: an object without a manifest whose records are not all in verified objects
  (one whose records were all written again is harmless and not reported);
- ``chain-break``: a follower object whose predecessor is not a record of any object of its
  shard (looked for in earlier hours too): records were lost between the two;
- ``gap``: a gap marker (data trimmed before the follower read it) touching the window;
- ``stream-change``: more than one stream (table re-created, stream re-enabled) in the window;
- ``not-reingested``: (with a failure destination) a batch Lambda discarded whose records of
  the window are not all in the log: run ``backup-changes --from-failures``;
- ``missing-change``: on ``NEW_AND_OLD_IMAGES`` logs, a record whose old image is not the new
  image of the key's previous record in the log (a change between them is missing).

With none, the window is complete; each shard's proof says how far it was read (a heartbeat,
the shard's end, or its last record).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..backup.storage import Storage
from ..errors import ChangeLogError, ConfigError
from ..items import Item, canonical_value, items_equal
from .format import ChangeRecord, decode_object, event_record, sequence_key
from .layout import (
    DESCRIPTOR,
    MANIFEST_SUFFIX,
    GapMarker,
    Heartbeat,
    LogDescriptor,
    ObjectManifest,
    hour_bounds,
)
from .reader import (
    LogWindow,
    list_hours,
    read_descriptor,
    read_gaps,
    read_heartbeats,
    read_window,
)
from .store import storage_at, subfolders

if TYPE_CHECKING:
    from .failures import BatchInfo

__all__ = ["Problem", "ShardProof", "Verification", "find_logs", "verify_changes", "verify_log"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """One thing that keeps the window from being proven complete."""

    kind: str
    name: str
    detail: str


@dataclass(frozen=True)
class ShardProof:
    """How far one shard's records are proven in the log.

    ``read_to``: the latest second up to which the shard is known read (heartbeat or last
    record), ``None`` when unknown; ``closed``: the shard ended and was read to its end.
    """

    stream_label: str
    shard_id: str | None
    parent_shard_id: str | None
    records: int
    first_seconds: int | None
    last_seconds: int | None
    read_to: int | None
    closed: bool


@dataclass(frozen=True)
class Verification:
    """What ``verify-changes`` found: problems (exit 1 if any), per-shard proofs, totals."""

    first: int | None
    last: int | None
    logs: tuple[str, ...]
    problems: tuple[Problem, ...]
    shards: tuple[ShardProof, ...]
    objects: int
    records: int
    duplicates: int

    @property
    def complete(self) -> bool:
        return not self.problems


def find_logs(root: Storage) -> list[Storage]:
    """The stream logs at or under ``root``: a log folder itself (it holds ``_log.json``), a
    table's ``changes`` folder, or the table's folder above it."""
    if root.size(DESCRIPTOR) is not None:
        return [root]
    base = root
    if "changes" in subfolders(root):
        base = storage_at(root, root.location.child("changes"))
    logs = []
    for label in subfolders(base):
        candidate = storage_at(base, base.location.child(label))
        if candidate.size(DESCRIPTOR) is not None:
            logs.append(candidate)
    if not logs:
        raise ConfigError(
            f"no change log at {root.location.url()}",
            hint="give the log's folder (TARGET/<table>/changes/<stream label>), the table's "
            "changes folder, or the table's folder",
        )
    return logs


def _key_id(keys: Mapping[str, Any]) -> Hashable:
    return tuple((name, canonical_value(keys[name])) for name in sorted(keys))


def _missing_changes(window: LogWindow) -> list[Problem]:
    problems: list[Problem] = []
    previous: dict[Hashable, tuple[ChangeRecord, Item | None]] = {}
    for entry in window.records:
        record = entry.record
        key = _key_id(record.keys)
        held = previous.get(key)
        if held is not None:
            before, image = held
            expected_absent = record.event_name == "INSERT"
            if expected_absent and image is not None:
                problems.append(_missing(entry.object_name, record, before, "a REMOVE"))
            elif not expected_absent and (
                image is None
                or record.old_image is None
                or not items_equal(image, record.old_image)
            ):
                problems.append(_missing(entry.object_name, record, before, "a change"))
        previous[key] = (record, record.new_image if record.event_name != "REMOVE" else None)
    return problems


def _missing(name: str, record: ChangeRecord, before: ChangeRecord, what: str) -> Problem:
    return Problem(
        "missing-change",
        name,
        f"record {record.sequence_number} ({record.event_name}) does not follow from record "
        f"{before.sequence_number}: {what} between them is missing",
    )


def _found_earlier(storage: Storage, shard: str, wanted: int, before: str) -> bool:
    """Whether an object of ``shard`` in an hour before ``before`` holds ``wanted``, by its
    manifest's sequence range: those records lie before the window, so the claim is enough
    (an object damaged there is reported when its own hours are verified)."""
    start, _ = hour_bounds(before)
    for hour in reversed(list_hours(storage, None, start - 1)):
        folder = storage_at(storage, storage.location.child(hour))
        for name in folder.listing():
            if not name.endswith(MANIFEST_SUFFIX):
                continue
            try:
                manifest = ObjectManifest.from_bytes(folder.get(name), name)
                low = sequence_key(manifest.first_sequence_number)
                high = sequence_key(manifest.last_sequence_number)
            except ChangeLogError:
                continue
            if manifest.shard_id == shard and low <= wanted <= high:
                return True
    return False


def _chain_breaks(storage: Storage, window: LogWindow) -> list[Problem]:
    problems = []
    for manifest in window.objects:
        if manifest.writer != "follower" or manifest.predecessor is None:
            continue
        wanted = sequence_key(manifest.predecessor)
        if wanted in window.sequences.get(manifest.shard_id, frozenset()):
            continue
        hour = manifest.name.rsplit("/", 1)[0]
        if manifest.shard_id is not None and _found_earlier(
            storage, manifest.shard_id, wanted, hour
        ):
            continue
        problems.append(
            Problem(
                "chain-break",
                manifest.name,
                f"shard {manifest.shard_id}: its predecessor {manifest.predecessor} is in no "
                "object of the shard: records before it are missing",
            )
        )
    return problems


def _unfinished(storage: Storage, window: LogWindow) -> list[Problem]:
    problems = []
    for name in window.unfinished:
        hour, _, short = name.rpartition("/")
        folder = storage_at(storage, storage.location.child(hour))
        try:
            records = decode_object(folder.get(short))
        except ChangeLogError as exc:
            problems.append(Problem("unfinished", name, f"no manifest, unreadable: {exc.message}"))
            continue
        known = set().union(*window.sequences.values()) if window.sequences else set()
        lost = [r.sequence_number for r in records if r.order not in known]
        if lost:
            problems.append(
                Problem(
                    "unfinished",
                    name,
                    f"no manifest, and {len(lost)} of its records are in no verified object "
                    f"(first {lost[0]}): the write stopped and was not repeated",
                )
            )
    return problems


def _gap_touches(marker: GapMarker, window: LogWindow, first: int | None, last: int | None) -> bool:
    times = {r.record.order: r.record.seconds for r in window.records}
    after = times.get(sequence_key(marker.after)) if marker.after else None
    resumed = times.get(sequence_key(marker.resumed_at)) if marker.resumed_at else None
    if after is not None and last is not None and after > last:
        return False
    return not (resumed is not None and first is not None and resumed < first)


def _proofs(label: str, window: LogWindow, beats: list[Heartbeat]) -> list[ShardProof]:
    by_shard: dict[str | None, list[ChangeRecord]] = {}
    for entry in window.records:
        by_shard.setdefault(entry.shard_id, []).append(entry.record)
    parents = {m.shard_id: m.parent_shard_id for m in window.objects}
    beat_of = {b.shard_id: b for b in beats}
    proofs = []
    for shard in sorted(set(by_shard) | set(beat_of), key=lambda s: s or ""):
        records = by_shard.get(shard, [])
        seconds = [r.seconds for r in records]
        beat = beat_of.get(shard or "")
        read_to = max(seconds) if seconds else None
        if beat is not None and not beat.closed:
            read_to = max(read_to or beat.read_at, beat.read_at)
        proofs.append(
            ShardProof(
                label,
                shard,
                parents.get(shard) or (beat.parent_shard_id if beat else None),
                len(records),
                min(seconds) if seconds else None,
                max(seconds) if seconds else None,
                read_to,
                bool(beat and beat.closed),
            )
        )
    return proofs


def verify_log(
    storage: Storage, first: int | None = None, last: int | None = None
) -> tuple[LogWindow, list[Problem], list[ShardProof], LogDescriptor]:
    """Verify one stream's log over ``[first, last]``."""
    descriptor = read_descriptor(storage)
    if descriptor is None:
        raise ConfigError(f"no {DESCRIPTOR} at {storage.location.url()}")
    window = read_window(storage, first=first, last=last)
    problems = [Problem("damaged", d.name, d.problem) for d in window.damaged]
    problems += _unfinished(storage, window)
    problems += _chain_breaks(storage, window)
    for marker in read_gaps(storage):
        if _gap_touches(marker, window, first, last):
            problems.append(
                Problem(
                    "gap",
                    f"shard {marker.shard_id}",
                    f"records after {marker.after or 'the shard start'} and before "
                    f"{marker.resumed_at or 'the oldest record kept'} were trimmed before "
                    "they were read",
                )
            )
    if descriptor.view_type == "NEW_AND_OLD_IMAGES":
        problems += _missing_changes(window)
    proofs = _proofs(descriptor.stream_label, window, read_heartbeats(storage))
    return window, problems, proofs, descriptor


def _not_reingested(
    failures: Storage, logged: set[int], first: int | None, last: int | None
) -> list[Problem]:
    from .failures import failed_batches  # the failure destination's reader, only when asked

    problems = []
    ordered: list[int] | None = None
    for batch in failed_batches(failures):
        url = failures.location.url(batch.name)
        if batch.records is None:
            assert batch.info is not None  # a record without payload names its range
            if ordered is None:
                ordered = sorted(logged)
            problem = _range_not_logged(batch.info, ordered, first, last)
            if problem:
                problems.append(Problem("not-reingested", url, problem))
            continue
        missing = []
        for raw in batch.records:
            record = event_record(raw)
            in_window = (first is None or record.seconds >= first) and (
                last is None or record.seconds <= last
            )
            if in_window and record.order not in logged:
                missing.append(record.sequence_number)
        if missing:
            problems.append(
                Problem(
                    "not-reingested",
                    url,
                    f"{len(missing)} record(s) Lambda discarded are not in the log (first "
                    f"{missing[0]}): run backup-changes --from-failures",
                )
            )
    return problems


def _range_not_logged(
    info: BatchInfo, ordered: list[int], first: int | None, last: int | None
) -> str | None:
    """For a discarded batch known by its range only (no payload): whether the log holds its
    first and last records and as many as the batch had; ``None`` when it does, or when
    the batch lies outside the window (by the arrival times Lambda gave)."""
    start, end = info.seconds()
    if (first is not None and end is not None and end < first) or (
        last is not None and start is not None and start > last
    ):
        return None
    low, high = bisect.bisect_left(ordered, info.start), bisect.bisect_right(ordered, info.end)
    held = high - low
    ends_held = low < high and ordered[low] == info.start and ordered[high - 1] == info.end
    if ends_held and (info.batch_size is None or held >= info.batch_size):
        return None
    return (
        f"the log holds {held} record(s) of the discarded batch ({info.describe()}): run "
        "backup-changes --from-failures within 24 hours of the discard (this record has no "
        "payload: its records are read again from the stream)"
    )


def verify_changes(
    root: Storage,
    first: int | None = None,
    last: int | None = None,
    *,
    failures: Storage | None = None,
) -> Verification:
    """Verify every stream log at or under ``root`` over ``[first, last]``; with ``failures``
    (an S3 on-failure destination), also that every discarded batch was re-ingested."""
    logs = find_logs(root)
    problems: list[Problem] = []
    proofs: list[ShardProof] = []
    objects = records = duplicates = 0
    active: list[str] = []
    logged: set[int] = set()
    for storage in logs:
        window, found, shard_proofs, descriptor = verify_log(storage, first, last)
        logged.update(*window.sequences.values())
        problems += found
        proofs += shard_proofs
        objects += len(window.objects)
        records += len(window.records)
        duplicates += window.duplicates
        if window.hours:
            active.append(descriptor.stream_label)
    if len(active) > 1:
        problems.append(
            Problem(
                "stream-change",
                ", ".join(active),
                "the window spans more than one stream (table re-created or stream "
                "re-enabled): changes between the streams are not in any log",
            )
        )
    if failures is not None:
        problems += _not_reingested(failures, logged, first, last)
    return Verification(
        first,
        last,
        tuple(s.location.url() for s in logs),
        tuple(problems),
        tuple(proofs),
        objects,
        records,
        duplicates,
    )
