"""A parsed batch -> :class:`WritePlan`: filters, the failure prefix, one write per key (pure).

Only the records before the first unusable record are planned; that record and every later one
are left for Lambda to retry, so a later change of a key is never applied ahead of an earlier
one that failed. Per key only the newest change is written (by :attr:`Change.rank`): the last
record for DynamoDB streams, the newest creation time (ties by sequence number) for Kinesis.

A batch holds the changes of one source table, unless a table map names several: a record of
another table (by the table NAME in its ``eventSourceARN``, or a Kinesis payload's
``tableName``) is unusable, like a malformed one.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from ..errors import RecordError
from ..items import Item, Key
from .records import Change, ParsedBatch, RecordFailure

__all__ = [
    "Filters",
    "Mode",
    "PlannedWrite",
    "Sources",
    "WritePlan",
    "image_problem",
    "is_ttl_delete",
    "keeps",
    "plan_batch",
    "source_problem",
    "turnover_keeps",
]

Mode = Literal["image", "fetch"]
"""``image``: write the record's new image. ``fetch``: re-read the primary for each key."""

TurnoverRole = Literal["BEFORE", "AFTER"]


@dataclass(frozen=True)
class Filters:
    """Records to leave out: TTL deletes, and the hand-over window of the original tool.

    With ``turnover_role="BEFORE"`` only records created before ``turnover_at_ms`` (epoch
    milliseconds) are replicated; with ``"AFTER"`` only those created at or after it, so two
    consumers can hand a stream over without overlap.
    """

    skip_ttl_deletes: bool = False
    turnover_role: TurnoverRole | None = None
    turnover_at_ms: int | None = None


@dataclass(frozen=True)
class Sources:
    """Which source tables a batch may hold.

    Without ``mapped`` the batch holds one table: ``expected`` (configured, or ``learned`` from
    the consumer's earlier batches), else the table its first record names. With ``mapped`` (a
    table map) it may hold exactly those tables, and every record must name its table so it
    can be routed. Records that name no table (the Streams API, the original tool's Kinesis
    records) pass when nothing is mapped.
    """

    expected: str | None = None
    mapped: frozenset[str] = frozenset()
    learned: bool = False


class PlannedWrite(NamedTuple):
    """The one write for a key: put ``item``, delete ``key`` (``item`` None), or, in fetch mode,
    copy whatever the primary holds. ``position`` is the record it comes from, ``first`` the
    earliest record of the batch it stands for (the key's first kept record: until the write
    lands, none of them is applied), ``table`` the source table (``None`` when unnamed).
    Immutable; a named tuple because one is made per key on the hot path."""

    position: int
    key: Key
    key_id: Hashable
    item: Item | None
    first: int
    table: str | None = None


@dataclass(frozen=True)
class WritePlan:
    """What to write for the usable prefix of a batch.

    ``stop`` is the position of the first record not covered (the batch length when all are);
    ``writes`` are in record order; ``kept`` holds ``(position, created_us)`` of each record
    that passed the filters, ``skipped`` the positions filtered out, ``skipped_on_request``
    the positions named to be skipped (see :class:`~.records.SkippedRecord`). ``key_spans``
    holds, for sources ordered by creation time (Kinesis), the first and last position of
    every key with more than one record.
    """

    mode: Mode
    writes: tuple[PlannedWrite, ...]
    record_ids: tuple[str, ...]
    stop: int
    failure: RecordFailure | None
    kept: tuple[tuple[int, int | None], ...]
    skipped: tuple[int, ...]
    key_spans: tuple[tuple[int, int], ...] = ()
    skipped_on_request: tuple[int, ...] = ()

    @property
    def received(self) -> int:
        return len(self.record_ids)

    def safe_stop(self, stop: int) -> int:
        """Where a retry must start so that it sees every record of a key it replays.

        With Kinesis sources the newest change of a key may come before a stale duplicate in
        the batch. If a retry started between them, the stale record would be applied alone
        and move the replica backwards; so the retry starts at that key's first record, and
        the newest change wins again in the retried batch.
        """
        moved = True
        while moved:
            moved = False
            for first, last in self.key_spans:
                if first < stop <= last:
                    stop, moved = first, True
        return stop


def is_ttl_delete(change: Change) -> bool:
    """A delete made by DynamoDB's TTL sweeper (service principal), not by a user."""
    return change.ttl_delete


def turnover_keeps(change: Change, role: TurnoverRole, at_ms: int) -> bool:
    """Whether a consumer in hand-over ``role`` replicates ``change`` (original tool's rule)."""
    if change.created_us is None:
        raise RecordError(
            "record has no ApproximateCreationDateTime, so the turnover filter cannot place it",
            hint="unset TURNOVER_ROLE / TURNOVER_AT for sources without creation times",
        )
    created_ms = change.created_us // 1_000
    return created_ms < at_ms if role == "BEFORE" else created_ms >= at_ms


def keeps(change: Change, filters: Filters) -> bool:
    """Whether ``change`` passes every configured filter."""
    if filters.skip_ttl_deletes and is_ttl_delete(change):
        return False
    if filters.turnover_role is not None and filters.turnover_at_ms is not None:
        return turnover_keeps(change, filters.turnover_role, filters.turnover_at_ms)
    return True


def image_problem(change: Change) -> str | None:
    """Why image mode cannot apply ``change`` (``None`` when it can)."""
    if change.source == "original-kinesis":
        return (
            "record is in the original tool's keys-only Kinesis format, which has no creation "
            "time and no image: set REPLICATION_MODE=fetch"
        )
    if change.new_image is None and not change.is_remove:
        return (
            f"{change.event_name} record has no NewImage (a KEYS_ONLY or OLD_IMAGE stream?): "
            "use a NEW_IMAGE or NEW_AND_OLD_IMAGES stream, or set REPLICATION_MODE=fetch"
        )
    return None


def source_problem(change: Change, sources: Sources, batch_table: str | None) -> str | None:
    """Why ``change`` does not belong in a batch whose table so far is ``batch_table`` (the
    configured source, or the first record's table), given ``sources``; ``None`` when it does."""
    table = change.table
    if sources.mapped:
        if table is None:
            return "record does not name its source table, so TABLE_MAP cannot route it"
        if table not in sources.mapped:
            known = ", ".join(sorted(sources.mapped))
            return f"record is from table {table!r}, which TABLE_MAP does not map ({known})"
        return None
    if table is None or batch_table is None or table == batch_table:
        return None
    whose = (
        "the batch's other records"
        if not sources.expected
        else "the table of this function's earlier records; set PRIMARY_TABLE to name it"
        if sources.learned
        else "the configured PRIMARY_TABLE"
    )
    return (
        f"record is from table {table!r}, not {batch_table!r} ({whose}): one function "
        "replicates one table unless TABLE_MAP maps each source table to its replica"
    )


def _planned(change: Change, mode: Mode, first: int) -> PlannedWrite:
    item = change.new_image if mode == "image" else None
    return PlannedWrite(change.position, change.key, change.key_id, item, first, change.table)


def plan_batch(
    batch: ParsedBatch,
    *,
    mode: Mode = "image",
    filters: Filters = Filters(),
    sources: Sources = Sources(),
) -> WritePlan:
    """Plan the writes for ``batch``: the usable prefix, filtered, newest change per key."""
    failure = batch.failure
    newest: dict[Hashable, Change] = {}
    firsts: dict[Hashable, int] = {}
    kept: list[tuple[int, int | None]] = []
    skipped: list[int] = []
    spans: dict[Hashable, tuple[int, int]] = {}
    batch_table = sources.expected
    for change in batch.changes:
        ident = (change.table, change.key_id) if sources.mapped else change.key_id
        problem = source_problem(change, sources, batch_table)
        if problem is not None:
            failure = RecordFailure(change.position, change.record_id, problem)
            break
        batch_table = batch_table or change.table
        if change.source == "kinesis":
            first = spans.get(ident, (change.position, change.position))[0]
            spans[ident] = (first, change.position)
        try:
            problem = image_problem(change) if mode == "image" else None
            if problem is None and not keeps(change, filters):
                skipped.append(change.position)
                continue
        except RecordError as exc:
            problem = exc.message
        if problem is not None:
            failure = RecordFailure(change.position, change.record_id, problem)
            break
        kept.append((change.position, change.created_us))
        firsts.setdefault(ident, change.position)
        current = newest.get(ident)
        if current is None or change.rank >= current.rank:
            newest[ident] = change
    writes = sorted(
        (_planned(c, mode, firsts[ident]) for ident, c in newest.items()),
        key=lambda w: w.position,
    )
    stop = len(batch.record_ids) if failure is None else failure.position
    return WritePlan(
        mode=mode,
        writes=tuple(writes),
        record_ids=batch.record_ids,
        stop=stop,
        failure=failure,
        kept=tuple(kept),
        skipped=tuple(skipped),
        key_spans=tuple(span for span in spans.values() if span[0] != span[1]),
        skipped_on_request=tuple(s.position for s in batch.skipped if s.position < stop),
    )
