"""Reading backups: find the job's parts, stream items out of them, verify them.

Every object is read as a stream: compressed chunks -> SHA-256 and gunzip -> lines -> items, so
memory stays bounded. Counts and checksums are known only at the end of an object; a mismatch
there (or an undecodable line on the way) is a :class:`BackupIntegrityError` naming the segment
and, where there is one, the line.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from ..errors import BackupError, BackupIntegrityError, ConfigError, ItemFormatError
from ..items import Item, decode_item
from ..segments import SegmentContext
from .layout import (
    MANIFEST_SUFFIX,
    STARTED,
    Manifest,
    Started,
    check_job,
    manifest_name,
    segment_of,
)
from .storage import Storage, StorageSpec

__all__ = [
    "BackupSource",
    "GunzipLines",
    "SegmentSource",
    "SegmentVerdict",
    "VerifyJob",
    "check_totals",
    "count_lines",
    "items_from_chunks",
    "open_source",
    "read_items",
    "verify_segment",
    "verify_segment_task",
]

log = logging.getLogger(__name__)


class GunzipLines:
    """Compressed chunks -> complete lines; hashes and counts the compressed input.

    Accepts concatenated gzip members (``cat a.gz b.gz`` is valid gzip). :meth:`finish` raises
    :class:`ValueError` when the stream ends inside a member (a truncated object).
    """

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(31)
        self._sha = hashlib.sha256()
        self._tail = b""
        self.compressed = 0
        self.uncompressed = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete lines (without ``\\n``) that ``chunk`` finishes."""
        self._sha.update(chunk)
        self.compressed += len(chunk)
        data = self._inflate(chunk)
        self.uncompressed += len(data)
        if not data:
            return []
        lines = (self._tail + data).split(b"\n")
        self._tail = lines.pop()
        return lines

    def _inflate(self, chunk: bytes) -> bytes:
        out = [self._inflater.decompress(chunk)]
        while self._inflater.eof and self._inflater.unused_data:
            rest = self._inflater.unused_data
            self._inflater = zlib.decompressobj(31)
            out.append(self._inflater.decompress(rest))
        return b"".join(out)

    def finish(self) -> list[bytes]:
        """The last line if the text did not end with a newline; checks the stream ended."""
        if not self._inflater.eof:
            raise ValueError("the gzip stream ends early (truncated object)")
        tail, self._tail = self._tail, b""
        return [tail] if tail.strip() else []

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


@dataclass(frozen=True)
class SegmentSource:
    """One data object to read and, for our backups, the manifest that vouches for it."""

    name: str
    segment: int
    manifest: Manifest | None = None


@dataclass(frozen=True)
class BackupSource:
    """A backup found at a location: a job of ours, an original-tool backup, or one object.

    ``storage`` is rooted at the folder holding the objects. ``problems`` are found from the
    listing alone (missing parts, size mismatches) before any data is read.
    """

    storage: StorageSpec
    kind: Literal["ours", "original"]
    segments: tuple[SegmentSource, ...]
    problems: tuple[str, ...]
    started: Started | None = None

    @property
    def definition(self) -> dict[str, object] | None:
        """The table definition recorded in the manifests (``None`` for original backups)."""
        for source in self.segments:
            if source.manifest is not None and source.manifest.table_description:
                return dict(source.manifest.table_description)
        return None

    @property
    def item_count(self) -> int | None:
        """Items the manifests promise, ``None`` when not known."""
        if any(s.manifest is None for s in self.segments):
            return None
        return sum(s.manifest.item_count for s in self.segments if s.manifest is not None)


def _manifest(storage: Storage, name: str) -> Manifest:
    return Manifest.from_bytes(storage.get(name), storage.location.url(name))


def _read_records(
    storage: Storage, sizes: Mapping[str, int]
) -> tuple[Started | None, dict[int, Manifest], dict[str, str]]:
    """``_started`` and the manifests; a record that exists but cannot be read (truncated,
    not JSON, a field missing) goes into the third map, name -> why, instead of raising, so
    every problem of the job can be listed."""
    unreadable: dict[str, str] = {}
    started = None
    if STARTED in sizes:
        try:
            started = Started.from_bytes(storage.get(STARTED), storage.location.url(STARTED))
        except BackupError as exc:
            unreadable[STARTED] = exc.message
    manifests: dict[int, Manifest] = {}
    for name in sorted(sizes):
        if not name.endswith(MANIFEST_SUFFIX):
            continue
        segment = segment_of(name[: -len(MANIFEST_SUFFIX)])
        if segment is None:
            continue
        try:
            manifests[segment] = _manifest(storage, name)
        except BackupError as exc:
            unreadable[name] = exc.message
    return started, manifests, unreadable


def _read_job(spec: StorageSpec, storage: Storage, sizes: dict[str, int]) -> BackupSource:
    started, manifests, unreadable = _read_records(storage, sizes)
    check = check_job(sizes, started, manifests, unreadable)
    if check.kind == "empty":
        raise ConfigError(
            f"no backup found at {storage.location.url()}",
            hint="name the job folder (…/<prefix>/<jobid>) or one data object",
        )
    sources = tuple(
        SegmentSource(str(segment), segment, manifests.get(segment)) for segment in check.segments
    )
    kind: Literal["ours", "original"] = "original" if check.kind == "original" else "ours"
    return BackupSource(spec, kind, sources, check.problems, started)


def _read_object(spec: StorageSpec, size: int) -> BackupSource:
    parent, name = spec.location.parent_and_name()
    parent_spec = spec.at(parent)
    storage = parent_spec.open()
    segment = segment_of(name)
    manifest = None
    problems: tuple[str, ...] = ()
    damaged = False
    if segment is not None and storage.size(manifest_name(segment)) is not None:
        try:
            manifest = _manifest(storage, manifest_name(segment))
        except BackupError as exc:
            damaged = True
            problems = (f"segment {segment}: {exc.message}",)
        if manifest is not None and manifest.compressed_bytes != size:
            problems = (
                f"segment {segment}: object is {size} bytes, its manifest says "
                f"{manifest.compressed_bytes} (truncated or replaced)",
            )
    ours = manifest is not None or damaged
    kind: Literal["ours", "original"] = "ours" if ours else "original"
    source = SegmentSource(name, segment if segment is not None else 0, manifest)
    return BackupSource(parent_spec, kind, (source,), problems)


def open_source(spec: StorageSpec) -> BackupSource:
    """What is at ``spec``'s location: a job folder, or a single data object.

    Reads only the listing, ``_started`` and the manifests. Nothing there is a
    :class:`ConfigError` (exit 2).
    """
    storage = spec.open()
    sizes = storage.listing()
    if sizes:
        return _read_job(spec, storage, sizes)
    parent, name = spec.location.parent_and_name()
    if name == STARTED or name.endswith(MANIFEST_SUFFIX):
        raise ConfigError(
            f"{spec.location.url()} is a job's {name}, not a data object",
            hint="name the job folder (…/<prefix>/<jobid>) or one data object such as …/<jobid>/0",
        )
    if name:
        size = spec.at(parent).open().size(name)
        if size is not None:
            return _read_object(spec, size)
    raise ConfigError(
        f"no backup found at {spec.location.url()}",
        hint="name the job folder (…/<prefix>/<jobid>) or one data object",
    )


def _damaged(
    source: SegmentSource, problem: str, *, before_write: bool, line: int | None = None
) -> BackupIntegrityError:
    where = f"segment {source.segment}" + (f" line {line}" if line is not None else "")
    return BackupIntegrityError(
        f"{where}: {problem}",
        before_write=before_write,
        hint="the backup is damaged: restore another backup, or re-run backup-table",
    )


def read_items(
    storage: Storage,
    source: SegmentSource,
    *,
    before_write: bool = False,
) -> Iterator[Item]:
    """Stream the items of one data object, verifying it against its manifest at the end.

    Raises :class:`BackupIntegrityError` on an undecodable line (before yielding it), on a
    truncated gzip stream, or when the count, sizes or SHA-256 disagree with the manifest.
    """
    return items_from_chunks(storage.read(source.name), source, before_write=before_write)


def items_from_chunks(
    chunks: Iterable[bytes],
    source: SegmentSource,
    *,
    before_write: bool = False,
) -> Iterator[Item]:
    """The items of ``source`` read from its compressed ``chunks`` (from storage or a spool),
    checked as :func:`read_items` checks them."""
    lines = GunzipLines()
    number = 0

    def decode(raw: bytes) -> Item:
        try:
            return decode_item(raw)
        except ItemFormatError as exc:
            raise _damaged(source, exc.message, before_write=before_write, line=number) from exc

    try:
        for chunk in chunks:
            for raw in lines.feed(chunk):
                number += 1
                yield decode(raw)
        try:
            final = lines.finish()
        except ValueError as exc:
            raise _damaged(source, str(exc), before_write=before_write) from exc
        for raw in final:
            number += 1
            yield decode(raw)
    except zlib.error as exc:
        raise _damaged(
            source,
            f"not valid gzip ({exc}) after {number} good line(s)",
            before_write=before_write,
        ) from exc
    check_totals(source, lines, number, before_write)


def count_lines(
    chunks: Iterable[bytes], source: SegmentSource, *, before_write: bool = True
) -> GunzipLines:
    """Gunzip, hash and count ``chunks`` without decoding a line; the totals are checked
    against ``source``'s manifest (a :class:`BackupIntegrityError` naming the segment)."""
    lines = GunzipLines()
    number = 0
    try:
        for chunk in chunks:
            number += len(lines.feed(chunk))
        number += len(lines.finish())
    except zlib.error as exc:
        raise _damaged(
            source, f"not valid gzip ({exc}) after {number} line(s)", before_write=before_write
        ) from exc
    except ValueError as exc:
        raise _damaged(source, str(exc), before_write=before_write) from exc
    check_totals(source, lines, number, before_write)
    return lines


def check_totals(source: SegmentSource, lines: GunzipLines, count: int, before: bool) -> None:
    """Raise :class:`BackupIntegrityError` when the object's size, SHA-256, item count or
    uncompressed size differ from its manifest (nothing to check without one)."""
    manifest = source.manifest
    if manifest is None:
        return
    if lines.compressed != manifest.compressed_bytes:
        raise _damaged(
            source,
            f"object is {lines.compressed} bytes, manifest says {manifest.compressed_bytes}",
            before_write=before,
        )
    if lines.sha256 != manifest.sha256:
        raise _damaged(
            source, "SHA-256 of the object differs from its manifest", before_write=before
        )
    if count != manifest.item_count:
        raise _damaged(
            source, f"{count} items, manifest says {manifest.item_count}", before_write=before
        )
    if lines.uncompressed != manifest.uncompressed_bytes:
        raise _damaged(
            source,
            f"{lines.uncompressed} uncompressed bytes, manifest says {manifest.uncompressed_bytes}",
            before_write=before,
        )


@dataclass(frozen=True)
class SegmentVerdict:
    """The outcome of verifying one data object: its item count, or what is wrong with it."""

    segment: int
    items: int
    problem: str | None = None
    checked: bool = True
    """False for objects without a manifest: they decode, but nothing vouches for them."""


def verify_segment(storage: Storage, source: SegmentSource) -> SegmentVerdict:
    """Read one object to the end without writing anything; damage becomes a verdict."""
    count = 0
    try:
        for _ in read_items(storage, source, before_write=True):
            count += 1
    except BackupIntegrityError as exc:
        return SegmentVerdict(source.segment, count, exc.message)
    except BackupError as exc:
        return SegmentVerdict(source.segment, count, f"segment {source.segment}: {exc.message}")
    return SegmentVerdict(source.segment, count, None, source.manifest is not None)


@dataclass(frozen=True)
class VerifyJob:
    """A verification job for worker processes: where the objects are, and which they are."""

    storage: StorageSpec
    segments: tuple[SegmentSource, ...]


def verify_segment_task(job: VerifyJob, ctx: SegmentContext) -> SegmentVerdict:
    """Verify the segment ``ctx`` names (module-level, for worker processes)."""
    source = next(s for s in job.segments if s.segment == ctx.segment)
    verdict = verify_segment(job.storage.open(), source)
    ctx.advance("verify", verdict.items)
    return verdict


def describe_verdicts(verdicts: Iterable[SegmentVerdict]) -> list[str]:
    """The problems among ``verdicts``, in segment order."""
    return [v.problem for v in sorted(verdicts, key=lambda v: v.segment) if v.problem]
