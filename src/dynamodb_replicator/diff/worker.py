"""What a worker runs for one segment, and how a retried segment's attempts fold together.

A segment that fails after writing repairs raises :class:`PartialSegmentError` carrying what it
had done (:class:`SegmentOutcome`); an engine that retries the segment folds that into the
retry's outcome with :func:`merge_partial_outcomes`, so each repaired key is reported once.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace

from ..errors import PartialSegmentError, ReplicatorError
from ..items import KeySchema, key_identity
from ..segments import SegmentContext
from .backfill import backfill_segment
from .model import Action, DiffStats, Discrepancy, Tally
from .passes import Finder
from .segment import SegmentJob, SegmentOutcome, make_sides, stats_of, strip_items

__all__ = [
    "diff_segment",
    "merge_partial_outcomes",
]


def diff_segment(job: SegmentJob, ctx: SegmentContext) -> SegmentOutcome:
    """Diff (or backfill) one segment; module-level so worker processes can run it."""
    total = ctx.total_segments if ctx.total_segments > 1 else None
    segment = ctx.segment if total is not None else None
    if job.options.backfill:
        return backfill_segment(job, ctx, segment=segment, total_segments=total)
    sides = make_sides(job)
    finder = Finder(
        sides,
        segment=segment,
        total_segments=total,
        repair_here=job.repair_here,
        progress=ctx,
    )
    try:
        found = finder.run()
    except Exception as exc:
        acted = [strip_items(d) for d in finder.found if d.action is not Action.NONE]
        if not acted:
            raise
        detail = exc.message if isinstance(exc, ReplicatorError) else f"{type(exc).__name__}: {exc}"
        hint = exc.hint if isinstance(exc, ReplicatorError) else None
        raise PartialSegmentError(
            detail,
            partial=SegmentOutcome(tuple(acted), stats_of(sides)),
            hint=hint,
            cause=exc,
        ) from exc
    if job.repair_here:
        found = [strip_items(d) for d in found]
    return SegmentOutcome(tuple(found), stats_of(sides))


def merge_partial_outcomes(
    schema: KeySchema, final: SegmentOutcome, partials: Sequence[object]
) -> SegmentOutcome:
    """Fold what failed attempts of one segment had done into its final outcome, each key once.

    A key the final attempt reports keeps the final entry. A key only an earlier attempt acted
    on agreed when the final attempt scanned: it is reported as that attempt left it (the latest
    attempt's entry), resolved; one whose repair had failed or been skipped became *skipped*
    (something else fixed it). Its kind, action and re-check are added to the counts, as are the
    capacity units the failed attempts consumed and the requests they made.
    """
    reported = {key_identity(d.key, schema) for d in final.discrepancies}
    earlier: dict[Hashable, Discrepancy] = {}
    units = DiffStats()
    for partial in partials:
        if not isinstance(partial, SegmentOutcome):
            continue
        units += DiffStats(
            read_units=partial.stats.read_units,
            write_units=partial.stats.write_units,
            requests=partial.stats.requests,
            retried_errors=partial.stats.retried_errors,
        )
        for d in partial.discrepancies:
            ident = key_identity(d.key, schema)
            if ident not in reported:
                earlier[ident] = d
    tally = Tally()
    added: list[Discrepancy] = []
    for d in earlier.values():
        if d.action is not Action.REPAIRED:
            d = replace(d, action=Action.SKIPPED)
        d = replace(strip_items(d), resolved=True)
        tally.add(d.kind.value)
        tally.add(d.action.value)
        tally.add("rechecked")
        added.append(d)
    return replace(
        final,
        discrepancies=final.discrepancies + tuple(added),
        stats=final.stats + tally.freeze() + units,
    )
