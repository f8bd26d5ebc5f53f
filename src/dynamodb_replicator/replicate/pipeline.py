"""One batch of change records, end to end: parse -> plan -> apply -> :class:`BatchOutcome`.

Shared by the Lambda entry point and any other consumer of change records: a consumer calls
:meth:`Replicator.process_records` with the records it received, in order, and retries from the
first id of :attr:`BatchOutcome.failed_ids`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..dynamo import Backoff
from ..dynamo.backoff import Clock
from ..errors import IncompleteBatchError
from ..items import Key, encode_key_for_report
from .apply import ApplyResult, TableRef, apply_plan, merge_results
from .config import ReplicatorConfig
from .metrics import emf_document
from .plan import Sources, WritePlan, plan_batch
from .records import Change, ParsedBatch, parse_batch

__all__ = ["LAMBDA_BACKOFF", "BatchOutcome", "Replicator", "outcome_of"]

log = logging.getLogger(__name__)

#: Leftover retries in a Lambda: many short ones, bounded in practice by the deadline.
LAMBDA_BACKOFF = Backoff(max_attempts=30, base=0.05, cap=2.0)


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one batch: counts, the ids to retry, the replication lag.

    ``unwritten_keys`` names the keys a write could not land after bounded retries (empty when
    the batch stopped for another reason, such as a malformed record). ``refused_id`` is the
    record refused as unusable when that is where the batch stopped (it can be skipped on
    purpose by its id). ``skipped`` counts records left out by the filters,
    ``skipped_on_request`` those named to be skipped.
    """

    received: int
    applied: int
    skipped: int
    failed_ids: tuple[str, ...]
    lag_ms: int | None = None
    reason: str | None = None
    unwritten_keys: tuple[Key, ...] = ()
    skipped_on_request: int = 0
    refused_id: str | None = None

    @property
    def failed(self) -> int:
        return len(self.failed_ids)

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial-batch response Lambda expects (``ReportBatchItemFailures``)."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failed_ids]}

    def _failure_properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        if self.reason:
            props["failure"] = self.reason
        if self.unwritten_keys:
            props["unwritten_keys"] = [_key_text(k) for k in self.unwritten_keys]
        return props

    def metrics(self, namespace: str, replica_table: str) -> dict[str, Any]:
        """This outcome as an EMF document."""
        values: dict[str, tuple[float, str]] = {
            "RecordsReceived": (self.received, "Count"),
            "RecordsApplied": (self.applied, "Count"),
            "RecordsSkipped": (self.skipped, "Count"),
            "RecordsSkippedOnRequest": (self.skipped_on_request, "Count"),
            "RecordsFailed": (self.failed, "Count"),
        }
        if self.lag_ms is not None:
            values["ReplicationLag"] = (self.lag_ms, "Milliseconds")
        return emf_document(
            namespace,
            values,
            dimensions={"ReplicaTable": replica_table},
            properties=self._failure_properties() or None,
        )


def _key_text(key: Key) -> str:
    return encode_key_for_report(key, sorted(key))


def outcome_of(plan: WritePlan, result: ApplyResult, *, now_ms: int) -> BatchOutcome:
    """Combine a plan and what applying it did into the batch's outcome (pure)."""
    stop = plan.safe_stop(min(plan.stop, result.stop))
    created = [c for p, c in plan.kept if p < stop and c is not None]
    reason = None
    refused = None
    unwritten: tuple[Key, ...] = ()
    if result.error is not None and result.stop <= plan.stop:
        reason = result.error.message
        if isinstance(result.error, IncompleteBatchError):
            unwritten = tuple(dict(k) for k in result.error.keys)
    elif plan.failure is not None:
        reason = plan.failure.reason
        refused = plan.failure.record_id
    return BatchOutcome(
        received=plan.received,
        applied=sum(1 for p, _ in plan.kept if p < stop),
        skipped=sum(1 for p in plan.skipped if p < stop),
        failed_ids=plan.record_ids[stop:],
        lag_ms=max(0, now_ms - max(created) // 1000) if created else None,
        reason=reason,
        unwritten_keys=unwritten,
        skipped_on_request=sum(1 for p in plan.skipped_on_request if p < stop),
        refused_id=refused,
    )


class Replicator:
    """Applies batches of change records to the replica, as configured."""

    def __init__(
        self,
        config: ReplicatorConfig,
        *,
        replica: TableRef,
        primary: TableRef | None = None,
        backoff: Backoff = LAMBDA_BACKOFF,
        wall_clock: Callable[[], float] = time.time,
    ):
        if config.mode == "fetch" and primary is None:
            raise ValueError("fetch mode needs the primary table")
        self.config = config
        self.replica = replica
        self.primary = primary
        self.backoff = backoff
        self.wall_clock = wall_clock
        self._warned = False
        self._source: str | None = None  # the table of the first record seen, when unconfigured

    def _warn_about_order(self, changes: Sequence[Change]) -> None:
        """Once per process: Kinesis order is only kept within a batch in image mode."""
        if self._warned or self.config.mode != "image":
            return
        if any(c.source == "kinesis" for c in changes):
            self._warned = True
            log.warning(
                "Kinesis records in image mode: a stale duplicate arriving in a later batch can "
                "overwrite a newer item on the replica; set REPLICATION_MODE=fetch to rule it out"
            )

    def _sources(self) -> Sources:
        """The configured sources; without any, the table of the first record this replicator
        applied, so a warm function also refuses a batch that starts with another table."""
        sources = self.config.sources
        if sources.mapped or sources.expected is not None or self._source is None:
            return sources
        return Sources(expected=self._source, learned=True)

    def _learn_source(self, batch: ParsedBatch, plan: WritePlan) -> None:
        if self._source is None and not self.config.table_map:
            named = [c.table for c in batch.changes if c.position < plan.stop and c.table]
            self._source = named[0] if named else None

    def _replica_for(self, source: str | None) -> TableRef:
        """The replica of ``source``: the mapped one under a table map, else the replica."""
        mapped = dict(self.config.table_map)
        if source is None or source not in mapped:
            return self.replica
        return TableRef(self.replica.client, mapped[source])

    def _primary_for(self, source: str | None) -> TableRef | None:
        if self.primary is None or not self.config.table_map or source is None:
            return self.primary
        return TableRef(self.primary.client, source)

    def _apply(self, plan: WritePlan, backoff: Backoff) -> ApplyResult:
        """Apply ``plan``: to the replica, or under a table map to each source's replica."""
        concurrency = self.config.write_concurrency
        if not self.config.table_map:
            return apply_plan(
                plan, self.replica, primary=self.primary, backoff=backoff, concurrency=concurrency
            )
        results = []
        for source in dict.fromkeys(w.table for w in plan.writes):
            part = replace(plan, writes=tuple(w for w in plan.writes if w.table == source))
            results.append(
                apply_plan(
                    part,
                    self._replica_for(source),
                    primary=self._primary_for(source),
                    backoff=backoff,
                    concurrency=concurrency,
                )
            )
        return merge_results(results, plan.stop)

    @staticmethod
    def _log_skipped(batch: ParsedBatch, stop: int) -> None:
        """One warning per record skipped on request before ``stop`` (later ones are retried,
        and logged when the retry skips them)."""
        for record in batch.skipped:
            if record.position >= stop:
                break
            log.warning(
                "record %s (position %d) skipped on request, keys %s: not replicated",
                record.record_id,
                record.position,
                record.keys,
                extra={
                    "record_id": record.record_id,
                    "position": record.position,
                    "keys": record.keys,
                    "skipped_on_request": True,
                },
            )

    @classmethod
    def from_config(cls, config: ReplicatorConfig, **kwargs: Any) -> Replicator:
        """A replicator with its own clients, built from ``config``."""
        replica = TableRef(config.replica.client(), config.replica.name)
        primary = None
        if config.primary is not None:
            primary = TableRef(config.primary.client(), config.primary.name)
        return cls(config, replica=replica, primary=primary, **kwargs)

    def process_records(
        self,
        records: Sequence[Any],
        *,
        deadline: float | None = None,
        clock: Clock = time.monotonic,
        binary_as_text: bool = True,
    ) -> BatchOutcome:
        """Apply ``records`` (in order) and say which must be retried.

        ``deadline`` is a value of ``clock`` after which no write starts and no retry waits.
        ``binary_as_text`` is false for records read through boto3 (binary already bytes).
        """
        batch = parse_batch(records, binary_as_text=binary_as_text, skip=self.config.skip_records)
        self._warn_about_order(batch.changes)
        plan = plan_batch(
            batch, mode=self.config.mode, filters=self.config.filters, sources=self._sources()
        )
        self._learn_source(batch, plan)
        self._log_skipped(batch, plan.stop)
        if plan.failure is not None:
            log.error(
                "record %s (position %d) refused: %s (to skip it on purpose: "
                "SKIP_SEQUENCE_NUMBERS=%s for the function, --skip-record %s for the follower)",
                plan.failure.record_id,
                plan.failure.position,
                plan.failure.reason,
                plan.failure.record_id,
                plan.failure.record_id,
                extra={"record_id": plan.failure.record_id, "position": plan.failure.position},
            )
        backoff = replace(self.backoff, deadline=deadline, clock=clock)
        result = self._apply(plan, backoff)
        outcome = outcome_of(plan, result, now_ms=int(self.wall_clock() * 1000))
        if result.error is not None and outcome.failed_ids:
            log.error(
                "record %s and the %d after it not applied: %s",
                outcome.failed_ids[0],
                outcome.failed - 1,
                result.error.message,
                extra={
                    "record_id": outcome.failed_ids[0],
                    "unwritten_keys": [_key_text(k) for k in outcome.unwritten_keys],
                },
            )
        log.info(
            "batch of %d: %d applied, %d skipped, %d skipped on request, %d to retry",
            outcome.received,
            outcome.applied,
            outcome.skipped,
            outcome.skipped_on_request,
            outcome.failed,
            extra={
                "received": outcome.received,
                "applied": outcome.applied,
                "skipped": outcome.skipped,
                "skipped_on_request": outcome.skipped_on_request,
                "failed": outcome.failed,
                "lag_ms": outcome.lag_ms,
            },
        )
        return outcome
