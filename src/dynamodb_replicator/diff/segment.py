"""One segment of a diff job: what a worker is given (:class:`SegmentJob`), the sides it works
on (clients, rate limiters, retry policy) and what it hands back (:class:`SegmentOutcome`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..dynamo import Backoff, RateLimiter, TableSpec
from ..dynamo.clients import Client
from ..dynamo.retry import call_counts
from ..items import KeySchema
from .model import DiffOptions, DiffStats, Discrepancy, Tally
from .repair import RepairSides

__all__ = [
    "TASK_FOUND",
    "TASK_PRIMARY",
    "TASK_REPAIRED",
    "TASK_REPLICA",
    "TASK_WRITTEN",
    "SegmentJob",
    "SegmentOutcome",
    "make_sides",
    "stats_of",
    "strip_items",
]


TASK_PRIMARY = "scan primary"
TASK_REPLICA = "scan replica"
TASK_FOUND = "discrepancies"
TASK_REPAIRED = "repaired"
TASK_WRITTEN = "written"


@dataclass(frozen=True)
class SegmentJob:
    """Everything a worker process needs to diff (or backfill) one segment; picklable.

    ``rate_share`` is this worker's fraction of the job's rate budgets; ``repair_here`` is
    false when repairs wait for the whole job (a ``--max-*`` cap is set).
    """

    primary: TableSpec
    replica: TableSpec
    schema: KeySchema
    options: DiffOptions
    rate_share: float = 1.0
    repair_here: bool = True


@dataclass(frozen=True)
class SegmentOutcome:
    """What one segment found and did; ``capped``: a backfill stopped at ``--max-writes``."""

    discrepancies: tuple[Discrepancy, ...]
    stats: DiffStats
    capped: bool = False


def make_sides(
    job: SegmentJob,
    primary: Client | None = None,
    replica: Client | None = None,
    *,
    tally: Tally | None = None,
) -> RepairSides:
    """Clients, this worker's rate limiters and the retry policy for one job."""
    opts = job.options
    share = job.rate_share

    def limiter(rate: float | None) -> RateLimiter:
        return RateLimiter(None if rate is None else rate * share)

    return RepairSides(
        primary=primary if primary is not None else job.primary.client(),
        primary_table=job.primary.name,
        replica=replica if replica is not None else job.replica.client(),
        replica_table=job.replica.name,
        schema=job.schema,
        options=opts,
        primary_limiter=limiter(opts.rate_read),
        replica_limiter=limiter(opts.rate_read),
        write_limiter=limiter(opts.rate_write),
        backoff=Backoff(max_attempts=opts.max_retries),
        tally=tally if tally is not None else Tally(),
    )


def strip_items(d: Discrepancy) -> Discrepancy:
    """Drop the items a repair worked from, so results cross processes cheaply."""
    return replace(d, primary_item=None, replica_item=None)


def stats_of(sides: RepairSides) -> DiffStats:
    """The segment's counts plus the capacity its limiters metered and its clients' requests."""
    calls = call_counts(sides.primary, sides.replica)
    return sides.tally.freeze(
        read_units=sides.primary_limiter.consumed + sides.replica_limiter.consumed,
        write_units=sides.write_limiter.consumed,
    ) + DiffStats(requests=calls.requests, retried_errors=calls.errors)
