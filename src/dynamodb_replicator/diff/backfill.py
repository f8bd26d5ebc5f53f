"""``--backfill``: copy every primary item of a segment to the replica, without comparing.

By default each item is written only where the replica lacks its key: a consistent batch read
finds the absent keys, and each put carries ``attribute_not_exists``, so a backfill running
while replication is live never replaces a newer replicated item. ``--overwrite`` uses plain
batch writes instead, for speed, when nothing else writes the replica.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..dynamo import Put, batch_get, batch_write, conditional_put, scan_segment
from ..errors import AwsError, JobInterrupted
from ..items import Item, extract_key, key_identity
from ..segments import SegmentContext
from .model import Action, Discrepancy, Kind
from .repair import RepairSides, absent_condition, write_item
from .segment import TASK_PRIMARY, TASK_WRITTEN, SegmentJob, SegmentOutcome, make_sides, stats_of

__all__ = ["backfill_segment"]

log = logging.getLogger(__name__)


def _absent(sides: RepairSides, items: Sequence[Item]) -> list[Item]:
    """The items whose key the replica lacks (consistent read, keys only)."""
    schema = sides.schema
    keys = [extract_key(item, schema) for item in items]
    got = batch_get(
        sides.replica,
        sides.replica_table,
        keys,
        schema,
        consistent=True,
        projection=schema.names,
        backoff=sides.backoff,
        limiter=sides.replica_limiter,
    )
    present = got.by_key(schema)
    return [item for item in items if key_identity(item, schema) not in present]


def _check_cap(sides: RepairSides, attempts: int, wanted: int) -> int:
    """How many of ``wanted`` writes the ``--max-writes`` cap still allows."""
    cap = sides.options.max_writes
    if cap is None:
        return wanted
    return max(0, min(wanted, cap - attempts))


def _put_absent(sides: RepairSides, items: Sequence[Item]) -> list[Discrepancy]:
    """Put-if-absent, one item at a time; failures come back as failed ``missing`` entries."""
    failed: list[Discrepancy] = []
    condition = absent_condition(sides.schema)
    for item in items:
        try:
            result = conditional_put(
                sides.replica, sides.replica_table, item, condition, limiter=sides.write_limiter
            )
        except AwsError as exc:
            log.warning("backfill put failed: %s", exc.message)
            sides.tally.add("failed")
            failed.append(
                Discrepancy(Kind.MISSING, extract_key(item, sides.schema), action=Action.FAILED)
            )
            continue
        sides.tally.add("written" if result.applied else "skipped")
    return failed


def backfill_segment(
    job: SegmentJob,
    ctx: SegmentContext | None,
    *,
    segment: int | None,
    total_segments: int | None,
) -> SegmentOutcome:
    """Write every primary item of one segment to the replica (see the module docstring)."""
    sides = make_sides(job)
    opts = job.options
    attempts = 0
    failed: list[Discrepancy] = []
    for page in scan_segment(
        sides.primary,
        sides.primary_table,
        segment=segment,
        total_segments=total_segments,
        limiter=sides.primary_limiter,
        page_size=opts.page_size,
    ):
        if ctx is not None and ctx.cancelled():
            raise JobInterrupted(f"segment {ctx.segment} stopped: the job is stopping")
        items = [write_item(item, None, opts.ignore_attributes) for item in page.items]
        sides.tally.add("scanned_primary", len(items))
        todo = items if opts.overwrite else _absent(sides, items)
        sides.tally.add("skipped", len(items) - len(todo))
        if opts.dry_run:
            sides.tally.add("would_put", len(todo))
        else:
            allowed = _check_cap(sides, attempts, len(todo))
            attempts += allowed
            written = allowed
            if opts.overwrite:
                batch_write(
                    sides.replica,
                    sides.replica_table,
                    [Put(item) for item in todo[:allowed]],
                    sides.schema,
                    backoff=sides.backoff,
                    limiter=sides.write_limiter,
                )
                sides.tally.add("written", allowed)
            else:
                before = len(failed)
                failed.extend(_put_absent(sides, todo[:allowed]))
                written -= len(failed) - before
            if ctx is not None:
                ctx.advance(TASK_WRITTEN, written)
            if allowed < len(todo):  # more to write than --max-writes allows: stop here
                return SegmentOutcome(tuple(failed), stats_of(sides), capped=True)
        if ctx is not None:
            ctx.advance(TASK_PRIMARY, len(items))
    return SegmentOutcome(tuple(failed), stats_of(sides))
