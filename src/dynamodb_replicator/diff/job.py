"""A whole diff-tables run: checks before any work, segments over a pool, caps, the result.

Without a ``--max-*`` cap each segment repairs what it finds as it goes. With a cap, the
segments only find; the job then adds up the writes and deletes a repair would need and refuses
(writing nothing) when they exceed a cap, or repairs in this process when they do not.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..dynamo import Backoff, TablePair, TableSpec, describe_pair
from ..errors import JobInterrupted, RepairLimitError, SegmentFailedError, UsageError
from ..items import KeySchema, ignore_matcher
from ..progress import NullProgress, ProgressListener
from ..segments import LOCAL, Engine, LocalEngine, SegmentRun, share_for
from .model import DiffOptions, DiffResult, DiffStats, Discrepancy, Kind
from .reference import compare_reference
from .repair import repair_batch
from .segment import (
    TASK_FOUND,
    TASK_PRIMARY,
    TASK_REPAIRED,
    TASK_REPLICA,
    TASK_WRITTEN,
    SegmentJob,
    SegmentOutcome,
    make_sides,
    stats_of,
)
from .worker import diff_segment, merge_partial_outcomes

__all__ = ["check_ignored", "check_options", "run_diff", "verify_against"]

log = logging.getLogger(__name__)


def check_options(options: DiffOptions) -> None:
    """Refuse option values that make no sense (usage errors, before any work)."""
    if options.recheck_delay < 0:
        raise UsageError("--recheck-delay must be 0 or more seconds")
    for name, value in (
        ("--max-writes", options.max_writes),
        ("--max-deletes", options.max_deletes),
    ):
        if value is not None and value < 0:
            raise UsageError(f"{name} must be 0 or more")
    for name, rate in (("--rate-read", options.rate_read), ("--rate-write", options.rate_write)):
        if rate is not None and rate <= 0:
            raise UsageError(f"{name} must be a positive number of capacity units per second")
    if options.overwrite and not options.backfill:
        raise UsageError("--overwrite only applies to --backfill", hint="add --backfill")
    if options.overwrite and options.ignore_attributes:
        raise UsageError(
            "--overwrite replaces whole items, so it would erase the replica's own values of "
            "--ignore-attributes",
            hint="drop --overwrite (the default backfill writes only absent keys)",
        )
    if options.recheck_batch < 1:
        raise UsageError("the re-check batch must hold at least one key")
    if options.method not in METHODS:
        raise UsageError(
            f"unknown diff method {options.method!r}", hint=f"use one of: {', '.join(METHODS)}"
        )
    if options.window < 1 or not 0 < options.fallback_share <= 1:
        raise UsageError(
            "the scan-both window must hold at least one item and its fallback share be in (0, 1]"
        )


#: The diff algorithms (see :class:`DiffOptions`); the first is the default.
METHODS = ("scan-both", "lookup")


def check_ignored(schema: KeySchema, patterns: Collection[str]) -> None:
    """Refuse ``--ignore-attributes`` patterns that match a key attribute: keys are never ignored."""
    if not patterns:
        return
    matches = ignore_matcher(patterns)
    hit = [name for name in schema.names if matches(name)]
    if hit:
        raise UsageError(
            f"--ignore-attributes matches key attribute(s) {', '.join(hit)}",
            hint="keys identify items and cannot be ignored; narrow the pattern",
        )


def _warn_global(pair: TablePair) -> None:
    for side, table in (("primary", pair.primary), ("replica", pair.replica)):
        if table.info.is_global_replica:
            log.warning(
                "the %s table %s is a Global Table replica: writes to it replicate onward",
                side,
                table.spec,
            )


def _emit(found: Iterable[Discrepancy], sink: Callable[[Discrepancy], None] | None) -> None:
    if sink is not None:
        for d in found:
            sink(d)


def run_diff(
    primary: TableSpec,
    replica: TableSpec,
    options: DiffOptions | None = None,
    *,
    segments: Sequence[int] | None = None,
    total_segments: int = 1,
    workers: int = 1,
    progress: ProgressListener | None = None,
    on_discrepancy: Callable[[Discrepancy], None] | None = None,
    engine: Engine = LOCAL,
    on_stopped: Callable[[DiffResult], None] | None = None,
) -> DiffResult:
    """Compare (and with ``options.repair`` repair, or with ``options.backfill`` fill) the
    replica from the primary over ``segments`` of ``total_segments`` (default: all).

    The ``engine`` runs the segments: the local pool by default (more than one worker runs them
    in worker processes), or a cluster, each segment enforcing its 1/M share of the rate
    budgets. ``on_discrepancy`` receives each discrepancy once its segment is done. Raises :class:`UsageError`/:class:`ConfigError`
    before any work (same table, key schemas differ, table not found),
    :class:`RepairLimitError` when a cap would be exceeded, and
    :class:`SegmentFailedError` when a segment fails, :class:`JobInterrupted` on Ctrl-C. When
    it stops either way, the work done is still reported: ``on_discrepancy`` receives what
    stopped segments had acted on (repairs written), and ``on_stopped`` the result of the
    finished segments and the stopped segments' partial work (when there is any).
    """
    started = time.monotonic()
    options = options or DiffOptions()
    check_options(options)
    run = list(range(total_segments)) if segments is None else list(segments)
    pair = describe_pair(primary, replica)
    _warn_global(pair)
    p_info, r_info = pair.primary.info, pair.replica.info
    check_ignored(p_info.key_schema, options.ignore_attributes)
    processes = workers > 1 and len(run) > 1
    used = min(workers, len(run)) if processes else 1
    two_phase = options.capped and options.repair and not options.backfill and not options.dry_run
    share = engine.share(len(run), total_segments, used)
    job = SegmentJob(
        primary=primary,
        replica=replica,
        schema=p_info.key_schema,
        options=options,
        rate_share=share,
        repair_here=not two_phase,
    )
    listener = progress or NullProgress()
    fraction = len(run) / max(total_segments, 1)
    tasks = [TASK_PRIMARY] if options.backfill else [TASK_PRIMARY, TASK_REPLICA, TASK_FOUND]
    if options.writes and not two_phase:
        tasks.append(TASK_WRITTEN if options.backfill else TASK_REPAIRED)
    totals = {TASK_PRIMARY: p_info.item_count, TASK_REPLICA: r_info.item_count}
    for task in tasks:
        total = totals.get(task)
        listener.start(task, round(total * fraction) if total else None)
    outcomes: dict[int, SegmentOutcome] = {}

    def collect(segment: int, outcome: SegmentOutcome) -> None:
        outcomes[segment] = outcome
        if not two_phase:
            _emit(outcome.discrepancies, on_discrepancy)

    def collect_partial(segment: int, partial: object) -> None:
        if isinstance(partial, SegmentOutcome) and segment not in outcomes:
            collect(segment, partial)

    names = p_info.key_schema.names
    capped = False
    ok = False
    try:
        if options.backfill and options.max_writes is not None and options.writes:
            capped = _backfill_capped(job, run, total_segments, listener, collect)
        else:
            engine.run(
                SegmentRun(
                    functools.partial(diff_segment, job),
                    run,
                    total_segments,
                    workers=used,
                    processes=processes,
                    progress=listener,
                    on_result=collect,
                    on_partial=collect_partial,
                    merge_partial=functools.partial(merge_partial_outcomes, p_info.key_schema),
                )
            )
        ok = True
    except (SegmentFailedError, JobInterrupted) as exc:
        if isinstance(exc, JobInterrupted):
            exc.hint = _redo_hint(options, run, total_segments, exc.done)
        if on_stopped is not None and outcomes:
            on_stopped(_result(*_gather(outcomes, run), names, started))
        raise
    finally:
        if ok:  # a job that stopped early keeps its bars at their true counts
            for task in tasks:
                listener.finish(task)
    found, stats = _gather(outcomes, run)
    if two_phase:
        share = share_for(len(run), total_segments, 1)
        found, stats = _repair_capped(job, found, stats, names, started, on_discrepancy, share)
    if capped:
        raise RepairLimitError(
            f"backfill stopped at --max-writes {options.max_writes}: more items to write",
            hint="raise --max-writes (nothing beyond the cap was written), or run without it",
            result=_result(found, stats, names, started),
        )
    return _result(found, stats, names, started)


def _gather(
    outcomes: Mapping[int, SegmentOutcome], run: Sequence[int]
) -> tuple[list[Discrepancy], DiffStats]:
    found = [d for s in run if s in outcomes for d in outcomes[s].discrepancies]
    stats = sum((outcomes[s].stats for s in run if s in outcomes), DiffStats())
    return found, stats


def _redo_hint(
    options: DiffOptions, run: Sequence[int], total_segments: int, done: Collection[int]
) -> str:
    """What a re-run with the same flags does after an interrupted diff."""
    if options.backfill:
        again = "scans the primary again and writes only what is still absent"
    elif options.repair and not options.dry_run:
        again = "compares everything again; repairs already written are found agreeing"
    else:
        again = "compares everything again"
    left = [s for s in run if s not in done]
    if total_segments > 1 and done and left:
        names = ", ".join(str(s) for s in left[:8]) + (" ..." if len(left) > 8 else "")
        return (
            f"a re-run with the same flags {again}; to finish only what is left, run with "
            f"--segments {total_segments} and --segment N for N in {names}"
        )
    return f"a re-run with the same flags {again}"


def _result(
    found: Sequence[Discrepancy], stats: DiffStats, names: tuple[str, ...], started: float
) -> DiffResult:
    unresolved = sum(1 for d in found if not d.resolved)
    return DiffResult(
        tuple(found), replace(stats, unresolved=unresolved), time.monotonic() - started, names
    )


def _backfill_capped(
    job: SegmentJob,
    run: Sequence[int],
    total_segments: int,
    listener: ProgressListener,
    collect: Callable[[int, SegmentOutcome], None],
) -> bool:
    """Backfill one segment after another in this process, so the write cap is exact.

    True when the cap stopped the backfill (nothing beyond it was written).
    """
    left = job.options.max_writes
    assert left is not None
    for segment in run:
        options = replace(job.options, max_writes=left)
        results = LocalEngine().run(
            SegmentRun(
                functools.partial(diff_segment, replace(job, options=options)),
                [segment],
                total_segments,
                progress=listener,
            )
        )
        outcome = results[segment]
        collect(segment, outcome)
        if outcome.capped:
            return True
        left -= outcome.stats.written + outcome.stats.failed
    return False


def _repair_capped(
    job: SegmentJob,
    found: list[Discrepancy],
    stats: DiffStats,
    names: tuple[str, ...],
    started: float,
    sink: Callable[[Discrepancy], None] | None,
    share: float,
) -> tuple[list[Discrepancy], DiffStats]:
    """Check the whole repair against the caps, then repair here (or refuse, writing nothing)."""
    opts = job.options
    puts = sum(1 for d in found if d.kind is not Kind.EXTRANEOUS)
    deletes = len(found) - puts
    over = []
    if opts.max_writes is not None and puts > opts.max_writes:
        over.append(f"{puts} writes (--max-writes {opts.max_writes})")
    if opts.max_deletes is not None and deletes > opts.max_deletes:
        over.append(f"{deletes} deletes (--max-deletes {opts.max_deletes})")
    if over:
        plain = [replace(d, primary_item=None, replica_item=None) for d in found]
        _emit(plain, sink)
        raise RepairLimitError(
            f"repair refused, nothing written: it would need {' and '.join(over)}",
            hint="check that these are the right tables; raise the cap to repair them",
            result=_result(plain, stats, names, started),
        )
    sides = make_sides(replace(job, rate_share=share))
    done = [replace(d, primary_item=None, replica_item=None) for d in repair_batch(sides, found)]
    _emit(done, sink)
    return done, stats + stats_of(sides)


def verify_against(
    reference_pages: Iterable[Sequence[Mapping[str, Any]]],
    live: TableSpec,
    *,
    ignore_attributes: Collection[str] = (),
    segment: int | None = None,
    total_segments: int | None = None,
    consistent: bool = False,
    check_extraneous: bool = True,
    rate_read: float | None = None,
    progress: ProgressListener | None = None,
    on_discrepancy: Callable[[Discrepancy], None] | None = None,
    backoff: Backoff = Backoff(),
) -> DiffResult:
    """Compare reference items (pages of in-memory wire-format items, e.g. read from a backup)
    with the live table ``live``; read-only.

    ``missing``: a reference key the table lacks; ``different``: in both, not canonically
    equal (``attributes`` names them; ``ignore_attributes`` globs are left out);
    ``extraneous``: a table key not among the reference keys (found by scanning the table, or
    only ``segment`` of ``total_segments`` of it; skipped with ``check_extraneous=False``).
    Reference keys are kept in memory for that membership check. The result's
    ``stats.scanned_primary`` counts reference items, ``stats.scanned_replica`` table items;
    ``result.agree`` is true when nothing was found.
    """
    started = time.monotonic()
    found, stats, schema = compare_reference(
        reference_pages,
        live,
        ignore_attributes=ignore_attributes,
        segment=segment,
        total_segments=total_segments,
        consistent=consistent,
        check_extraneous=check_extraneous,
        rate_read=rate_read,
        progress=progress,
        on_discrepancy=on_discrepancy,
        backoff=backoff,
    )
    return DiffResult(tuple(found), stats, time.monotonic() - started, schema.names)
