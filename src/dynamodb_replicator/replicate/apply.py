"""A :class:`WritePlan` -> writes on the replica (image mode) or consistent reads of the primary
then writes (fetch mode), through the access layer's batch calls.

Writes go out in record order, 25 per group (up to ``concurrency`` groups at once). When a
group cannot be finished (retries or the deadline ran out) no new group starts, and
:attr:`ApplyResult.stop` is the position of the earliest record whose change is not known to
have landed: that record and every later one must be retried. A write stands for every record
of its key in the batch, so an unlanded write holds back its key's FIRST record
(:attr:`~.plan.PlannedWrite.first`), not only the newest one it was planned from.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from ..dynamo import MAX_GET_KEYS, MAX_WRITE_REQUESTS, Backoff, Delete, Put, batch_get, batch_write
from ..dynamo.clients import Client
from ..dynamo.ratelimit import RateLimiter
from ..errors import DeadlineReached, IncompleteBatchError, ReplicatorError
from ..items import Item, KeySchema
from .plan import PlannedWrite, WritePlan
from .records import key_id_of

__all__ = [
    "ApplyResult",
    "TableRef",
    "apply_plan",
    "merge_results",
    "schema_from_key",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class TableRef:
    """A table and the client that reaches it."""

    client: Client
    table: str


@dataclass(frozen=True)
class ApplyResult:
    """What applying a plan did. ``stop`` is the first record position not applied (the plan's
    ``stop`` when everything landed); ``error`` says why it stopped early."""

    stop: int
    puts: int = 0
    deletes: int = 0
    retries: int = 0
    consumed: float = 0.0
    error: ReplicatorError | None = None


def schema_from_key(key: Item) -> KeySchema:
    """A key schema good for batch calls, from one key: names sorted, first as partition key.

    Batch calls only extract and compare keys, so which attribute is the partition key does
    not matter; this spares a DescribeTable (and its permission) on a cold start.
    """
    names = sorted(key)
    types = [next(iter(key[name])) for name in names]
    if len(names) == 1:
        return KeySchema(names[0], types[0])
    return KeySchema(names[0], types[0], names[1], types[1])


@dataclass
class _Tally:
    puts: int = 0
    deletes: int = 0
    retries: int = 0
    consumed: float = 0.0

    def result(self, stop: int, error: ReplicatorError | None = None) -> ApplyResult:
        return ApplyResult(stop, self.puts, self.deletes, self.retries, self.consumed, error)


def _groups(writes: Sequence[T], size: int) -> list[Sequence[T]]:
    return [writes[i : i + size] for i in range(0, len(writes), size)]


def _deadline_passed(backoff: Backoff) -> bool:
    return backoff.deadline is not None and backoff.clock() >= backoff.deadline


def _first_of(writes: Sequence[PlannedWrite]) -> int:
    """The earliest record that any of ``writes`` stands for."""
    return min(w.first for w in writes)


def _stop_for(error: ReplicatorError, group: Sequence[PlannedWrite]) -> int:
    """The earliest record of ``group`` that ``error`` says was not written (every record of
    the group when the error does not name the keys left)."""
    if isinstance(error, IncompleteBatchError) and error.keys:
        left = {key_id_of(k) for k in error.keys}
        unwritten = [w for w in group if w.key_id in left]
        if unwritten:
            return _first_of(unwritten)
    return _first_of(group)


def _write(
    replica: TableRef,
    group: Sequence[tuple[PlannedWrite, Item | None]],
    schema: KeySchema,
    backoff: Backoff,
    limiter: RateLimiter | None,
    tally: _Tally,
) -> None:
    requests = [Put(item) if item is not None else Delete(w.key) for w, item in group]
    result = batch_write(
        replica.client, replica.table, requests, schema, backoff=backoff, limiter=limiter
    )
    tally.puts += sum(1 for r in requests if isinstance(r, Put))
    tally.deletes += sum(1 for r in requests if isinstance(r, Delete))
    tally.retries += result.retries
    tally.consumed += result.consumed


def _fetch(
    primary: TableRef,
    group: Sequence[PlannedWrite],
    schema: KeySchema,
    backoff: Backoff,
    limiter: RateLimiter | None,
    tally: _Tally,
) -> list[tuple[PlannedWrite, Item | None]]:
    """Each write of ``group`` with the primary's current item (``None``: it is gone)."""
    result = batch_get(
        primary.client,
        primary.table,
        [w.key for w in group],
        schema,
        consistent=True,
        backoff=backoff,
        limiter=limiter,
    )
    tally.retries += result.retries
    tally.consumed += result.consumed
    found: dict[Hashable, Item] = {}
    for item in result.items:
        found[key_id_of({name: item[name] for name in group[0].key})] = item
    return [(w, found.get(w.key_id)) for w in group]


@dataclass(frozen=True)
class _GroupResult:
    tally: _Tally
    stop: int | None = None
    error: ReplicatorError | None = None


def _apply_group(
    plan: WritePlan,
    group: Sequence[PlannedWrite],
    replica: TableRef,
    primary: TableRef | None,
    schema: KeySchema,
    backoff: Backoff,
    limiter: RateLimiter | None,
) -> _GroupResult:
    """Apply one group (25 writes, or 100 keys to fetch then write); never raises."""
    tally = _Tally()
    try:
        if _deadline_passed(backoff):
            raise DeadlineReached(
                f"no time left to write {len(group)} more key(s) to {replica.table}",
                hint="raise the function timeout or lower the batch size",
            )
        if plan.mode == "fetch":
            assert primary is not None
            pairs = _fetch(primary, group, schema, backoff, limiter, tally)
        else:
            pairs = [(w, w.item) for w in group]
        chunks = _groups(pairs, MAX_WRITE_REQUESTS)
        for index, chunk in enumerate(chunks):
            try:
                _write(replica, chunk, schema, backoff, limiter, tally)
            except ReplicatorError as exc:
                stop = _stop_for(exc, [w for w, _ in chunk])
                later = [w for c in chunks[index + 1 :] for w, _ in c]
                return _GroupResult(tally, min([stop, *(w.first for w in later)]), exc)
    except ReplicatorError as exc:
        return _GroupResult(tally, _first_of(group), exc)
    return _GroupResult(tally)


def apply_plan(
    plan: WritePlan,
    replica: TableRef,
    *,
    primary: TableRef | None = None,
    backoff: Backoff = Backoff(),
    schema: KeySchema | None = None,
    limiter: RateLimiter | None = None,
    concurrency: int = 1,
) -> ApplyResult:
    """Make the replica hold, for each planned key, the planned state (or in fetch mode, the
    primary's current state read with a consistent read).

    A plan holds one write per key, so its groups are independent: up to ``concurrency`` are
    in flight at once without reordering any key's changes. After a group fails no new group
    starts. ``backoff.deadline`` bounds the whole call: no group starts after it and retries
    stop before it. Never raises for a failed write: the result's ``stop`` and ``error`` say
    what is left. ``schema`` defaults to :func:`schema_from_key` of the first write.
    """
    if not plan.writes:
        return _Tally().result(plan.stop)
    if plan.mode == "fetch" and primary is None:
        raise ValueError("fetch mode needs the primary table")
    key_schema = schema or schema_from_key(plan.writes[0].key)
    groups = _groups(plan.writes, MAX_GET_KEYS if plan.mode == "fetch" else MAX_WRITE_REQUESTS)
    failed = threading.Event()

    def run(group: Sequence[PlannedWrite]) -> _GroupResult:
        if failed.is_set():  # an earlier group failed: leave this one for the retry
            return _GroupResult(_Tally(), _first_of(group))
        result = _apply_group(plan, group, replica, primary, key_schema, backoff, limiter)
        if result.error is not None:
            failed.set()
        return result

    if concurrency <= 1 or len(groups) == 1:
        results = [run(group) for group in groups]
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(run, groups))
    return _combine(plan, results)


def _combine(plan: WritePlan, results: Sequence[_GroupResult]) -> ApplyResult:
    total = _Tally()
    for r in results:
        total.puts += r.tally.puts
        total.deletes += r.tally.deletes
        total.retries += r.tally.retries
        total.consumed += r.tally.consumed
    failures = [r for r in results if r.error is not None]
    if not failures:
        return total.result(plan.stop)
    first = min(failures, key=lambda r: r.stop if r.stop is not None else plan.stop)
    stop = min(r.stop for r in results if r.stop is not None)
    assert first.error is not None
    return _stopped(total, stop, first.error)


def merge_results(results: Sequence[ApplyResult], stop: int) -> ApplyResult:
    """Several results of one batch (one per replica table) as one: counts summed, ``stop``
    the earliest of theirs (``stop``, the plan's, when there are none), the error of that one."""
    if not results:
        return ApplyResult(stop)
    earliest = min(results, key=lambda r: (r.error is None, r.stop))
    return ApplyResult(
        stop=min(r.stop for r in results),
        puts=sum(r.puts for r in results),
        deletes=sum(r.deletes for r in results),
        retries=sum(r.retries for r in results),
        consumed=sum(r.consumed for r in results),
        error=earliest.error,
    )


def _stopped(tally: _Tally, stop: int, error: ReplicatorError) -> ApplyResult:
    log.debug("writes stopped before record position %d: %s", stop, error.message)
    return tally.result(stop, error)
