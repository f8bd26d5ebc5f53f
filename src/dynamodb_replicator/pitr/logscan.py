"""Checking the change log over a window, one object at a time, and handing its records on.

A roll-forward needs the log proven complete over [S - m, T] (see :mod:`.window`). This module
proves it as ``verify-changes`` does, but never holds more than one object's records: each
object is checked against its manifest (SHA-256, count, name) and its records are handed to a
sink as they are read (the roll-forward spills them to disk by key). What ``verify-changes``
decides from all the records at once is decided here from the manifests and a few sequence
numbers looked for on the way:

- ``damaged``: a manifest without its object, an object that does not match its manifest or
  whose lines do not decode; ``unfinished``: an object without a manifest whose records are in
  no verified object; ``chain-break``: a follower object whose predecessor is in no object of
  its shard; ``gap``: a gap marker whose lost records may lie in the window; ``stream-change``:
  more than one stream in the window; ``missing-heartbeat``: a shard not proven read up to T.
- Problems outside the window do not matter: an object whose records (by its manifest) all lie
  before S - m or after T may be damaged or missing (it is not even read: its manifest's
  sequence range serves the chain and gap checks, and a later one proves its shard read past
  T), and a gap whose lost records all lie before or after the window is harmless.
- Two different records under one sequence number, and (on ``NEW_AND_OLD_IMAGES`` logs) a
  change missing between two records of a key, show only once a key's records are together:
  the spill checks them partition by partition (:mod:`.spill`), still before anything is
  written.

Records go to the sink in storage order, not stream order: each carries its position (shard
rank, sequence number), and the spill sorts a partition back into stream order.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import zlib
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..backup.storage import Storage
from ..changelog.format import EVENT_NAMES, LINE_FORMAT, decode_line, decode_object
from ..changelog.format import sequence_key as _sequence_key
from ..changelog.format import whole_seconds as _whole_seconds
from ..changelog.layout import (
    DATA_SUFFIX,
    MANIFEST_SUFFIX,
    GapMarker,
    Heartbeat,
    LogDescriptor,
    ObjectManifest,
)
from ..changelog.reader import (
    list_hours,
    read_descriptor,
    read_gaps,
    read_heartbeats,
    shard_order,
)
from ..changelog.store import storage_at
from ..changelog.times import format_instant
from ..changelog.verify import ShardProof, find_logs
from ..errors import ChangeLogError, ConfigError, ItemFormatError, NotExactError
from ..items import KeySchema, canonical_number, item_from_text, key_identity

__all__ = ["CheckedLog", "LogEntry", "LogScan", "log_descriptor", "text_identity"]

log = logging.getLogger(__name__)

#: The stream view types whose records carry the new image a roll-forward applies.
IMAGE_VIEWS = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One logged record: its place in stream order (``rank``: a parent shard before its
    children; ``order``: the sequence number), its time in whole seconds, its key's identity
    and its line as logged (the bytes, never re-encoded)."""

    rank: int
    order: int
    seconds: int
    identity: Hashable
    line: bytes


@dataclass(frozen=True)
class CheckedLog:
    """A change log proven complete over [``first``, ``last``]: how many records it holds
    there, each shard's proof, the logs read and the stream's descriptor."""

    first: int
    last: int
    records: int
    shards: tuple[ShardProof, ...]
    logs: tuple[str, ...]
    descriptor: LogDescriptor


def _found_logs(root: Storage) -> list[Storage]:
    try:
        return find_logs(root)
    except ConfigError as exc:
        raise NotExactError(
            f"no change log at {root.location.url()}",
            hint="name the folder or S3 prefix that backup-changes writes to",
        ) from exc


def log_descriptor(root: Storage) -> LogDescriptor:
    """The descriptor (table, stream, key schema, view type) of the newest log under
    ``root``."""
    descriptors = [d for d in map(read_descriptor, _found_logs(root)) if d is not None]
    if not descriptors:
        raise NotExactError(f"no change log at {root.location.url()}")
    return descriptors[-1]


# --- one object -------------------------------------------------------------------------------


class _Damaged(Exception):
    pass


@dataclass(frozen=True)
class _Claim:
    """What a readable manifest says an object of the window's hours holds."""

    shard: str | None
    low: int
    high: int
    min_seconds: int
    max_seconds: int
    verified: bool


def text_identity(keys: Mapping[str, Any], schema: KeySchema) -> Hashable:
    """The :func:`key_identity` of a key (or item) in text form (binary as base64), without
    converting the whole item; anything unusual goes the strict way, which names the fault."""
    parts: list[Hashable] = []
    for name, kind in schema.attributes:
        value = keys.get(name)
        if kind != "B" and type(value) is dict and len(value) == 1:
            payload = value.get(kind)
            if type(payload) is str:
                parts.append(canonical_number(payload) if kind == "N" else payload)
                continue
        present = {n: keys[n] for n, _kind in schema.attributes if n in keys}
        return key_identity(item_from_text(present), schema)
    return tuple(parts)


def _header(line: bytes, schema: KeySchema) -> tuple[int, int, Hashable]:
    """(sequence number, whole seconds, key identity) of one line, checked as strictly as
    :func:`decode_line` checks what they come from; the full record is decoded only when the
    fast parser cannot read the line."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        record = decode_line(line)
        return record.order, record.seconds, key_identity(record.keys, schema)
    if not isinstance(obj, dict) or obj.get("format") != LINE_FORMAT:
        raise ChangeLogError("a change log line is not a record of this format")
    sequence, time, unit = obj.get("sequenceNumber"), obj.get("time"), obj.get("timeUnit")
    keys = obj.get("keys")
    if not (isinstance(sequence, str) and isinstance(time, str) and isinstance(unit, str)):
        raise ChangeLogError("a change log line lacks its sequence number or time")
    if obj.get("eventName") not in EVENT_NAMES or not isinstance(keys, dict):
        raise ChangeLogError(f"record {sequence}: no known eventName, or no keys")
    return _sequence_key(sequence), _whole_seconds(time, unit), text_identity(keys, schema)


def _object_lines(data: bytes, manifest: ObjectManifest) -> list[bytes]:
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.sha256:
        raise _Damaged(f"SHA-256 {digest} does not match its manifest's {manifest.sha256}")
    try:
        text = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise _Damaged(f"not valid gzip ({exc})") from exc
    if not text.endswith(b"\n"):
        raise _Damaged("it does not end with a whole line (truncated?)")
    lines = text[:-1].split(b"\n")
    if len(lines) != manifest.count:
        raise _Damaged(f"holds {len(lines)} records, its manifest says {manifest.count}")
    return lines


# --- the scan ---------------------------------------------------------------------------------


@dataclass
class _Shard:
    """What the scan learns about one shard."""

    parent: str | None = None
    records: int = 0
    first_seconds: int | None = None
    last_seconds: int | None = None
    read_to: int | None = None

    def saw(self, seconds: int, in_window: bool) -> None:
        self.read_to = seconds if self.read_to is None else max(self.read_to, seconds)
        if in_window:
            self.records += 1
            low, high = self.first_seconds, self.last_seconds
            self.first_seconds = seconds if low is None else min(low, seconds)
            self.last_seconds = seconds if high is None else max(high, seconds)


@dataclass
class _Log:
    """One stream's log and what the survey found in the window's hours."""

    storage: Storage
    descriptor: LogDescriptor
    hours: list[str]
    ranks: dict[str | None, int] = field(default_factory=dict)
    records: int = 0
    unfinished: dict[int, tuple[str, int]] = field(default_factory=dict)
    """Records of objects without a manifest (sequence number -> object, seconds), until
    found in a verified object."""


class LogScan:
    """The change log(s) at or under ``root`` over [``first``, ``last``]: surveyed from the
    manifests on creation (:attr:`records`: how many records the objects to read hold), then
    checked and handed on by :meth:`run`."""

    def __init__(self, root: Storage, first: int, last: int):
        self.root = root
        self.first = first
        self.last = last
        self.reasons: list[str] = []
        self._logs = [self._survey(storage) for storage in _found_logs(root)]
        active = [entry.descriptor.stream_label for entry in self._logs if entry.hours]
        if len(active) > 1:
            self._reason(
                f"stream-change {', '.join(active)}: the window spans more than one stream "
                "(table re-created or stream re-enabled)"
            )
        self.descriptor = next(
            (entry.descriptor for entry in reversed(self._logs) if entry.hours),
            self._logs[-1].descriptor,
        )
        self.records = sum(entry.records for entry in self._logs)
        self._claims: dict[str | None, list[_Claim]] = {}
        self._wanted: dict[int, int | None] = {}
        self._shards: dict[str | None, _Shard] = {}
        self._predecessors: list[tuple[Storage, str | None, str, int]] = []

    def _reason(self, text: str) -> None:
        if text not in self.reasons:
            self.reasons.append(text)

    def _outside(self, low: int, high: int) -> bool:
        return high < self.first or low > self.last

    # -- survey: listings and manifests, no data ---------------------------------------------

    def _survey(self, storage: Storage) -> _Log:
        descriptor = read_descriptor(storage)
        if descriptor is None:
            raise NotExactError(f"no change log descriptor at {storage.location.url()}")
        entry = _Log(storage, descriptor, list_hours(storage, self.first, self.last))
        lineage: dict[str, str | None] = {}
        lambda_objects = False
        for hour in entry.hours:
            folder = storage_at(storage, storage.location.child(hour))
            listing = folder.listing()
            for name in sorted(listing):
                if name.endswith(DATA_SUFFIX) and name + MANIFEST_SUFFIX not in listing:
                    self._survey_unfinished(entry, folder, f"{hour}/{name}", name)
                if not name.endswith(MANIFEST_SUFFIX):
                    continue
                try:
                    manifest = ObjectManifest.from_bytes(folder.get(name), name)
                except ChangeLogError:
                    continue  # reported when the object is read
                if not self._outside(manifest.min_seconds, manifest.max_seconds):
                    entry.records += manifest.count
                if manifest.shard_id is None:
                    lambda_objects = True
                else:
                    lineage.setdefault(manifest.shard_id, manifest.parent_shard_id)
        order = [] if lambda_objects else shard_order(lineage)
        entry.ranks = {shard: rank for rank, shard in enumerate(order)}
        return entry

    def _survey_unfinished(self, entry: _Log, folder: Storage, path: str, name: str) -> None:
        try:
            records = decode_object(folder.get(name))
        except ChangeLogError as exc:
            self._reason(f"unfinished {path}: no manifest, unreadable: {exc.message}")
            return
        for record in records:
            entry.unfinished.setdefault(record.order, (path, record.seconds))

    # -- the scan: every object, verified, its records handed on ------------------------------

    def run(self, schema: KeySchema, sink: Callable[[LogEntry], None]) -> CheckedLog:
        """Verify every object of the window's hours that holds records of the window, hand
        each of its records from the window's start on to ``sink`` (later ones too: they end a
        key's prefix), and
        raise :class:`NotExactError` naming every reason the window is not proven complete
        (``sink`` may have been called by then)."""
        self._check_schema(schema)
        gaps = {id(entry): read_gaps(entry.storage) for entry in self._logs}
        for entry in self._logs:
            for marker in gaps[id(entry)]:
                for sequence in (marker.after, marker.resumed_at):
                    if sequence is not None:
                        self._wanted[_sequence_key(sequence)] = None
        offset = 0
        in_window = 0
        for entry in self._logs:
            for hour in entry.hours:
                in_window += self._hour(entry, hour, schema, sink, offset)
            offset += len(entry.ranks) + 1
        for entry in self._logs:
            self._check_unfinished(entry)
            for marker in gaps[id(entry)]:
                self._check_gap(entry, marker)
        self._check_chains()
        proofs = self._proofs()
        if self.reasons:
            raise NotExactError(
                f"the change log is not proven complete from {format_instant(self.first)} to "
                f"{format_instant(self.last)}: " + "; ".join(self.reasons),
                hint="run verify-changes over that window; choose a time the log covers",
            )
        return CheckedLog(
            self.first,
            self.last,
            in_window,
            proofs,
            tuple(entry.storage.location.url() for entry in self._logs),
            self.descriptor,
        )

    def _check_schema(self, schema: KeySchema) -> None:
        if self.descriptor.view_type not in IMAGE_VIEWS:
            self._reason(
                f"the log holds no new images (stream view {self.descriptor.view_type}): a roll "
                "forward needs a NEW_IMAGE or NEW_AND_OLD_IMAGES stream"
            )
        logged = tuple((name, kind) for name, _role, kind in self.descriptor.key_schema)
        if logged != schema.attributes:
            raise NotExactError(
                f"the change log's key schema {logged} is not the base's {schema.attributes}",
                hint="give the change log of the base backup's table",
            )

    def _hour(
        self,
        entry: _Log,
        hour: str,
        schema: KeySchema,
        sink: Callable[[LogEntry], None],
        offset: int,
    ) -> int:
        folder = storage_at(entry.storage, entry.storage.location.child(hour))
        listing = folder.listing()
        handed = 0
        for name in sorted(listing):
            if not name.endswith(MANIFEST_SUFFIX):
                continue
            data_name = name[: -len(MANIFEST_SUFFIX)]
            path = f"{hour}/{data_name}"
            try:
                manifest = ObjectManifest.from_bytes(folder.get(name), path + MANIFEST_SUFFIX)
                if manifest.name != path:
                    raise _Damaged(f"its manifest names another object ({manifest.name})")
            except (ChangeLogError, _Damaged) as exc:
                self._reason(f"damaged {path}: {_text(exc)}")
                continue
            outside = self._outside(manifest.min_seconds, manifest.max_seconds)
            if outside:
                # Wholly before S - m or after T: only what its manifest claims counts (its
                # sequence range; a later object proves its shard read past T), not its data.
                self._claim(entry, manifest, verified=False, outside=True)
                if manifest.min_seconds > self.last:
                    shard = manifest.shard_id
                    self._shards.setdefault(shard, _Shard(manifest.parent_shard_id)).saw(
                        manifest.max_seconds, in_window=False
                    )
                continue
            try:
                if data_name not in listing:
                    raise _Damaged("its data object is missing")
                lines = _object_lines(folder.get(data_name), manifest)
                headers = [_header(line, schema) for line in lines]
            except (_Damaged, ChangeLogError, ItemFormatError) as exc:
                self._reason(f"damaged {path}: {_text(exc)}")
                self._claim(entry, manifest, verified=False, outside=False)
                continue
            self._claim(entry, manifest, verified=True, outside=False)
            handed += self._hand_on(entry, manifest, lines, headers, sink, offset)
        return handed

    def _claim(
        self, entry: _Log, manifest: ObjectManifest, *, verified: bool, outside: bool
    ) -> None:
        predecessor = manifest.predecessor
        # A break before an object that lies wholly before the window does not matter.
        if manifest.writer == "follower" and predecessor and manifest.max_seconds >= self.first:
            wanted = _sequence_key(predecessor)
            self._predecessors.append((entry.storage, manifest.shard_id, manifest.name, wanted))
        if verified or outside:
            self._claims.setdefault(manifest.shard_id, []).append(
                _Claim(
                    manifest.shard_id,
                    _sequence_key(manifest.first_sequence_number),
                    _sequence_key(manifest.last_sequence_number),
                    manifest.min_seconds,
                    manifest.max_seconds,
                    verified,
                )
            )

    def _hand_on(
        self,
        entry: _Log,
        manifest: ObjectManifest,
        lines: list[bytes],
        headers: list[tuple[int, int, Hashable]],
        sink: Callable[[LogEntry], None],
        offset: int,
    ) -> int:
        rank = offset + entry.ranks.get(manifest.shard_id, 0)
        shard = self._shards.setdefault(manifest.shard_id, _Shard(manifest.parent_shard_id))
        handed = 0
        for line, (order, seconds, identity) in zip(lines, headers, strict=True):
            entry.unfinished.pop(order, None)
            if order in self._wanted:
                self._wanted[order] = seconds
            shard.saw(seconds, self.first <= seconds <= self.last)
            if seconds >= self.first:
                sink(LogEntry(rank, order, seconds, identity, line))
                handed += seconds <= self.last
        return handed

    # -- what is decided once every object was read -------------------------------------------

    def _check_unfinished(self, entry: _Log) -> None:
        lost: dict[str, list[int]] = {}
        for order, (path, seconds) in sorted(entry.unfinished.items()):
            if self.first <= seconds <= self.last:
                lost.setdefault(path, []).append(order)
        for path, orders in lost.items():
            self._reason(
                f"unfinished {path}: no manifest, and {len(orders)} of its records are in no "
                f"verified object (first {orders[0]}): the write stopped and was not repeated"
            )

    def _located(self, shard: str | None, order: int) -> _Claim | None:
        for claim in self._claims.get(shard, []):
            if claim.low <= order <= claim.high:
                return claim
        return None

    def _located_outside(
        self, storage: Storage, shard: str | None, order: int, *, before: bool
    ) -> ObjectManifest | None:
        """The object of ``shard`` holding ``order`` (by its manifest's sequence range) in an
        hour before the window's hours (``before``) or after them."""
        hours = (
            reversed(list_hours(storage, None, self.first - 1))
            if before
            else iter(list_hours(storage, self.last + 1, None))
        )
        window = set(list_hours(storage, self.first, self.last))
        for hour in hours:
            if hour in window:
                continue
            for manifest in _manifests(storage, hour):
                low = _sequence_key(manifest.first_sequence_number)
                high = _sequence_key(manifest.last_sequence_number)
                if manifest.shard_id == shard and low <= order <= high:
                    return manifest
        return None

    def _check_chains(self) -> None:
        for storage, shard, name, wanted in self._predecessors:
            if self._located(shard, wanted) is not None:
                continue
            if self._located_outside(storage, shard, wanted, before=True) is not None:
                continue
            self._reason(
                f"chain-break {name}: shard {shard}: its predecessor {wanted} is in no object "
                "of the shard: records before it are missing"
            )

    def _gap_outside(self, entry: _Log, marker: GapMarker) -> bool:
        """Whether every record ``marker`` lost lies outside the window: after a record later
        than T, or before one earlier than S - m."""
        shard = marker.shard_id
        if marker.after is not None:
            seconds = self._seconds_of(entry, shard, marker.after, before=False)
            if seconds is not None and seconds > self.last:
                return True
        if marker.resumed_at is not None:
            seconds = self._seconds_of(entry, shard, marker.resumed_at, before=True)
            if seconds is not None and seconds < self.first:
                return True
        return False

    def _seconds_of(self, entry: _Log, shard: str, sequence: str, *, before: bool) -> int | None:
        """The time of the record ``sequence`` of ``shard``: its own, or that of the object
        holding it (the object's latest time when looking before the gap, else its earliest)."""
        key = _sequence_key(sequence)
        seconds = self._wanted.get(key)
        if seconds is not None:
            return seconds
        claim = self._located(shard, key)
        if claim is not None:
            return claim.max_seconds if before else claim.min_seconds
        outside = self._located_outside(entry.storage, shard, key, before=before)
        if outside is None:
            return None
        return outside.max_seconds if before else outside.min_seconds

    def _check_gap(self, entry: _Log, marker: GapMarker) -> None:
        if self._gap_outside(entry, marker):
            return
        self._reason(
            f"gap shard {marker.shard_id}: records after {marker.after or 'the shard start'} and "
            f"before {marker.resumed_at or 'the oldest record kept'} were trimmed before they "
            "were read"
        )

    def _proofs(self) -> tuple[ShardProof, ...]:
        beats: dict[str | None, Heartbeat] = {}
        for entry in self._logs:
            for heartbeat in read_heartbeats(entry.storage):
                beats[heartbeat.shard_id or None] = heartbeat
        proofs = []
        label = self.descriptor.stream_label
        for shard_id in sorted(set(self._shards) | set(beats), key=lambda s: s or ""):
            shard = self._shards.get(shard_id, _Shard())
            beat = beats.get(shard_id)
            read_to = shard.read_to
            if beat is not None and not beat.closed:
                read_to = beat.read_at if read_to is None else max(read_to, beat.read_at)
            closed = bool(beat and beat.closed)
            if shard.records == 0 and beat is None:
                continue  # no record of it in the window and no heartbeat: as verify-changes
            proofs.append(
                ShardProof(
                    label,
                    shard_id,
                    shard.parent or (beat.parent_shard_id if beat else None),
                    shard.records,
                    shard.first_seconds,
                    shard.last_seconds,
                    read_to,
                    closed,
                )
            )
            if not closed and (read_to is None or read_to < self.last):
                read = "never" if read_to is None else format_instant(read_to)
                self._reason(
                    f"missing-heartbeat shard {shard_id or '(Lambda writer)'}: read up to "
                    f"{read}, not past {format_instant(self.last)}"
                )
        return tuple(proofs)


def _text(exc: Exception) -> str:
    return exc.message if isinstance(exc, ChangeLogError | ItemFormatError) else str(exc)


def _manifests(storage: Storage, hour: str) -> Iterator[ObjectManifest]:
    folder = storage_at(storage, storage.location.child(hour))
    for name in sorted(folder.listing()):
        if name.endswith(MANIFEST_SUFFIX):
            try:
                yield ObjectManifest.from_bytes(folder.get(name), name)
            except ChangeLogError:
                continue
