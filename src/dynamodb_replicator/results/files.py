"""Per-segment result files of array jobs: ``DIR/segment-<N>.json`` (encoding is pure).

Each file holds one segment's counts, its discrepancies (keys in wire-format text form, binary
as base64, via :func:`items.item_to_text`) and its failures, plus what a merge needs to check
that the files belong to one job. ``DIR`` is a local folder or an ``s3://`` prefix; files are
written whole (a folder write is renamed into place), so a reader never sees half a result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final

from ..backup import BackupSummary, RestoreSummary, StorageSpec, open_source
from ..diff import Action, DiffResult, DiffStats, Discrepancy, Kind
from ..errors import BackupError, ItemFormatError, ReplicatorError
from ..items import item_from_text, item_to_text

__all__ = [
    "RESULT_VERSION",
    "SegmentResult",
    "backup_segment_result",
    "decode_discrepancy",
    "decode_result",
    "diff_segment_result",
    "diff_stats",
    "encode_discrepancy",
    "encode_result",
    "failed_segment_result",
    "read_results",
    "restore_failed_result",
    "restore_segment_result",
    "result_name",
    "write_result",
]

RESULT_VERSION: Final = 1
_NAME = re.compile(r"^segment-(0|[1-9][0-9]{0,6})\.json$")


def result_name(segment: int) -> str:
    """The file name of ``segment``'s result."""
    return f"segment-{segment}.json"


@dataclass(frozen=True)
class SegmentResult:
    """One segment's outcome, as a merge reads it.

    ``command`` and ``job`` identify the job (every file of one job has the same), ``counts``
    the command's numbers, ``failures`` why the segment failed (empty: it finished),
    ``failed_keys`` keys left undone after bounded retries (text form), ``details`` what the
    report needs besides counts (key names, flags, jobid, locations).
    """

    command: str
    job: str
    segment: int
    total_segments: int
    counts: Mapping[str, Any] = field(default_factory=dict)
    discrepancies: tuple[Discrepancy, ...] = ()
    failures: tuple[str, ...] = ()
    failed_keys: tuple[Mapping[str, Any], ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


def encode_discrepancy(d: Discrepancy) -> dict[str, Any]:
    """A discrepancy as JSON-ready text form (the key's binary as base64)."""
    return {
        "kind": d.kind.value,
        "key": item_to_text(d.key),
        "attributes": list(d.attributes),
        "action": d.action.value,
        "resolved": d.resolved,
    }


def decode_discrepancy(obj: Mapping[str, Any]) -> Discrepancy:
    """The inverse of :func:`encode_discrepancy` (binary back to ``bytes``)."""
    return Discrepancy(
        kind=Kind(obj["kind"]),
        key=item_from_text(obj["key"]),
        attributes=tuple(str(a) for a in obj.get("attributes", ())),
        action=Action(obj.get("action", "none")),
        resolved=bool(obj.get("resolved", False)),
    )


def encode_result(result: SegmentResult) -> bytes:
    """The JSON bytes of a result file."""
    obj = {
        "format_version": RESULT_VERSION,
        "command": result.command,
        "job": result.job,
        "segment": result.segment,
        "total_segments": result.total_segments,
        "status": "ok" if result.ok else "failed",
        "counts": dict(result.counts),
        "discrepancies": [encode_discrepancy(d) for d in result.discrepancies],
        "failures": list(result.failures),
        "failed_keys": [item_to_text(k) for k in result.failed_keys],
        "details": dict(result.details),
        "duration": round(result.duration, 3),
    }
    return (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode()


def decode_result(data: bytes, what: str = "result") -> SegmentResult:
    """A result file's bytes to a :class:`SegmentResult`; a :class:`BackupError` if unreadable."""
    try:
        obj = json.loads(data.decode("utf-8"))
        if not isinstance(obj, dict) or obj.get("format_version") != RESULT_VERSION:
            raise ValueError(f"not a version-{RESULT_VERSION} segment result")
        return SegmentResult(
            command=str(obj["command"]),
            job=str(obj["job"]),
            segment=int(obj["segment"]),
            total_segments=int(obj["total_segments"]),
            counts=dict(obj.get("counts", {})),
            discrepancies=tuple(decode_discrepancy(d) for d in obj.get("discrepancies", ())),
            failures=tuple(str(f) for f in obj.get("failures", ())),
            failed_keys=tuple(item_from_text(k) for k in obj.get("failed_keys", ())),
            details=dict(obj.get("details", {})),
            duration=float(obj.get("duration", 0.0)),
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, ItemFormatError) as exc:
        detail = exc.message if isinstance(exc, ItemFormatError) else str(exc)
        raise BackupError(
            f"{what} is not a readable segment result ({detail})",
            hint="remove the file or re-run that segment",
        ) from exc


def diff_segment_result(
    job: str,
    segment: int,
    total_segments: int,
    result: DiffResult,
    *,
    backfill: bool = False,
    dry_run: bool = False,
    failures: Sequence[str] = (),
) -> SegmentResult:
    """A diff-tables segment's result from its :class:`DiffResult`."""
    return SegmentResult(
        command="diff-tables",
        job=job,
        segment=segment,
        total_segments=total_segments,
        counts=asdict(result.stats),
        discrepancies=result.discrepancies,
        failures=tuple(failures),
        failed_keys=result.failed_keys,
        details={
            "key_names": list(result.key_names),
            "backfill": backfill,
            "dry_run": dry_run,
            "read_units_per_item": result.stats.read_units_per_item,
        },
        duration=result.duration,
    )


def failed_segment_result(
    command: str, job: str, segment: int, total_segments: int, why: str
) -> SegmentResult:
    """The result of a segment that failed (``why``): a merge names it and exits 3."""
    return SegmentResult(command, job, segment, total_segments, failures=(why,))


def backup_segment_result(
    job: str, segment: int, total_segments: int, summary: BackupSummary
) -> SegmentResult:
    """A backup-table segment's result from its :class:`BackupSummary`."""
    return SegmentResult(
        "backup-table",
        job,
        segment,
        total_segments,
        counts={
            "items": summary.items,
            "compressed_bytes": summary.compressed_bytes,
            "uncompressed_bytes": summary.uncompressed_bytes,
            "requests": summary.calls.requests,
            "retried_errors": summary.calls.errors,
        },
        details={"jobid": summary.jobid, "location": summary.location},
        duration=summary.seconds,
    )


def restore_segment_result(job: str, segment: int, summary: RestoreSummary) -> SegmentResult:
    """A restore-table segment's result from its :class:`RestoreSummary` (the job's segment
    count is the backup's)."""
    return SegmentResult(
        "restore-table",
        job,
        segment,
        max(len(summary.source.segments), 1),
        counts={
            "items": summary.items,
            "requests": summary.calls.requests,
            "retried_errors": summary.calls.errors,
        },
        details={"source": summary.source.storage.location.url(), "table": summary.table},
        duration=summary.seconds,
    )


def restore_failed_result(
    job: str, segment: int, source: StorageSpec, why: str
) -> SegmentResult | None:
    """The result of a restore-table segment that failed; ``None`` when the backup at
    ``source`` cannot be read to learn the job's segment count (the merge then finds the
    result missing)."""
    try:
        total = max(len(open_source(source).segments), 1)
    except ReplicatorError:
        return None
    return failed_segment_result("restore-table", job, segment, total, why)


def diff_stats(counts: Mapping[str, Any]) -> DiffStats:
    """The :class:`DiffStats` a result file's counts hold (unknown names ignored)."""
    known = {f.name: f.type for f in fields(DiffStats)}
    values: dict[str, Any] = {}
    for name, value in counts.items():
        if name in known:
            values[name] = float(value) if name.endswith("_units") else int(value)
    return DiffStats(**values)


def write_result(directory: StorageSpec, result: SegmentResult) -> str:
    """Write ``result`` to ``DIR/segment-<N>.json``; returns its address."""
    storage = directory.open()
    name = result_name(result.segment)
    storage.put(name, encode_result(result))
    return storage.location.url(name)


def read_results(directory: StorageSpec) -> dict[int, SegmentResult]:
    """Every ``segment-<N>.json`` under ``directory``, by segment number."""
    storage = directory.open()
    found: dict[int, SegmentResult] = {}
    for name in sorted(storage.listing()):
        match = _NAME.match(name)
        if match is None:
            continue
        result = decode_result(storage.get(name), storage.location.url(name))
        if result.segment != int(match.group(1)):
            raise BackupError(
                f"{storage.location.url(name)} holds segment {result.segment}",
                hint="result files must keep the names they were written under",
            )
        found[result.segment] = result
    return found
