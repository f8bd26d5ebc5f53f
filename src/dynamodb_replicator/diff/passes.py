"""The two passes over one segment and the consistent re-check.

Pass 1 scans the primary and batch-gets each page's keys from the replica: ``missing`` and
``different`` candidates. Pass 2 scans the replica and checks only that each key exists in the
primary: ``extraneous`` candidates. Candidates are re-checked together, after a delay longer
than normal replication lag, with consistent reads of both sides; those that went away are
counted as *cleared*, never reported. Each key is reported at most once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from typing import Any

from ..dynamo import RateLimiter, batch_get, scan_segment
from ..dynamo.backoff import Clock, Sleep
from ..dynamo.clients import Client
from ..errors import JobInterrupted
from ..items import Item, Key, diff_items, extract_key, items_equal, key_identity
from ..segments import SegmentContext
from .model import Action, Discrepancy, Kind
from .repair import RepairSides, repair_batch
from .segment import TASK_FOUND, TASK_PRIMARY, TASK_REPAIRED, TASK_REPLICA

__all__ = [
    "Finder",
    "classify",
]

log = logging.getLogger(__name__)


def classify(
    key: Key, primary: Item | None, replica: Item | None, ignore: Collection[str] = ()
) -> Discrepancy | None:
    """The discrepancy between the two sides' items of ``key`` (``None`` when they agree)."""
    if primary is None and replica is None:
        return None
    if replica is None:
        return Discrepancy(Kind.MISSING, key, primary_item=primary)
    if primary is None:
        return Discrepancy(Kind.EXTRANEOUS, key, replica_item=replica)
    diff = diff_items(primary, replica, ignore)
    if not diff:
        return None
    return Discrepancy(Kind.DIFFERENT, key, diff.names, primary_item=primary, replica_item=replica)


class _Progress:
    """Where a segment reports progress: the pool's context, or nowhere."""

    def __init__(self, ctx: SegmentContext | None):
        self.ctx = ctx

    def advance(self, task: str, amount: int) -> None:
        if self.ctx is not None and amount:
            self.ctx.advance(task, amount)

    def checkpoint(self, point: str) -> None:
        if self.ctx is not None:
            self.ctx.checkpoint(point)

    def check(self) -> None:
        if self.ctx is not None and self.ctx.cancelled():
            raise JobInterrupted(f"segment {self.ctx.segment} stopped: the job is stopping")


class Finder:
    """Runs both passes over one segment, re-checks candidates in batches and (optionally)
    repairs each confirmed batch at once."""

    def __init__(
        self,
        sides: RepairSides,
        *,
        segment: int | None = None,
        total_segments: int | None = None,
        repair_here: bool = True,
        progress: SegmentContext | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        self.sides = sides
        self.schema = sides.schema
        self.opts = sides.options
        self.segment = segment
        self.total = total_segments
        self.repair_here = repair_here
        self.progress = _Progress(progress)
        self.clock = clock
        self.sleep = sleep
        self.seen: set[Hashable] = set()
        self.pending: list[Key] = []
        self.pending_since = 0.0
        self.found: list[Discrepancy] = []

    # --- passes ---------------------------------------------------------------------------

    def _scan(self, client: Client, table: str, limiter: RateLimiter) -> Iterable[list[Item]]:
        for page in scan_segment(
            client,
            table,
            segment=self.segment,
            total_segments=self.total,
            limiter=limiter,
            page_size=self.opts.page_size,
        ):
            self.progress.check()
            yield page.items

    def pass_primary(self) -> None:
        """Pass 1: primary items whose key is absent from, or different in, the replica."""
        s = self.sides
        for items in self._scan(s.primary, s.primary_table, s.primary_limiter):
            self._check_primary(items, consistent=False)
            s.tally.add("scanned_primary", len(items))
            self.progress.advance(TASK_PRIMARY, len(items))

    def pass_replica(self) -> None:
        """Pass 2: replica keys the primary lacks (existence only, so nothing counts twice)."""
        s = self.sides
        for items in self._scan(s.replica, s.replica_table, s.replica_limiter):
            self._check_replica(items, consistent=False)
            s.tally.add("scanned_replica", len(items))
            self.progress.advance(TASK_REPLICA, len(items))

    def _check_primary(self, items: Sequence[Item], *, consistent: bool) -> None:
        """Primary items against the replica's copies, read by key."""
        s = self.sides
        keys = [extract_key(item, self.schema) for item in items]
        got = self._get(
            s.replica,
            s.replica_table,
            keys,
            s.replica_limiter,
            keys_only=False,
            consistent=consistent,
        )
        for key, item in zip(keys, items, strict=True):
            other = got.get(key_identity(key, self.schema))
            if other is None or not items_equal(item, other, self.opts.ignore_attributes):
                self._candidate(key)
        s.tally.add("compared", len(items))

    def _check_replica(self, items: Sequence[Item], *, consistent: bool) -> None:
        """Replica keys whose existence in the primary is checked by key (keys only)."""
        s = self.sides
        keys = [extract_key(item, self.schema) for item in items]
        got = self._get(
            s.primary,
            s.primary_table,
            keys,
            s.primary_limiter,
            keys_only=True,
            consistent=consistent,
        )
        for key in keys:
            if key_identity(key, self.schema) not in got:
                self._candidate(key)
                s.tally.add("compared")

    def pass_both(self) -> bool:
        """Scan both tables once, side by side, matching items by key as they arrive.

        Unmatched items wait in a window per side (at most ``options.window`` each); those
        pushed out of it, and those left when the segment ends, are looked up by key with
        consistent reads, so no item is missed however a server splits or orders the tables.
        Returns ``False`` (having counted nothing) when evictions passed
        ``options.fallback_share`` of the items scanned: the caller then runs ``lookup``.
        """
        s = self.sides
        compared_before = s.tally.get("compared")
        both = _SideBySide(self, self.opts.window)
        pages = {
            True: iter(self._scan(s.primary, s.primary_table, s.primary_limiter)),
            False: iter(self._scan(s.replica, s.replica_table, s.replica_limiter)),
        }
        scanned = {True: 0, False: 0}
        while pages:
            primary = _next_side(pages, scanned)
            items = next(pages[primary], None)
            if items is None:
                del pages[primary]
                continue
            scanned[primary] += len(items)
            both.add(items, primary=primary)
            seen = scanned[True] + scanned[False]
            if both.evicted > self.opts.fallback_share * seen and seen > self.opts.window:
                log.info("segment %s: tables ordered apart; diffing by lookup", self.segment)
                s.tally.add("compared", compared_before - s.tally.get("compared"))
                s.tally.add("fallbacks")
                return False
            self.progress.advance(TASK_PRIMARY if primary else TASK_REPLICA, len(items))
        both.finish()
        s.tally.add("scanned_primary", scanned[True])
        s.tally.add("scanned_replica", scanned[False])
        return True

    def _get(
        self,
        client: Client,
        table: str,
        keys: Sequence[Key],
        limiter: RateLimiter,
        *,
        keys_only: bool,
        consistent: bool = False,
    ) -> dict[Hashable, Item]:
        if not keys:
            return {}
        result = batch_get(
            client,
            table,
            keys,
            self.schema,
            consistent=consistent,
            projection=self.schema.names if keys_only else None,
            backoff=self.sides.backoff,
            limiter=limiter,
        )
        return result.by_key(self.schema)

    # --- re-check -------------------------------------------------------------------------

    def _candidate(self, key: Key) -> None:
        ident = key_identity(key, self.schema)
        if ident in self.seen:
            return
        self.seen.add(ident)
        if not self.pending:
            self.pending_since = self.clock()
        self.pending.append(key)
        if len(self.pending) >= self.opts.recheck_batch:
            self.flush()

    def flush(self) -> None:
        """Re-check pending candidates together: one wait, then consistent reads of both."""
        if not self.pending:
            return
        keys, self.pending = self.pending, []
        wait = self.pending_since + self.opts.recheck_delay - self.clock()
        if wait > 0:
            self.sleep(wait)
        s = self.sides
        primary = self._get(
            s.primary, s.primary_table, keys, s.primary_limiter, keys_only=False, consistent=True
        )
        replica = self._get(
            s.replica, s.replica_table, keys, s.replica_limiter, keys_only=False, consistent=True
        )
        confirmed: list[Discrepancy] = []
        for key in keys:
            ident = key_identity(key, self.schema)
            found = classify(
                key, primary.get(ident), replica.get(ident), self.opts.ignore_attributes
            )
            if found is None:
                s.tally.add("cleared")
            else:
                s.tally.add(found.kind.value)
                confirmed.append(found)
        s.tally.add("rechecked", len(keys))
        self.progress.advance(TASK_FOUND, len(confirmed))
        if self.repair_here and self.opts.repair:
            confirmed = repair_batch(s, confirmed)
            self.found.extend(confirmed)
            repaired = sum(1 for d in confirmed if d.action is Action.REPAIRED)
            self.progress.advance(TASK_REPAIRED, repaired)
            self.progress.checkpoint("after-repair")
        else:
            self.found.extend(confirmed)

    def run(self) -> list[Discrepancy]:
        """Both passes (or one side-by-side pass) and every re-check; the confirmed ones."""
        if self.opts.method != "scan-both" or not self.pass_both():
            self.pass_primary()
            self.pass_replica()
        self.flush()
        return self.found


def _next_side(pages: Mapping[bool, Any], scanned: Mapping[bool, int]) -> bool:
    """The side to read next (``True``: primary): the one behind, so windows stay small."""
    if len(pages) == 1:
        return next(iter(pages))
    return scanned[True] <= scanned[False]


class _SideBySide:
    """The matching windows of :meth:`Finder.pass_both`: unmatched items per side, by key."""

    def __init__(self, finder: Finder, window: int):
        self.finder = finder
        self.schema = finder.schema
        self.ignore = finder.opts.ignore_attributes
        self.window = max(window, 1)
        self.waiting: dict[bool, dict[Hashable, Item]] = {True: {}, False: {}}
        self.evicted = 0

    def add(self, items: Sequence[Item], *, primary: bool) -> None:
        """Match ``items`` against the other side's window; keep the rest in this side's."""
        mine, theirs = self.waiting[primary], self.waiting[not primary]
        for item in items:
            ident = key_identity(item, self.schema)
            twin = theirs.pop(ident, None)
            if twin is None:
                mine[ident] = item
                continue
            self.finder.sides.tally.add("compared")
            if not items_equal(item, twin, self.ignore):
                self.finder._candidate(extract_key(item, self.schema))
        # A page larger than the window (1 MB of small items) waits whole for the other
        # side's page: evicting part of it at once would look up items about to be matched.
        overflow = len(mine) - max(self.window, len(items))
        if overflow > 0:
            oldest = [mine.pop(ident) for ident in list(_first(mine, overflow))]
            self.evicted += len(oldest)
            self._look_up(oldest, primary=primary)

    def finish(self) -> None:
        """Look up every item still unmatched when the segment ends."""
        for primary in (True, False):
            left = list(self.waiting[primary].values())
            self.waiting[primary].clear()
            self._look_up(left, primary=primary)

    def _look_up(self, items: list[Item], *, primary: bool) -> None:
        if not items:
            return
        if primary:
            self.finder._check_primary(items, consistent=True)
        else:
            self.finder._check_replica(items, consistent=True)


def _first(mapping: Mapping[Hashable, Any], count: int) -> Iterable[Hashable]:
    """The ``count`` oldest keys of an insertion-ordered mapping."""
    for i, key in enumerate(mapping):
        if i >= count:
            return
        yield key
