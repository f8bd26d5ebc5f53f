"""Rolling a scan backup forward with the change log: a new full backup at the end of second T.

Nothing reads the table. Before anything is written, the base's scan window is taken from its
manifests and the exactness rule checked (:mod:`.window`), then the change log is verified over
[S - m, T] (damage, unfinished objects, chain breaks, gap markers, stream changes) and every
shard open at T is proven read past T (a heartbeat, its end or a later record). Any failure is
a :class:`NotExactError` naming the reason (exit 2). Base and log are spilled by key to local
disk (:mod:`.spill`) and merged partition by partition; partition n becomes segment n of the
new backup, in the layout of ``backup-table`` (``_started``, one manifest with SHA-256 per
segment), whose manifests record S = E = T and where it came from.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..backup.layout import Manifest, Started, data_name, manifest_name
from ..backup.reader import BackupSource, open_source, read_items
from ..backup.storage import Storage, StorageSpec
from ..backup.writer import GzipLines
from ..changelog.format import ChangeRecord, decode_line, encode_line
from ..changelog.times import format_instant
from ..changelog.verify import Problem, ShardProof, find_logs, verify_log
from ..errors import NotExactError
from ..items import KeySchema
from .bases import serving_base
from .spill import Spill, partition_count
from .window import DEFAULT_MARGIN, Exactness, check_exact, scan_window

__all__ = ["CheckedLog", "RollForward", "check_log", "plan_base", "roll_forward_backup"]

log = logging.getLogger(__name__)

_RECORD_BYTES = 1024
"""Rough uncompressed bytes per log record, for the partition count."""


@dataclass(frozen=True)
class CheckedLog:
    """A change log proven complete over a window: how many records it holds there."""

    first: int
    last: int
    records: int
    shards: tuple[ShardProof, ...]
    logs: tuple[str, ...]


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


def plan_base(source: BackupSource, to_time: int, margin: int = DEFAULT_MARGIN) -> Exactness:
    """The exactness requirements of rolling ``source`` forward to ``to_time``, or a
    :class:`NotExactError` (a damaged base, no manifests, or T < E + m)."""
    if source.problems:
        raise NotExactError(
            f"the base backup {_base_name(source)} is damaged or incomplete: "
            + "; ".join(source.problems),
            hint="run verify-backup on it, or choose another base backup",
        )
    manifests = [s.manifest for s in source.segments if s.manifest is not None]
    if source.kind != "ours" or len(manifests) != len(source.segments):
        raise NotExactError(
            f"the base backup {_base_name(source)} has no manifests, so its scan window is "
            "not known",
            hint="use a backup written by backup-table of this tool as the base",
        )
    return check_exact(scan_window(manifests), to_time, margin)


def _too_recent(source: BackupSource, to_time: int, margin: int) -> bool:
    manifests = [s.manifest for s in source.segments if s.manifest is not None]
    return bool(manifests) and scan_window(manifests).end + margin > to_time


def plan_with_hint(base: StorageSpec, source: BackupSource, to_time: int, margin: int) -> Exactness:
    """:func:`plan_base`; a base too recent for ``to_time`` is refused naming a job under
    the same prefix that would serve, if there is one."""
    try:
        return plan_base(source, to_time, margin)
    except NotExactError as exc:
        if not _too_recent(source, to_time, margin):
            raise
        other = serving_base(base, to_time, margin)
        hint = f"use the base {other}, whose scan ended early enough" if other else exc.hint
        raise NotExactError(exc.message, hint=hint) from exc


def _describe(problem: Problem) -> str:
    return f"{problem.kind} {problem.name}: {problem.detail}"


def _hours(first: int, last: int) -> list[tuple[int, int]]:
    start = first - first % 3600
    return [(max(first, h), min(last, h + 3599)) for h in range(start, last + 1, 3600)]


def _merge_proofs(
    proofs: dict[tuple[str, str | None], ShardProof], found: list[ShardProof]
) -> None:
    for proof in found:
        key = (proof.stream_label, proof.shard_id)
        held = proofs.get(key)
        if held is None:
            proofs[key] = proof
            continue
        reads = [r for r in (held.read_to, proof.read_to) if r is not None]
        proofs[key] = dataclasses.replace(
            held, read_to=max(reads) if reads else None, closed=held.closed or proof.closed
        )


def check_log(
    root: Storage, first: int, last: int, sink: Callable[[int, ChangeRecord], None]
) -> CheckedLog:
    """Verify the change log(s) at or under ``root`` over ``[first, last]``, one UTC hour at a
    time (so memory holds one hour's records), handing each record of the window to ``sink``
    with its position in stream order; prove every shard open at ``last`` read past it.
    :class:`NotExactError` naming every reason otherwise (``sink`` may have been called)."""
    logs = find_logs(root)
    if not logs:
        raise NotExactError(
            f"no change log at {root.location.url()}",
            hint="name the folder or S3 prefix that backup-changes writes to",
        )
    reasons: list[str] = []
    proofs: dict[tuple[str, str | None], ShardProof] = {}
    active: list[str] = []
    position = 0
    for storage in logs:
        for low, high in _hours(first, last):
            window, problems, found, descriptor = verify_log(storage, low, high)
            reasons += [_describe(p) for p in problems if _describe(p) not in reasons]
            if window.hours and descriptor.stream_label not in active:
                active.append(descriptor.stream_label)
            _merge_proofs(proofs, found)
            for entry in window.records:
                if low <= entry.record.seconds <= high:
                    sink(position, entry.record)
                    position += 1
    for proof in proofs.values():
        if not proof.closed and (proof.read_to is None or proof.read_to < last):
            read = "never" if proof.read_to is None else format_instant(proof.read_to)
            reasons.append(
                f"missing-heartbeat shard {proof.shard_id or '(Lambda writer)'}: read up to "
                f"{read}, not past {format_instant(last)}"
            )
    if len(active) > 1:
        reasons.append(f"stream-change {', '.join(active)}: the window spans more than one stream")
    if reasons:
        raise NotExactError(
            f"the change log is not proven complete from {format_instant(first)} to "
            f"{format_instant(last)}: " + "; ".join(reasons),
            hint="run verify-changes over that window; choose a time the log covers",
        )
    return CheckedLog(
        first, last, position, tuple(proofs.values()), tuple(s.location.url() for s in logs)
    )


def _spill_base(spill: Spill, source: BackupSource) -> None:
    storage = source.storage.open()
    for segment in source.segments:
        for item in read_items(storage, segment, before_write=True):
            spill.add_item(item)


class _Staged:
    """Log records staged in one gzip file while the log is verified (their count decides the
    partitions), then copied into the partitioned spill."""

    def __init__(self, directory: str | None):
        self._file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by close()
            prefix="pitr-log-", suffix=".jsonl.gz", dir=directory
        )
        self._out = gzip.open(self._file, "wt", compresslevel=1, encoding="utf-8")  # noqa: SIM115

    def add(self, position: int, record: ChangeRecord) -> None:
        self._out.write(f"{position}\t{encode_line(record)}\n")

    def into(self, spill: Spill) -> None:
        self._out.close()
        self._file.seek(0)
        with gzip.open(self._file, "rt", encoding="utf-8") as lines:
            for line in lines:
                position, text = line.split("\t", 1)
                spill.add_record(int(position), decode_line(text))

    def close(self) -> None:
        self._out.close()
        self._file.close()


def _provenance(exact: Exactness, base: str, checked: CheckedLog) -> dict[str, Any]:
    return {
        "time": format_instant(exact.to_time),
        "margin_seconds": exact.margin,
        "base": base,
        "base_scan_started": format_instant(exact.window.start),
        "base_scan_finished": format_instant(exact.window.end),
        "log": list(checked.logs),
        "log_from": format_instant(checked.first),
        "log_until": format_instant(checked.last),
    }


def roll_forward_backup(
    base: StorageSpec,
    changes: Storage,
    to_time: int,
    destination: StorageSpec,
    *,
    margin: int = DEFAULT_MARGIN,
    jobid: str = "rolled-forward",
    spill_dir: str | None = None,
) -> RollForward:
    """Write a new full backup of the table at the end of second ``to_time`` to
    ``destination`` from the ``base`` backup and the change log at ``changes``."""
    source = open_source(base)
    exact = plan_with_hint(base, source, to_time, margin)
    staged = _Staged(spill_dir)
    try:
        checked = check_log(changes, exact.log_from, to_time, staged.add)
        return _write_rolled(
            source, exact, checked, staged, destination, to_time, jobid=jobid, spill_dir=spill_dir
        )
    finally:
        staged.close()


def _write_rolled(
    source: BackupSource,
    exact: Exactness,
    checked: CheckedLog,
    staged: _Staged,
    destination: StorageSpec,
    to_time: int,
    *,
    jobid: str,
    spill_dir: str | None,
) -> RollForward:
    manifests = [s.manifest for s in source.segments if s.manifest is not None]
    definition = dict(manifests[0].table_description)
    schema = KeySchema.from_description(definition)
    size = sum(m.uncompressed_bytes for m in manifests) + _RECORD_BYTES * checked.records
    when = format_instant(to_time)
    started = manifests[0]
    out = destination.open()
    partitions = partition_count(size)
    out.put(
        "_started",
        Started(
            jobid=jobid,
            table=started.table,
            region=started.region,
            segments=partitions,
            started_at=when,
            tool_version=__version__,
            table_arn=definition.get("TableArn"),
        ).to_bytes(),
    )
    provenance = _provenance(exact, _base_name(source), checked)
    items = 0
    with Spill(schema, partitions, directory=spill_dir) as spill:
        _spill_base(spill, source)
        staged.into(spill)
        for segment, part in enumerate(spill.partitions_merged(to_time)):
            encoder = GzipLines()
            writer = out.writer(data_name(segment))
            try:
                writer.write(encoder.encode(part))
                writer.write(encoder.finish())
                written = writer.commit()
            except BaseException:
                writer.abort()
                raise
            items += encoder.items
            manifest = Manifest(
                jobid=jobid,
                table=started.table,
                region=started.region,
                segment=segment,
                segments=partitions,
                item_count=encoder.items,
                uncompressed_bytes=encoder.uncompressed,
                compressed_bytes=written,
                sha256=encoder.sha256,
                started_at=when,
                finished_at=when,
                tool_version=__version__,
                table_description=definition,
                object=data_name(segment),
                consistent_read=all(m.consistent_read for m in manifests),
                point_in_time=provenance,
            )
            out.put(manifest_name(segment), manifest.to_bytes())
    log.info("rolled %s forward to %s: %d items", _base_name(source), when, items)
    return RollForward(
        destination=destination.location.url(),
        to_time=to_time,
        exactness=exact,
        base=_base_name(source),
        items=items,
        records=checked.records,
        segments=partitions,
    )
