"""Whole jobs: backup, restore and verify, from a request to a summary.

Each job checks everything it can before the first write (jobid, bucket, table, backup
listing), then runs its segments through an engine (by default the local pool: inline for one
segment, worker processes for several). Segment functions are module-level and take frozen dataclasses,
so other engines (a cluster, array jobs) can run them too.
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .. import __version__
from ..dynamo import RateSpec, TableSpec
from ..dynamo.retry import CallCounts
from ..errors import BackupIntegrityError, JobInterrupted, SegmentFailedError, UsageError
from ..items import Key
from ..progress import NullProgress, ProgressListener
from ..segments import LOCAL, Engine, SegmentRun
from .extraneous import ExtraAction, ExtraneousReport, find_extraneous
from .layout import Location, Manifest, Started, validate_jobid
from .reader import (
    BackupSource,
    SegmentSource,
    SegmentVerdict,
    VerifyJob,
    describe_verdicts,
    open_source,
    verify_segment_task,
)
from .restore import RestoreJob, SegmentRestore, prepare_target, restore_segment
from .spool import check_spool_space, spool_space_needed
from .storage import StorageSpec
from .tabledef import ttl_attribute
from .writer import (
    BackupJob,
    SegmentBackup,
    backup_segment,
    describe_for_backup,
    now_iso,
    segments_to_skip,
    write_started,
)

__all__ = [
    "BackupRequest",
    "BackupSummary",
    "RestoreRequest",
    "RestoreSummary",
    "VerifyReport",
    "check_jobid",
    "job_location",
    "new_jobid",
    "run_backup",
    "run_restore",
    "run_verify",
]

log = logging.getLogger(__name__)


def new_jobid(token: Callable[[int], str] = secrets.token_hex) -> str:
    """A fresh random jobid: 16 hex digits."""
    return token(8)


def check_jobid(jobid: str | None, *, resume: bool = False, shared: bool = False) -> None:
    """The rules for a backup's ``--jobid``, checked before any work (usage errors).

    A run that is one of several processes of one job (``shared``: an array job's segment, or
    one that writes a per-segment result for a merge) must name the job, so every segment writes
    under the same jobid; ``--resume`` must name the backup it resumes.
    """
    if jobid is None and shared:
        raise UsageError(
            "separate segment processes of one backup need the same --jobid",
            hint="add --jobid NAME (the same for every segment of the job)",
        )
    if resume and jobid is None:
        raise UsageError(
            "--resume needs the --jobid of the backup to resume",
            hint="pass the jobid printed by the first run",
        )


def job_location(destination: Location, jobid: str) -> Location:
    """``<destination>/<jobid>``: where a job's objects go (``s3://bucket`` -> ``<jobid>/...``)."""
    return destination.child(validate_jobid(jobid))


def _pool_size(segments: int, workers: int) -> int:
    return max(1, min(workers, segments))


# --- backup -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupRequest:
    """A backup-table invocation: which table, where to, which segments, how fast."""

    table: TableSpec
    destination: StorageSpec
    jobid: str | None = None
    segments: Sequence[int] = (0,)
    total_segments: int = 1
    workers: int = 1
    rate: RateSpec = field(default_factory=RateSpec)
    resume: bool = False
    gzip_level: int = 1
    consistent: bool = False


@dataclass(frozen=True)
class BackupSummary:
    """What a backup wrote."""

    jobid: str
    location: str
    segments: Mapping[int, SegmentBackup]
    skipped: Mapping[int, Manifest]
    seconds: float

    @property
    def items(self) -> int:
        return sum(r.items for r in self.segments.values()) + sum(
            m.item_count for m in self.skipped.values()
        )

    @property
    def compressed_bytes(self) -> int:
        return sum(r.compressed_bytes for r in self.segments.values()) + sum(
            m.compressed_bytes for m in self.skipped.values()
        )

    @property
    def uncompressed_bytes(self) -> int:
        return sum(r.uncompressed_bytes for r in self.segments.values()) + sum(
            m.uncompressed_bytes for m in self.skipped.values()
        )

    @property
    def calls(self) -> CallCounts:
        """Requests the segments made and the errors among them that were retried."""
        return sum((r.calls for r in self.segments.values()), CallCounts())


def run_backup(
    request: BackupRequest,
    *,
    progress: ProgressListener | None = None,
    jobid_factory: Callable[[], str] = new_jobid,
    engine: Engine = LOCAL,
) -> BackupSummary:
    """Back up the requested segments; raises before any write for bad jobids, missing
    buckets or tables (exit 2), and :class:`SegmentFailedError` naming a failed segment."""
    began = time.monotonic()
    listener = progress or NullProgress()
    jobid = validate_jobid(request.jobid) if request.jobid is not None else jobid_factory()
    root = request.destination.at(job_location(request.destination.location, jobid))
    storage = root.open()
    storage.check()
    client = request.table.client()
    info, definition = describe_for_backup(client, request.table.name, str(request.table.address))
    write_started(
        storage,
        Started(
            jobid=jobid,
            table=request.table.name,
            region=request.table.address.region,
            segments=request.total_segments,
            started_at=now_iso(),
            tool_version=__version__,
            table_arn=info.description.get("TableArn"),
        ),
    )
    skipped = segments_to_skip(storage, request.segments) if request.resume else {}
    todo = [s for s in request.segments if s not in skipped]
    workers = _pool_size(len(todo), request.workers)
    share = engine.share(len(request.segments), request.total_segments, workers)
    job = BackupJob(
        table=request.table.with_pool(2),
        storage=root,
        jobid=jobid,
        total_segments=request.total_segments,
        definition=definition,
        rate_read=request.rate.scaled(share).read,
        gzip_level=request.gzip_level,
        consistent=request.consistent,
    )
    estimate = info.item_count * len(request.segments) // max(request.total_segments, 1)
    listener.start("backup", estimate or None)
    try:
        results = engine.run(
            SegmentRun(
                functools.partial(backup_segment, job),
                todo,
                request.total_segments,
                workers=workers,
                processes=workers > 1,
                progress=listener,
            )
        )
    except JobInterrupted as exc:
        exc.hint = (
            f"nothing of an unfinished segment counts as backed up; re-run with --jobid {jobid} "
            "--resume (and the same flags) to keep the finished segments and redo the rest"
        )
        raise
    listener.finish("backup")  # only when done: a stopped job's bar keeps its true count
    return BackupSummary(jobid, root.location.url(), results, skipped, time.monotonic() - began)


# --- verify -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    """The verdict on a backup: problems in the listing and in each object."""

    source: BackupSource
    verdicts: Mapping[int, SegmentVerdict]

    @property
    def problems(self) -> list[str]:
        return [*self.source.problems, *describe_verdicts(self.verdicts.values())]

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def items(self) -> int:
        return sum(v.items for v in self.verdicts.values())


def _verify(
    source: BackupSource,
    segments: Sequence[SegmentSource],
    workers: int,
    listener: ProgressListener,
    engine: Engine = LOCAL,
) -> dict[int, SegmentVerdict]:
    present = list(segments)
    job = VerifyJob(source.storage, tuple(present))
    pool = _pool_size(len(present), workers)
    listener.start("verify", source.item_count)
    verdicts = engine.run(
        SegmentRun(
            functools.partial(verify_segment_task, job),
            [s.segment for s in present],
            max(len(present), 1),
            workers=pool,
            processes=pool > 1,
            progress=listener,
        )
    )
    listener.finish("verify")  # only when done: a stopped job's bar keeps its true count
    return verdicts


def run_verify(
    source_spec: StorageSpec,
    *,
    workers: int = 1,
    progress: ProgressListener | None = None,
    engine: Engine = LOCAL,
) -> VerifyReport:
    """Read every object of the backup at ``source_spec`` to the end, writing nothing."""
    source = open_source(source_spec)
    storage = source.storage.open()
    readable = [s for s in source.segments if storage.size(s.name) is not None]
    verdicts = _verify(source, readable, workers, progress or NullProgress(), engine)
    return VerifyReport(source, verdicts)


# --- restore ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreRequest:
    """A restore-table invocation."""

    source: StorageSpec
    table: TableSpec
    segment: int | None = None
    workers: int = 1
    rate: RateSpec = field(default_factory=RateSpec)
    create: bool = False
    force: bool = False
    verify_first: bool = False
    billing_mode: str | None = None
    sse_kms_key_id: str | None = None
    ttl: bool = True
    delete_extraneous: bool = False
    """After the restore, delete the target's items that the backup lacks (conditionally)."""


@dataclass(frozen=True)
class RestoreSummary:
    """What a restore wrote; ``extraneous`` is set when the target held items before (or
    ``delete_extraneous`` was asked): the items it has that the backup lacks."""

    table: str
    source: BackupSource
    segments: Mapping[int, SegmentRestore]
    created: bool
    seconds: float
    warnings: tuple[str, ...] = ()
    extraneous: ExtraneousReport | None = None

    @property
    def items(self) -> int:
        return sum(r.items for r in self.segments.values())

    @property
    def calls(self) -> CallCounts:
        """Requests the segments made and the errors among them that were retried."""
        return sum((r.calls for r in self.segments.values()), CallCounts())


def _refuse(problems: Sequence[str], what: str) -> BackupIntegrityError:
    shown = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
    return BackupIntegrityError(
        f"{what}: {shown}",
        before_write=True,
        hint="nothing was written; restore a complete backup (verify-backup lists the damage)",
    )


def _select(source: BackupSource, segment: int | None) -> list[SegmentSource]:
    if segment is None:
        return list(source.segments)
    chosen = [s for s in source.segments if s.segment == segment]
    if not chosen:
        have = ", ".join(str(s.segment) for s in source.segments)
        raise UsageError(
            f"--segment {segment} is not in this backup", hint=f"its segments are: {have}"
        )
    return chosen


def _check_request(request: RestoreRequest) -> None:
    if request.segment is not None and request.create:
        raise UsageError(
            "--segment restores into an existing table; --create is for whole-job restores",
            hint="create the table once (a whole restore with --create, or yourself), then "
            "run the segments",
        )
    if request.segment is not None and request.delete_extraneous:
        raise UsageError(
            "--delete-extraneous needs the whole backup's keys; one --segment does not know them",
            hint="restore the segments, then run the whole restore once more with --force "
            "--delete-extraneous (or diff against the backup: verify-backup --against TABLE)",
        )


def _damaged_segment(
    exc: SegmentFailedError,
    chosen: Sequence[SegmentSource],
    finished: Mapping[int, SegmentRestore],
    alone: bool,
) -> BackupIntegrityError | None:
    """A segment refused as damaged before any of it was written: when no other segment can
    have written either (the only one, or the first of a one-at-a-time run), the whole
    restore wrote nothing (exit 2); otherwise ``None`` (exit 3, the failure mid-job)."""
    cause = exc.cause
    if not isinstance(cause, BackupIntegrityError) or not cause.before_write:
        return None
    first = exc.segments[:1] == (chosen[0].segment,)
    if len(chosen) == 1 or (alone and first and not finished):
        return BackupIntegrityError(
            f"refusing to restore: {cause.message}",
            before_write=True,
            hint="nothing was written; restore a good backup (verify-backup lists the damage)",
        )
    return None


def run_restore(
    request: RestoreRequest,
    *,
    progress: ProgressListener | None = None,
    engine: Engine = LOCAL,
    on_extraneous: Callable[[Key, ExtraAction], None] | None = None,
) -> RestoreSummary:
    """Restore a backup (or one of its segments) into a table.

    Everything that can be checked before writing is checked first (listing, manifests,
    sizes, the target's key schema and emptiness, room to spool; with ``verify_first`` every
    object in full): such refusals are exit-2 errors. Each segment's object is then proven
    against its manifest before any of its items is written, so a damaged segment writes
    nothing; the failure names it (exit 3 when other segments were written, exit 2 when
    nothing was). After a restore into a table that held items (or with
    ``delete_extraneous``), the target's items the backup lacks are counted (and deleted),
    each reported to ``on_extraneous``.
    """
    began = time.monotonic()
    listener = progress or NullProgress()
    _check_request(request)
    source = open_source(request.source)
    if source.problems:
        raise _refuse(source.problems, f"refusing to restore {source.storage.location.url()}")
    chosen = _select(source, request.segment)
    warnings: list[str] = []
    if source.kind == "original":
        warnings.append(
            "this backup has no manifests (the original tool's format): its integrity cannot "
            "be checked, so it cannot be verified before writing; items are written as they "
            "are read, each line checked as it decodes"
        )
        for warning in warnings:
            log.warning(warning)
    if request.verify_first:
        verdicts = _verify(source, chosen, request.workers, listener, engine)
        problems = describe_verdicts(verdicts.values())
        if problems:
            raise _refuse(problems, "--verify-first found damage")
    target = prepare_target(
        request.table,
        source.definition,
        create=request.create,
        force=request.force,
        check_empty=request.segment is None,
        billing_mode=request.billing_mode,
        sse_kms_key_id=request.sse_kms_key_id,
        ttl=request.ttl,
    )
    schema, created = target.schema, target.created
    expiring = ttl_attribute(source.definition) if source.definition and created else None
    if expiring and request.ttl:
        warnings.append(
            f"TTL is on for {expiring!r} as in the backup: DynamoDB will delete restored items "
            f"whose {expiring} is in the past (restore with --no-ttl to keep them)"
        )
        log.warning(warnings[-1])
    total = max(len(source.segments), 1)
    workers = _pool_size(len(chosen), request.workers)
    if engine.here:  # a cluster's workers spool on their own machines
        check_spool_space(spool_space_needed(chosen, workers))
    share = engine.share(len(chosen), total, workers)
    collect = request.delete_extraneous or target.held_items
    job = RestoreJob(
        table=request.table.with_pool(8),
        storage=source.storage,
        schema=schema,
        segments=tuple(chosen),
        rate_write=request.rate.scaled(share).write,
        collect_keys=collect,
    )
    listener.start("restore", sum(s.manifest.item_count for s in chosen if s.manifest) or None)
    finished: dict[int, SegmentRestore] = {}
    try:
        results = engine.run(
            SegmentRun(
                functools.partial(restore_segment, job),
                [s.segment for s in chosen],
                total,
                workers=workers,
                processes=workers > 1,
                progress=listener,
                on_result=finished.__setitem__,
            )
        )
    except SegmentFailedError as exc:
        nothing = _damaged_segment(exc, chosen, finished, engine.here and workers == 1)
        if nothing is not None:
            raise nothing from exc
        done = sum(r.items for r in finished.values())
        cause = exc.cause
        if isinstance(cause, BackupIntegrityError) and cause.before_write:
            cause = BackupIntegrityError(cause.message, before_write=False, hint=cause.hint)
        raise SegmentFailedError(
            f"{exc.message}; finished segments {sorted(finished) or 'none'} wrote {done} item(s)",
            segments=exc.segments,
            hint="fix the cause (a damaged backup: restore a good one), then re-run the restore "
            "with --force --delete-extraneous (puts are idempotent)",
            cause=cause,
        ) from exc
    except JobInterrupted as exc:
        exc.hint = (
            "items of unfinished segments may be partly written; a re-run with --force (and "
            "the same flags) writes every segment again (puts are idempotent)"
        )
        raise
    listener.finish("restore")  # only when done: a stopped job's bar keeps its true count
    extraneous = None
    if collect:
        keys = frozenset().union(*(r.keys for r in results.values()))
        extraneous = find_extraneous(
            request.table,
            schema,
            keys,
            delete=request.delete_extraneous,
            rate_write=request.rate.write,
            on_item=on_extraneous,
        )
    return RestoreSummary(
        request.table.name,
        source,
        results,
        created,
        time.monotonic() - began,
        tuple(warnings),
        extraneous,
    )
