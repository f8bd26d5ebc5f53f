"""The follower's ``apply`` callback: the Lambda handler's own pipeline on Streams API records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import IncompleteBatchError, ReplicatorError
from .follower import ApplyBatch, ApplyOutcome
from .pipeline import Replicator

__all__ = ["make_stream_applier"]


def make_stream_applier(replicator: Replicator) -> ApplyBatch:
    """An ``apply`` callback running the Lambda handler's own pipeline on Streams API records.

    Records read through boto3 carry binary as ``bytes``. The outcome names the last record
    applied in order and, when the pipeline left records to retry, an error saying which.
    """

    def apply(shard_id: str, records: list[dict[str, Any]]) -> ApplyOutcome:
        outcome = replicator.process_records(records, binary_as_text=False)
        if not outcome.failed_ids:
            return ApplyOutcome(
                _sequence_of(records[-1]), skipped_on_request=outcome.skipped_on_request
            )
        done = outcome.received - outcome.failed
        last = _sequence_of(records[done - 1]) if done > 0 else None
        message = (
            f"shard {shard_id}: record {outcome.failed_ids[0]} and the {outcome.failed - 1} "
            f"after it were not applied: {outcome.reason or 'unknown reason'}"
        )
        hint = "fix the cause, then run again: the follower resumes at that record"
        if outcome.refused_id is not None:
            hint = (
                "fix the record's producer and run again, or skip this one record on purpose "
                f"with --skip-record {outcome.refused_id}"
            )
        error: ReplicatorError = (
            IncompleteBatchError(message, keys=outcome.unwritten_keys, hint=hint)
            if outcome.unwritten_keys
            else ReplicatorError(message, hint=hint)
        )
        return ApplyOutcome(last, error)

    return apply


def _sequence_of(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])
