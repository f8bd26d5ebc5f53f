"""The job layout of a backup, its ``_started`` record and manifests, and their checks (pure).

A job lives under ``<prefix>/<jobid>/``::

    _started                   written first: table, region, segments, start time, tool version
    <segment>                  gzip JSON Lines, one wire-format item per line (binary as base64)
    <segment>.manifest.json    written after its data object finished uploading

Backups of the original JavaScript tool have the data objects only (no ``_started``, no
manifests); they are read the same way, without integrity checks.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from ..errors import BackupError, UsageError

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_SUFFIX",
    "STARTED",
    "JobCheck",
    "Location",
    "Manifest",
    "Started",
    "check_job",
    "data_name",
    "is_explicit_local",
    "manifest_name",
    "parse_destination",
    "parse_location",
    "parse_source",
    "segment_of",
    "validate_jobid",
]

FORMAT_VERSION: Final = 1
STARTED: Final = "_started"
MANIFEST_SUFFIX: Final = ".manifest.json"
TOOL: Final = "dynamodb-replicator"

_JOBID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")
_SEGMENT = re.compile(r"^(0|[1-9][0-9]{0,6})$")


def validate_jobid(jobid: str) -> str:
    """``jobid`` if it is one safe path component, else a :class:`UsageError` (exit 2).

    Letters, digits, ``_``, ``-`` and ``.`` (not first), at most 200 characters: never ``/``,
    ``..`` or anything a shell or S3 console would mangle.
    """
    if not _JOBID.match(jobid) or ".." in jobid:
        raise UsageError(
            f"--jobid {jobid!r} is not a single safe path component",
            hint="use letters, digits, '_', '-' and '.', e.g. --jobid 2024-06-01-nightly",
        )
    return jobid


def data_name(segment: int) -> str:
    """The data object of ``segment``: its number, as the original tool names it."""
    return str(segment)


def manifest_name(segment: int) -> str:
    """The manifest of ``segment``."""
    return f"{segment}{MANIFEST_SUFFIX}"


def segment_of(name: str) -> int | None:
    """The segment a data object name stands for (``"4"`` -> 4), ``None`` for other names."""
    return int(name) if _SEGMENT.match(name) else None


# --- locations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """Where a backup lives: an S3 bucket and key prefix, or a local folder (``bucket`` None).

    ``prefix`` has no leading or trailing ``/``; it is ``""`` for a bare bucket.
    """

    kind: Literal["s3", "folder"]
    prefix: str
    bucket: str | None = None

    def child(self, name: str) -> Location:
        """The location one path component below this one."""
        if self.kind == "folder":
            return Location("folder", str(Path(self.prefix) / name))
        return Location("s3", f"{self.prefix}/{name}" if self.prefix else name, self.bucket)

    def parent_and_name(self) -> tuple[Location, str]:
        """This location's parent and its last component (for a single-object source)."""
        if self.kind == "folder":
            path = Path(self.prefix)
            return Location("folder", str(path.parent)), path.name
        head, _, tail = self.prefix.rpartition("/")
        return Location("s3", head, self.bucket), tail

    def url(self, name: str = "") -> str:
        """A printable address of ``name`` under this location."""
        if self.kind == "folder":
            return str(Path(self.prefix) / name) if name else self.prefix
        parts = [p for p in (self.prefix, name) if p]
        return f"s3://{self.bucket}/" + "/".join(parts)


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

#: How a local folder is written so that it cannot be a forgotten ``s3://``.
_LOCAL_PREFIXES: Final = ("./", "../", "~/", "file://")
_LOCAL_WORDS: Final = (".", "..", "~")
_AMBIGUOUS_HINT: Final = (
    "write s3://my-bucket/some-prefix for S3, or ./my-bucket/some-prefix for a local folder"
)


def is_explicit_local(text: str) -> bool:
    """Whether ``text`` names a local folder unmistakably: ``./dir``, ``../dir``, ``/abs/dir``,
    ``~/dir`` or ``file://...`` (``.\\dir`` too where the separator is ``\\``)."""
    native = tuple(p.replace("/", os.sep) for p in _LOCAL_PREFIXES)
    return (
        text in _LOCAL_WORDS
        or os.path.isabs(text)
        or text.startswith(_LOCAL_PREFIXES)
        or text.startswith(native)
    )


def parse_destination(text: str) -> Location:
    """Where a job *writes* (a backup, ``--results-dir``, a change log): ``s3://bucket[/prefix]``
    or an unmistakable local folder (:func:`is_explicit_local`).

    Anything else is a :class:`UsageError`: ``my-bucket/some-prefix`` is most likely a
    forgotten ``s3://``, and writing it under the current folder would report success while the
    data never reached S3.
    """
    if text.startswith("s3://") or is_explicit_local(text) or "://" in text:
        return parse_location(text)
    raise UsageError(
        f"{text!r} is neither an S3 location nor an explicit local folder",
        hint=_AMBIGUOUS_HINT,
    )


def parse_source(text: str) -> Location:
    """Where a job *reads* (a backup to restore or verify, results to merge): like
    :func:`parse_destination`, and a path that exists locally is also accepted as written
    (``docs/examples/backups/orders-v1``)."""
    if text and not text.startswith("s3://") and "://" not in text and os.path.exists(text):
        return parse_location(text)
    try:
        return parse_destination(text)
    except UsageError as exc:
        raise UsageError(
            f"{text!r} is neither an S3 location nor a local folder that exists",
            hint=exc.hint,
        ) from None


def parse_location(text: str) -> Location:
    """``s3://bucket[/prefix]``, ``file:///path`` or a plain path; a :class:`UsageError` if bad.

    The form check only: commands parse what they write with :func:`parse_destination` and
    what they read with :func:`parse_source`, which refuse a path that could be a forgotten
    ``s3://``.
    """
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        if not _BUCKET.match(bucket):
            raise UsageError(
                f"{text!r} does not name a valid S3 bucket",
                hint="write s3://bucket or s3://bucket/prefix",
            )
        parts = [p for p in prefix.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise UsageError(f"{text!r}: '.' and '..' are not allowed in an S3 prefix")
        return Location("s3", "/".join(parts), bucket)
    if "://" in text and not text.startswith("file://"):
        raise UsageError(
            f"unsupported backup location {text!r}",
            hint="use s3://bucket/prefix, file:///path or a plain folder path",
        )
    path = text[len("file://") :] if text.startswith("file://") else text
    if not path:
        raise UsageError("an empty backup location", hint="name a folder or s3://bucket/prefix")
    return Location("folder", str(Path(path).expanduser().resolve()))


# --- records ----------------------------------------------------------------------------------


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _loads(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{what} is not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise BackupError(f"{what} is not a JSON object")
    return obj


@dataclass(frozen=True)
class Started:
    """The ``_started`` record: written before any data, it says what the job will hold."""

    jobid: str
    table: str
    region: str
    segments: int
    started_at: str
    tool_version: str
    tool: str = TOOL
    format_version: int = FORMAT_VERSION
    table_arn: str | None = None
    """The source table's ARN, so segments from another table (same name, other account or
    endpoint) cannot join the job; absent in jobs written before it was recorded."""

    def to_bytes(self) -> bytes:
        return _dumps(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes, what: str = STARTED) -> Started:
        obj = _loads(data, what)
        try:
            return cls(
                jobid=str(obj["jobid"]),
                table=str(obj["table"]),
                region=str(obj["region"]),
                segments=int(obj["segments"]),
                started_at=str(obj["started_at"]),
                tool_version=str(obj["tool_version"]),
                tool=str(obj.get("tool", TOOL)),
                format_version=int(obj.get("format_version", FORMAT_VERSION)),
                table_arn=None if obj.get("table_arn") is None else str(obj["table_arn"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupError(f"{what} lacks a valid field ({exc})") from exc

    def same_job(self, other: Started) -> bool:
        """True when ``other`` describes the same backup (start time aside), of the same table."""
        same_arn = self.table_arn is None or other.table_arn is None
        return (self.table, self.region, self.segments) == (
            other.table,
            other.region,
            other.segments,
        ) and (same_arn or self.table_arn == other.table_arn)


@dataclass(frozen=True)
class Manifest:
    """What one segment's data object holds, written after the object finished uploading.

    ``sha256`` and ``compressed_bytes`` are of the object as stored (gzip); ``uncompressed_bytes``
    counts the JSON Lines text. ``table_description`` is enough to recreate the table
    (see :mod:`dynamodb_replicator.backup.tabledef`). ``started_at`` / ``finished_at`` bound the
    scan: the backup is not a point-in-time snapshot.
    """

    jobid: str
    table: str
    region: str
    segment: int
    segments: int
    item_count: int
    uncompressed_bytes: int
    compressed_bytes: int
    sha256: str
    started_at: str
    finished_at: str
    tool_version: str
    table_description: Mapping[str, Any] = field(default_factory=dict)
    object: str = ""
    compression: str = "gzip"
    content: str = "jsonl-dynamodb-wire"
    tool: str = TOOL
    format_version: int = FORMAT_VERSION
    consistent_read: bool = False
    point_in_time: Mapping[str, Any] = field(default_factory=dict)
    """For a backup rolled forward (not scanned): its time, margin, base and log window."""

    def to_bytes(self) -> bytes:
        obj = asdict(self)
        obj["table_description"] = dict(self.table_description)
        obj["point_in_time"] = dict(self.point_in_time)
        return _dumps(obj)

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "manifest") -> Manifest:
        obj = _loads(data, what)
        try:
            version = int(obj.get("format_version", 0))
            if version != FORMAT_VERSION:
                raise BackupError(
                    f"{what} has format version {version}; this build reads {FORMAT_VERSION}",
                    hint="use the dynamodb-replicator version that wrote the backup",
                )
            return cls(
                jobid=str(obj["jobid"]),
                table=str(obj["table"]),
                region=str(obj["region"]),
                segment=int(obj["segment"]),
                segments=int(obj["segments"]),
                item_count=int(obj["item_count"]),
                uncompressed_bytes=int(obj["uncompressed_bytes"]),
                compressed_bytes=int(obj["compressed_bytes"]),
                sha256=str(obj["sha256"]),
                started_at=str(obj["started_at"]),
                finished_at=str(obj["finished_at"]),
                tool_version=str(obj.get("tool_version", "")),
                table_description=dict(obj.get("table_description") or {}),
                object=str(obj.get("object", obj["segment"])),
                compression=str(obj.get("compression", "gzip")),
                content=str(obj.get("content", "jsonl-dynamodb-wire")),
                tool=str(obj.get("tool", TOOL)),
                format_version=version,
                consistent_read=bool(obj.get("consistent_read", False)),
                point_in_time=dict(obj.get("point_in_time") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupError(f"{what} lacks a valid field ({exc})") from exc


# --- checking a job's listing -----------------------------------------------------------------


@dataclass(frozen=True)
class JobCheck:
    """What a job's listing says before any data is read.

    ``kind`` is ``"ours"`` (``_started`` present), ``"original"`` (data objects only: the
    original tool's format) or ``"empty"``. ``segments`` are the data objects to read, in order.
    ``problems`` lists every missing or inconsistent part; a job with problems must not be
    restored.
    """

    kind: Literal["ours", "original", "empty"]
    segments: tuple[int, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_job(
    sizes: Mapping[str, int],
    started: Started | None,
    manifests: Mapping[int, Manifest],
    unreadable: Mapping[str, str] | None = None,
) -> JobCheck:
    """Check a job from its listing (name -> size), its ``_started`` and its manifests.

    Our jobs need, for every segment ``_started`` announces, a data object and a manifest whose
    ``compressed_bytes`` equals the object's size. A folder with data objects but neither
    ``_started`` nor manifests is an original-tool backup. ``unreadable`` maps the names of
    records that exist but could not be read (truncated, not JSON, fields missing) to why:
    each is a problem, and the rest of the job is still checked, so every problem is listed.
    Segments not there at all (a job whose ``--segment`` runs have not all finished) are
    summed up in one problem naming the segments present and those still missing.
    """
    bad = dict(unreadable or {})
    data = sorted(s for s in (segment_of(n) for n in sizes) if s is not None)
    bad_manifests = {
        s: why
        for name, why in bad.items()
        if name.endswith(MANIFEST_SUFFIX)
        and (s := segment_of(name[: -len(MANIFEST_SUFFIX)])) is not None
    }
    problems: list[str] = []
    if STARTED in bad:
        problems.append(f"{bad[STARTED]}: the job's segment count is unknown")
    elif started is None:
        if manifests or bad_manifests:
            listed = ", ".join(map(str, sorted({*manifests, *bad_manifests})))
            problems.append(f"manifests ({listed}) but no {STARTED}: the job is incomplete")
        elif not data:
            return JobCheck("empty", (), ())
        else:
            return JobCheck("original", tuple(data), ())
    expected = _expected_segments(started, data, manifests, bad_manifests)
    missing: list[int] = []
    for segment in expected:
        manifest = manifests.get(segment)
        if segment in bad_manifests:
            problems.append(f"segment {segment}: {bad_manifests[segment]}")
            if data_name(segment) not in sizes:
                problems.append(f"segment {segment}: the data object is missing")
            continue
        if manifest is None and data_name(segment) not in sizes:
            missing.append(segment)
            continue
        problems.extend(_segment_problems(segment, sizes, manifest))
        problems.extend(_manifest_problems(segment, started, manifest))
    if missing:
        present = [s for s in expected if s not in missing]
        problems.append(
            f"segments present: {_ranges(present) or 'none'}; still missing: {_ranges(missing)} "
            f"(of {len(expected)}; not yet run, or failed before writing anything)"
        )
    extra = [s for s in data if s not in expected]
    if extra:
        problems.append(f"data objects {extra} lie outside the job's {len(expected)} segments")
    return JobCheck("ours", tuple(expected), tuple(problems))


def _expected_segments(
    started: Started | None,
    data: list[int],
    manifests: Mapping[int, Manifest],
    bad_manifests: Mapping[int, str],
) -> list[int]:
    """The segments the job should hold: ``_started``'s count, else the count the manifests
    agree on, else whatever is there."""
    if started is not None:
        return list(range(started.segments))
    counts = {m.segments for m in manifests.values()}
    if len(counts) == 1:
        return list(range(counts.pop()))
    return sorted({*data, *manifests, *bad_manifests})


def _ranges(segments: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2, 5, 7-8"``."""
    runs: list[list[int]] = []
    for segment in sorted(segments):
        if runs and segment == runs[-1][-1] + 1:
            runs[-1].append(segment)
        else:
            runs.append([segment])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _manifest_problems(
    segment: int, started: Started | None, manifest: Manifest | None
) -> list[str]:
    """A manifest that vouches for another segment, another job shape, or another table."""
    if manifest is None:
        return []
    problems: list[str] = []
    if manifest.segment != segment:
        problems.append(f"segment {segment}: its manifest describes segment {manifest.segment}")
    if started is not None and manifest.segments != started.segments:
        problems.append(
            f"segment {segment}: its manifest is of a {manifest.segments}-segment job, "
            f"{STARTED} says {started.segments}"
        )
    if started is not None and started.table_arn is not None:
        arn = manifest.table_description.get("TableArn")
        if arn is not None and arn != started.table_arn:
            problems.append(
                f"segment {segment}: backed up from {arn}, but the job is of {started.table_arn}"
            )
    return problems


def _segment_problems(
    segment: int, sizes: Mapping[str, int], manifest: Manifest | None
) -> list[str]:
    size = sizes.get(data_name(segment))
    if size is None:
        return [f"segment {segment}: manifest present but the data object is missing"]
    if manifest is None:
        return [f"segment {segment}: no manifest (the segment did not finish)"]
    if manifest.compressed_bytes != size:
        return [
            f"segment {segment}: object is {size} bytes, its manifest says "
            f"{manifest.compressed_bytes} (truncated or replaced)"
        ]
    return []
