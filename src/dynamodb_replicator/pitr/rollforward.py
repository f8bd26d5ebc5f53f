"""Rolling a scan backup forward with the change log: a new full backup at the end of second T.

Nothing reads the table. Before anything is written, the base's scan window is taken from its
manifests (or, for a backup of the original tool, from ``--assume-window``) and the exactness
rule checked (:mod:`.window`); the change log is verified over [S - m, T] object by object
(:mod:`.logscan`: damage, unfinished objects, chain breaks, gap markers, stream changes, and
every shard open at T proven read past T) while its records are spilled by key to local disk
(:mod:`.spill`); each partition's records are then checked (conflicting duplicates, missing
changes) and resolved to their keys' states at T. Any failure is a :class:`NotExactError`
naming every reason (exit 2). Only then are the base's lines spilled and merged, partition by
partition (in ``workers`` worker processes of the segment engine, each merging whole
partitions): partition n becomes segment n of the new backup, in the layout of
``backup-table`` (``_started``, one manifest with SHA-256 per segment), whose manifests record
S = E = T and where it came from. Workers write the data objects; the manifests are written
here, in segment order, from their results, so the backup is the same whatever the worker
count.
"""

from __future__ import annotations

import functools
import logging
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .. import __version__
from ..backup.layout import Manifest, Started, data_name, manifest_name
from ..backup.reader import BackupSource, GunzipLines, SegmentSource, check_totals, open_source
from ..backup.storage import Storage, StorageSpec
from ..backup.writer import GzipLines
from ..changelog.layout import LogDescriptor
from ..changelog.times import format_instant
from ..errors import (
    BackupIntegrityError,
    ItemFormatError,
    JobInterrupted,
    NotExactError,
    UsageError,
)
from ..items import KeySchema
from ..segments import LOCAL, SegmentContext, SegmentRun
from .bases import serving_base
from .logscan import CheckedLog, LogEntry, LogScan, log_descriptor
from .spill import MAX_PARTITIONS, Spill, merged_partition, partition_count
from .window import DEFAULT_MARGIN, Exactness, ScanWindow, check_exact, scan_window

__all__ = [
    "CheckedLog",
    "RollForward",
    "base_schema",
    "base_window",
    "check_log",
    "plan_base",
    "plan_with_hint",
    "roll_forward_backup",
]

log = logging.getLogger(__name__)

RECORD_BYTES: Final = 1024
"""Rough uncompressed bytes per log record, for the partition count."""
_BASE_CHUNK: Final = 64 * 1024
"""Compressed bytes of the base read at a time: a chunk is inflated whole, and JSON Lines of
similar items compress tenfold or more."""
_CANCEL_EVERY: Final = 4096
"""Lines merged between two looks at the job's cancel flag."""


@dataclass(frozen=True)
class RollForward:
    """What a roll-forward wrote: the new backup, its time, and what it came from."""

    destination: str
    to_time: int
    exactness: Exactness
    base: str
    items: int
    records: int
    segments: int


def _base_name(source: BackupSource) -> str:
    return source.storage.location.url()


def _recorded(source: BackupSource) -> list[Manifest]:
    """The base's manifests, when it records its scan window (a backup of this tool)."""
    manifests = [s.manifest for s in source.segments if s.manifest is not None]
    if source.kind == "ours" and manifests and len(manifests) == len(source.segments):
        return manifests
    return []


def base_window(source: BackupSource, assumed: ScanWindow | None = None) -> ScanWindow:
    """The base's scan window: from its manifests, or ``assumed`` (``--assume-window``) for a
    base that records none; a :class:`NotExactError` when it is damaged or has no window."""
    name = _base_name(source)
    if source.problems:
        raise NotExactError(
            f"the base backup {name} is damaged or incomplete: " + "; ".join(source.problems),
            hint="run verify-backup on it, or choose another base backup",
        )
    manifests = _recorded(source)
    if manifests:
        window = scan_window(manifests)
        if assumed is not None:
            raise UsageError(
                f"--assume-window is for a base that records no scan window; {name} records "
                f"its own ({format_instant(window.start)}..{format_instant(window.end)})",
                hint="leave --assume-window out",
            )
        return window
    if assumed is None:
        raise NotExactError(
            f"the base backup {name} records no scan window (a backup of the original tool): "
            "it can serve as a base only with --assume-window S E",
            hint="S and E: when its scan started and finished (ISO 8601 with a zone, or epoch "
            "seconds); when unsure, widen them",
        )
    return assumed


def plan_base(
    source: BackupSource,
    to_time: int,
    margin: int = DEFAULT_MARGIN,
    assumed: ScanWindow | None = None,
) -> Exactness:
    """The exactness requirements of rolling ``source`` forward to ``to_time``, or a
    :class:`NotExactError` (a damaged base, no scan window, or T < E + m)."""
    return check_exact(base_window(source, assumed), to_time, margin)


def plan_with_hint(
    base: StorageSpec,
    source: BackupSource,
    to_time: int,
    margin: int,
    assumed: ScanWindow | None = None,
) -> Exactness:
    """:func:`plan_base`; a base too recent for ``to_time`` is refused naming a job under
    the same prefix that would serve, if there is one."""
    window = base_window(source, assumed)
    try:
        return check_exact(window, to_time, margin)
    except NotExactError as exc:
        if margin < 0 or window.end + margin <= to_time:
            raise
        other = serving_base(base, to_time, margin)
        hint = f"use the base {other}, whose scan ended early enough" if other else exc.hint
        raise NotExactError(exc.message, hint=hint) from exc


def base_schema(source: BackupSource, descriptor: LogDescriptor) -> KeySchema:
    """The key schema: from the base's table definition, else (a backup of the original
    tool) from the change log's descriptor."""
    definition = source.definition
    if definition:
        return KeySchema.from_description(definition)
    return KeySchema.from_description(_definition_from_log(descriptor))


def _definition_from_log(descriptor: LogDescriptor) -> dict[str, Any]:
    """A table definition for a base that records none: the table's name, ARN and keys, as
    the change log's descriptor gives them."""
    definition: dict[str, Any] = {
        "TableName": descriptor.table,
        "KeySchema": [{"AttributeName": n, "KeyType": k} for n, k, _t in descriptor.key_schema],
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": t} for n, _k, t in descriptor.key_schema
        ],
    }
    if descriptor.table_arn:
        definition["TableArn"] = descriptor.table_arn
    return definition


def check_log(
    root: Storage,
    first: int,
    last: int,
    schema: KeySchema,
    sink: Callable[[LogEntry], None],
) -> CheckedLog:
    """Verify the change log(s) at or under ``root`` over ``[first, last]`` object by object,
    handing each record from ``first`` on to ``sink`` (see :class:`.logscan.LogScan`)."""
    return LogScan(root, first, last).run(schema, sink)


# --- reading the base -------------------------------------------------------------------------


def _damaged(segment: SegmentSource, problem: str) -> BackupIntegrityError:
    return BackupIntegrityError(
        f"the base backup's segment {segment.segment}: {problem}",
        before_write=True,
        hint="run verify-backup on it, or choose another base backup",
    )


def _base_lines(storage: Storage, segment: SegmentSource) -> Iterable[bytes]:
    """The lines of one base object as stored, checked against its manifest at the end."""
    lines = GunzipLines()
    count = 0
    try:
        for chunk in storage.read(segment.name, chunk_size=_BASE_CHUNK):
            for line in lines.feed(chunk):
                count += 1
                yield line
        try:
            final = lines.finish()
        except ValueError as exc:
            raise _damaged(segment, str(exc)) from exc
        for line in final:
            count += 1
            yield line
    except zlib.error as exc:
        raise _damaged(segment, f"not valid gzip ({exc}) after {count} line(s)") from exc
    check_totals(segment, lines, count, True)


def _spill_base(spill: Spill, source: BackupSource) -> None:
    storage = source.storage.open()
    validate = not _recorded(source)  # nothing vouches for an original backup's lines
    for segment in source.segments:
        for number, line in enumerate(_base_lines(storage, segment), 1):
            try:
                spill.add_line(line, validate=validate)
            except ItemFormatError as exc:
                raise _damaged(segment, f"line {number}: {exc.message}") from exc


# --- writing the new backup -------------------------------------------------------------------


class _GzipLines(GzipLines):
    """Lines (as bytes, without newlines) -> gzip JSON Lines, gathered into 1 MB pieces."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[bytes] = []
        self._size = 0

    def add(self, line: bytes) -> bytes:
        """The compressed bytes ready after ``line`` (often none: lines are gathered)."""
        self._pending.append(line)
        self._size += len(line) + 1
        self.items += 1
        return self._drain() if self._size >= 1 << 20 else b""

    def _drain(self) -> bytes:
        text = b"\n".join(self._pending) + b"\n" if self._pending else b""
        self._pending, self._size = [], 0
        self.uncompressed += len(text)
        return self._out(self._compressor.compress(text))

    def finish(self) -> bytes:
        return self._drain() + super().finish()


def _write_segment(out: Storage, segment: int, lines: Iterable[bytes]) -> tuple[_GzipLines, int]:
    """Segment ``segment``'s data object from ``lines``: the encoder's counts and its size."""
    encoder = _GzipLines()
    writer = out.writer(data_name(segment))
    try:
        for line in lines:
            chunk = encoder.add(line)
            if chunk:
                writer.write(chunk)
        writer.write(encoder.finish())
        written = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return encoder, written


@dataclass(frozen=True)
class _Written:
    """What a worker wrote for one segment: the manifest's counts."""

    items: int
    uncompressed: int
    compressed: int
    sha256: str


@dataclass(frozen=True)
class _MergeTask:
    """A merge worker's job (picklable): the spill folder and where to write."""

    spill: str
    destination: StorageSpec


def _stoppable(lines: Iterable[bytes], ctx: SegmentContext) -> Iterator[bytes]:
    for number, line in enumerate(lines, 1):
        if number % _CANCEL_EVERY == 0 and ctx.cancelled():
            raise JobInterrupted(f"segment {ctx.segment} stopped: the job is stopping")
        yield line


def _merge_segment(task: _MergeTask, ctx: SegmentContext) -> _Written:
    """Merge partition ``ctx.segment`` into the new backup's segment of that number (its
    data object; the manifest is the parent's)."""
    out = task.destination.open()
    lines = _stoppable(merged_partition(task.spill, ctx.segment), ctx)
    encoder, written = _write_segment(out, ctx.segment, lines)
    return _Written(encoder.items, encoder.uncompressed, written, encoder.sha256)


def _provenance(exact: Exactness, base: str, checked: CheckedLog) -> dict[str, Any]:
    provenance = {
        "time": format_instant(exact.to_time),
        "margin_seconds": exact.margin,
        "base": base,
        "base_scan_started": format_instant(exact.window.start),
        "base_scan_finished": format_instant(exact.window.end),
        "log": list(checked.logs),
        "log_from": format_instant(checked.first),
        "log_until": format_instant(checked.last),
    }
    if exact.window.assumed:
        provenance["base_scan_window_assumed"] = True
    return provenance


@dataclass(frozen=True)
class _Job:
    """What every manifest of the new backup shares."""

    jobid: str
    table: str
    region: str
    when: str
    definition: Mapping[str, Any]
    consistent: bool
    provenance: Mapping[str, Any]


def _job(source: BackupSource, checked: CheckedLog, exact: Exactness, jobid: str) -> _Job:
    manifests = _recorded(source)
    descriptor = checked.descriptor
    if manifests:
        first = manifests[0]
        table, region = first.table, first.region
        definition: Mapping[str, Any] = dict(first.table_description)
    else:
        parts = descriptor.stream_arn.split(":")
        table, region = descriptor.table, parts[3] if len(parts) > 3 else ""
        definition = _definition_from_log(descriptor)
    return _Job(
        jobid=jobid,
        table=table,
        region=region,
        when=format_instant(exact.to_time),
        definition=definition,
        consistent=bool(manifests) and all(m.consistent_read for m in manifests),
        provenance=_provenance(exact, _base_name(source), checked),
    )


def _manifest(job: _Job, segment: int, segments: int, done: _Written) -> Manifest:
    return Manifest(
        jobid=job.jobid,
        table=job.table,
        region=job.region,
        segment=segment,
        segments=segments,
        item_count=done.items,
        uncompressed_bytes=done.uncompressed,
        compressed_bytes=done.compressed,
        sha256=done.sha256,
        started_at=job.when,
        finished_at=job.when,
        tool_version=__version__,
        table_description=job.definition,
        object=data_name(segment),
        consistent_read=job.consistent,
        point_in_time=job.provenance,
    )


# --- the roll-forward -------------------------------------------------------------------------


def roll_forward_backup(
    base: StorageSpec,
    changes: Storage,
    to_time: int,
    destination: StorageSpec,
    *,
    margin: int = DEFAULT_MARGIN,
    jobid: str = "rolled-forward",
    spill_dir: str | None = None,
    assumed: ScanWindow | None = None,
    workers: int = 1,
) -> RollForward:
    """Write a new full backup of the table at the end of second ``to_time`` to
    ``destination`` from the ``base`` backup and the change log at ``changes``.

    ``assumed``: the scan window of a base that records none (a backup of the original tool).
    ``workers``: how many partitions are merged at once, in worker processes when more than
    one (each holds one partition's changed keys); the output is the same whatever the count.
    Raises :class:`SegmentFailedError` when a worker fails, :class:`JobInterrupted` on Ctrl-C.
    """
    source = open_source(base)
    exact = plan_with_hint(base, source, to_time, margin, assumed)
    schema = base_schema(source, log_descriptor(changes))
    scan = LogScan(changes, exact.log_from, to_time)
    # As many partitions as the log needs to keep memory flat, and at least as many as the
    # base has segments: partition n becomes segment n, which restores run in parallel.
    partitions = max(
        partition_count(scan.records * RECORD_BYTES),
        min(len(source.segments), MAX_PARTITIONS),
    )
    with Spill(schema, partitions, directory=spill_dir) as spill:
        checked = scan.run(schema, spill.add_entry)
        check_changes = checked.descriptor.view_type == "NEW_AND_OLD_IMAGES"
        problems = spill.resolve(to_time, check_changes=check_changes)
        if problems:
            raise NotExactError(
                f"the change log from {format_instant(checked.first)} to "
                f"{format_instant(checked.last)} is not consistent: " + "; ".join(problems),
                hint="run verify-changes over that window; choose a time the log covers",
            )
        _spill_base(spill, source)
        log.info(
            "%s: %d base item(s), %d log record(s) spilled in %d partition(s)",
            _base_name(source),
            spill.items,
            spill.records,
            partitions,
        )
        job = _job(source, checked, exact, jobid)
        out = destination.open()
        out.put(
            "_started",
            Started(
                jobid=jobid,
                table=job.table,
                region=job.region,
                segments=partitions,
                started_at=job.when,
                tool_version=__version__,
                table_arn=job.definition.get("TableArn"),
            ).to_bytes(),
        )
        used = max(1, min(workers, partitions))
        # The spill is on this machine's disk: its partitions are merged here, by the local pool.
        results = LOCAL.run(
            SegmentRun(
                functools.partial(
                    _merge_segment, _MergeTask(str(spill.ready(to_time)), destination)
                ),
                list(range(partitions)),
                partitions,
                workers=used,
                processes=used > 1,
            )
        )
        items = 0
        for segment in range(partitions):
            done = results[segment]
            items += done.items
            manifest = _manifest(job, segment, partitions, done)
            out.put(manifest_name(segment), manifest.to_bytes())
    log.info("rolled %s forward to %s: %d items", _base_name(source), job.when, items)
    return RollForward(
        destination=destination.location.url(),
        to_time=to_time,
        exactness=exact,
        base=_base_name(source),
        items=items,
        records=checked.records,
        segments=partitions,
    )
