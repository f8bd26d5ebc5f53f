"""Where a change log's objects live and what its small JSON records say (pure).

A stream's log lives under ``<prefix>/<table>/changes/<stream label>/``::

    _log.json                                      the descriptor: table, stream, key schema
    YYYY-MM-DD/HH/<first>-<last>.jsonl.gz          one batch's records of that UTC hour
    YYYY-MM-DD/HH/<first>-<last>.jsonl.gz.manifest.json   written after its object
    _heartbeats/<shard id>.json                    the follower's last read, per open shard
    _gaps/<shard id>.<sequence>.json               data the follower found trimmed

``<first>`` and ``<last>`` are the object's first and last sequence numbers, zero-padded to 40
digits, so names sort in stream order and a batch written twice overwrites itself. A new stream
(re-enabled, table re-created) has a new label, so it starts a new folder: a gap by definition.
An hour's folder holds the records whose time (whole seconds, UTC) falls in that hour, so a
time window is read by listing its hours only.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal, TypeVar

from ..backup.layout import Location
from ..errors import ChangeLogError, UsageError
from .format import LogRecord

__all__ = [
    "DATA_SUFFIX",
    "DESCRIPTOR",
    "FORMAT_VERSION",
    "GAPS",
    "HEARTBEATS",
    "MANIFEST_SUFFIX",
    "GapMarker",
    "Heartbeat",
    "LogDescriptor",
    "ObjectManifest",
    "gap_name",
    "heartbeat_name",
    "hour_folder",
    "hours_between",
    "log_location",
    "manifest_for",
    "manifest_name",
    "object_name",
    "split_by_hour",
    "stream_label",
]

FORMAT_VERSION: Final = 1
DESCRIPTOR: Final = "_log.json"
HEARTBEATS: Final = "_heartbeats"
GAPS: Final = "_gaps"
DATA_SUFFIX: Final = ".jsonl.gz"
MANIFEST_SUFFIX: Final = ".manifest.json"
TOOL: Final = "dynamodb-replicator"
_PAD: Final = 40

Writer = Literal["follower", "lambda"]

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOUR = re.compile(r"^\d{2}$")


def stream_label(stream_arn: str) -> str:
    """The label of a stream ARN (``.../table/T/stream/<label>``), a :class:`UsageError` if none."""
    _, found, label = stream_arn.partition("/stream/")
    if not found or not label or "/" in label or label in (".", ".."):
        raise UsageError(
            f"{stream_arn!r} is not a DynamoDB stream ARN",
            hint="a stream ARN ends in /stream/<label>",
        )
    return label


def log_location(target: Location, table: str, label: str) -> Location:
    """The folder of one stream's log under a destination: ``<target>/<table>/changes/<label>``."""
    return target.child(table).child("changes").child(label)


# --- hours ------------------------------------------------------------------------------------


def hour_folder(seconds: int) -> str:
    """The hour folder (``YYYY-MM-DD/HH``) of an epoch second, in UTC."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%d/%H")


def hours_between(first: int, last: int) -> list[str]:
    """Every hour folder from the hour of ``first`` to the hour of ``last`` (epoch seconds)."""
    start = first - first % 3600
    return [hour_folder(s) for s in range(start, last + 1, 3600)]


def is_day(name: str) -> bool:
    """True for a day folder name (``YYYY-MM-DD``)."""
    return bool(_DAY.match(name))


def is_hour(name: str) -> bool:
    """True for an hour folder name (``HH``)."""
    return bool(_HOUR.match(name))


def hour_bounds(folder: str) -> tuple[int, int]:
    """The first and last epoch second of an hour folder."""
    moment = dt.datetime.strptime(folder, "%Y-%m-%d/%H").replace(tzinfo=dt.UTC)
    start = int(moment.timestamp())
    return start, start + 3599


R = TypeVar("R", bound=LogRecord)


def split_by_hour(records: Sequence[R]) -> Iterator[tuple[str, list[R]]]:
    """``records`` cut into runs of consecutive records of one UTC hour, in order.

    Record times need not grow (they are approximate), so a run ends wherever the hour changes.
    """
    run: list[R] = []
    current = -1
    for record in records:
        hour = record.seconds // 3600
        if run and hour != current:
            yield hour_folder(current * 3600), run
            run = []
        current = hour
        run.append(record)
    if run:
        yield hour_folder(current * 3600), run


# --- names ------------------------------------------------------------------------------------


def object_name(hour: str, first: str, last: str) -> str:
    """The data object of the records ``first``..``last`` (sequence numbers) of ``hour``."""
    return f"{hour}/{first.zfill(_PAD)}-{last.zfill(_PAD)}{DATA_SUFFIX}"


def manifest_name(data_name: str) -> str:
    """The manifest of a data object."""
    return f"{data_name}{MANIFEST_SUFFIX}"


def heartbeat_name(shard_id: str) -> str:
    """The heartbeat record of a shard."""
    return f"{HEARTBEATS}/{_safe(shard_id)}.json"


def gap_name(shard_id: str, after: str | None) -> str:
    """The gap marker of data trimmed from ``shard_id`` after sequence number ``after``."""
    return f"{GAPS}/{_safe(shard_id)}.{(after or '0').zfill(_PAD)}.json"


def _safe(component: str) -> str:
    if not re.match(r"^[A-Za-z0-9_.-]{1,200}$", component) or component in (".", ".."):
        raise ChangeLogError(f"{component!r} cannot be used in an object name")
    return component


# --- JSON records -----------------------------------------------------------------------------


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _loads(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChangeLogError(f"{what} is not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise ChangeLogError(f"{what} is not a JSON object")
    return obj


def _build(cls: Any, obj: Mapping[str, Any], what: str) -> Any:
    names = {f for f in cls.__dataclass_fields__}
    try:
        return cls(**{k: v for k, v in obj.items() if k in names})
    except TypeError as exc:
        raise ChangeLogError(f"{what} lacks a field ({exc})") from exc


@dataclass(frozen=True)
class LogDescriptor:
    """``_log.json``: which table and stream a log holds, and how to read it."""

    table: str
    table_arn: str | None
    stream_arn: str
    stream_label: str
    key_schema: tuple[tuple[str, str, str], ...]
    """(attribute name, HASH or RANGE, S/N/B), partition key first."""
    view_type: str
    format_version: int = FORMAT_VERSION
    tool: str = TOOL

    def to_bytes(self) -> bytes:
        obj = asdict(self)
        obj["key_schema"] = [
            {"AttributeName": n, "KeyType": k, "AttributeType": t} for n, k, t in self.key_schema
        ]
        return _dumps(obj)

    @classmethod
    def from_bytes(cls, data: bytes, what: str = DESCRIPTOR) -> LogDescriptor:
        obj = _loads(data, what)
        try:
            obj["key_schema"] = tuple(
                (str(k["AttributeName"]), str(k["KeyType"]), str(k["AttributeType"]))
                for k in obj["key_schema"]
            )
        except (KeyError, TypeError) as exc:
            raise ChangeLogError(f"{what} has no valid key_schema ({exc})") from exc
        descriptor: LogDescriptor = _build(cls, obj, what)
        if descriptor.format_version != FORMAT_VERSION:
            raise ChangeLogError(
                f"{what}: change log format {descriptor.format_version} is not supported",
                hint="read it with the version of this tool that wrote it",
            )
        return descriptor

    def same_stream(self, other: LogDescriptor) -> bool:
        """True when ``other`` describes the same stream of the same table."""
        return (self.stream_arn, self.key_schema) == (other.stream_arn, other.key_schema)


@dataclass(frozen=True)
class ObjectManifest:
    """What one data object holds, written after it: reading checks the object against it.

    ``shard_id``, ``parent_shard_id`` and ``predecessor`` come from the follower, which knows
    its shards: ``predecessor`` is the sequence number of the shard's record just before this
    object's first (``None`` when the object starts the shard). Lambda objects carry none.
    """

    name: str
    count: int
    sha256: str
    size: int
    first_sequence_number: str
    last_sequence_number: str
    first_time: str
    first_time_unit: str
    last_time: str
    last_time_unit: str
    min_seconds: int
    max_seconds: int
    writer: Writer
    shard_id: str | None = None
    parent_shard_id: str | None = None
    predecessor: str | None = None
    format_version: int = FORMAT_VERSION
    tool: str = TOOL

    def to_bytes(self) -> bytes:
        return _dumps(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes, what: str) -> ObjectManifest:
        manifest: ObjectManifest = _build(cls, _loads(data, what), what)
        if not isinstance(manifest.count, int) or not isinstance(manifest.sha256, str):
            raise ChangeLogError(f"{what}: count or sha256 is malformed")
        return manifest


@dataclass(frozen=True)
class Heartbeat:
    """A follower's proof of reading one shard: the last sequence number it has written (or
    ``None``), when it last read (client clock, epoch seconds) and whether the shard ended."""

    shard_id: str
    parent_shard_id: str | None
    last_sequence_number: str | None
    read_at: int
    closed: bool = False
    format_version: int = FORMAT_VERSION

    def to_bytes(self) -> bytes:
        return _dumps(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes, what: str) -> Heartbeat:
        heartbeat: Heartbeat = _build(cls, _loads(data, what), what)
        return heartbeat


@dataclass(frozen=True)
class GapMarker:
    """Records the follower could not read: trimmed from ``shard_id`` after ``after`` (the last
    sequence number written, ``None`` if none) and before ``resumed_at`` (the first found)."""

    shard_id: str
    after: str | None
    resumed_at: str | None
    found_at: int
    reason: str = "trimmed"
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return _dumps(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes, what: str) -> GapMarker:
        marker: GapMarker = _build(cls, _loads(data, what), what)
        return marker


def manifest_for(
    name: str,
    records: Sequence[LogRecord],
    *,
    sha256: str,
    size: int,
    writer: Writer,
    shard_id: str | None = None,
    parent_shard_id: str | None = None,
    predecessor: str | None = None,
) -> ObjectManifest:
    """The manifest of the object ``name`` holding ``records`` (in order)."""
    seconds = [r.seconds for r in records]
    return ObjectManifest(
        name=name,
        count=len(records),
        sha256=sha256,
        size=size,
        first_sequence_number=records[0].sequence_number,
        last_sequence_number=records[-1].sequence_number,
        first_time=records[0].time,
        first_time_unit=records[0].time_unit,
        last_time=records[-1].time,
        last_time_unit=records[-1].time_unit,
        min_seconds=min(seconds),
        max_seconds=max(seconds),
        writer=writer,
        shard_id=shard_id,
        parent_shard_id=parent_shard_id,
        predecessor=predecessor,
    )
