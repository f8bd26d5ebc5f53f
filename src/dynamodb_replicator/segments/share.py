"""Rate shares: how much of a job's budget each process and worker enforces.

One meaning everywhere for ``--rate-read`` / ``--rate-write``: the budget of the whole job (all
M segments). A process that runs k of the M segments enforces ``k/M`` of it; when it runs them
in W worker processes, each worker enforces ``1/W`` of that share, so together they stay within
it (each worker's token bucket is a :class:`~dynamodb_replicator.dynamo.RateLimiter`).
"""

from __future__ import annotations

__all__ = ["share_for"]


def share_for(segments_here: int, total_segments: int, workers: int = 1) -> float:
    """The fraction of a job budget one worker enforces: k/M of the job, split over W workers."""
    if total_segments <= 0 or segments_here <= 0:
        return 1.0
    return (min(segments_here, total_segments) / total_segments) / max(workers, 1)
