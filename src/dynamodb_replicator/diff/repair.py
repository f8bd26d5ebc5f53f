"""Race-safe repairs: single-item conditional writes, checked against the item they replace.

Batch writes cannot carry conditions, so each repair is one ``PutItem``/``DeleteItem``:

- ``missing``: put the primary's item if the key is still absent;
- ``different``: put it if the replica still holds the values that were compared;
- ``extraneous``: delete if the primary still lacks the key and the replica item is unchanged.

A condition only tests the attributes it names, so every write also returns the old item and a
repair whose old item is not what was compared counts as *skipped*: live replication got there
first. Skipped keys are re-checked at the end and rewritten from a fresh consistent read of the
primary if they still differ. Attributes matched by ``--ignore-attributes`` are neither compared
nor copied: a repair keeps the replica's own values of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..dynamo import Backoff, Condition, RateLimiter, batch_get, conditional_delete, conditional_put
from ..dynamo.clients import Client
from ..dynamo.conditional import (
    MAX_CONDITION_BYTES,
    MAX_CONDITION_VALUE_BYTES,
    MAX_OPERATORS,
    unchanged_condition,
)
from ..errors import AwsError
from ..items import Item, Key, KeySchema, extract_key, ignore_matcher, items_equal
from ..items import key_identity as identity
from .model import Action, DiffOptions, Discrepancy, Kind, Tally

__all__ = [
    "MAX_CONDITION_BYTES",
    "MAX_CONDITION_VALUE_BYTES",
    "MAX_OPERATORS",
    "RepairSides",
    "absent_condition",
    "repair_batch",
    "settle_skipped",
    "unchanged_condition",
    "write_item",
]

log = logging.getLogger(__name__)

# --- conditions (pure) -------------------------------------------------------------------------


def absent_condition(schema: KeySchema) -> Condition:
    """``attribute_not_exists`` on the partition key: the key is absent."""
    return Condition("attribute_not_exists(#k)", {"#k": schema.hash_key}, {})


def write_item(
    primary: Mapping[str, Any], replica: Mapping[str, Any] | None, ignore: Collection[str]
) -> Item:
    """The item a repair writes: the primary's attributes except ignored ones, plus the
    replica's own values of ignored attributes."""
    if not ignore:
        return dict(primary)
    ignored = ignore_matcher(ignore)
    out = {name: value for name, value in primary.items() if not ignored(name)}
    if replica is not None:
        out.update({name: value for name, value in replica.items() if ignored(name)})
    return out


# --- I/O -----------------------------------------------------------------------------------------


@dataclass
class RepairSides:
    """The clients, limiters and settings a repair needs (one per worker)."""

    primary: Client
    primary_table: str
    replica: Client
    replica_table: str
    schema: KeySchema
    options: DiffOptions
    primary_limiter: RateLimiter
    replica_limiter: RateLimiter
    write_limiter: RateLimiter
    backoff: Backoff
    tally: Tally

    def read(self, side: str, keys: Sequence[Key]) -> dict[Hashable, Item]:
        """Consistent batch read of ``keys`` on ``side``, by key identity."""
        client, table, limiter = (
            (self.primary, self.primary_table, self.primary_limiter)
            if side == "primary"
            else (self.replica, self.replica_table, self.replica_limiter)
        )
        if not keys:
            return {}
        got = batch_get(
            client,
            table,
            keys,
            self.schema,
            consistent=True,
            backoff=self.backoff,
            limiter=limiter,
        )
        return got.by_key(self.schema)


def _attempt(
    sides: RepairSides, d: Discrepancy, write: Callable[[], tuple[bool, Item | None]]
) -> Discrepancy:
    """Run one write; a condition that failed or an old item that was not the compared one
    makes the repair *skipped*; an AWS failure after retries makes it *failed*."""
    try:
        applied, old = write()
    except AwsError as exc:
        log.warning("repair of %s failed: %s", d.key, exc.message)
        sides.tally.add("failed")
        return replace(d, action=Action.FAILED)
    if applied and _same(old, d.replica_item):
        sides.tally.add("repaired")
        return replace(d, action=Action.REPAIRED, resolved=True)
    sides.tally.add("skipped")
    return replace(d, action=Action.SKIPPED)


def _same(old: Item | None, expected: Item | None) -> bool:
    if old is None or expected is None:
        return old is None and expected is None
    return items_equal(old, expected)


def _put(sides: RepairSides, item: Item, condition: Condition | None) -> tuple[bool, Item | None]:
    result = conditional_put(
        sides.replica, sides.replica_table, item, condition, limiter=sides.write_limiter
    )
    return result.applied, result.old_item


def _delete(sides: RepairSides, key: Key, condition: Condition | None) -> tuple[bool, Item | None]:
    result = conditional_delete(
        sides.replica, sides.replica_table, key, condition, limiter=sides.write_limiter
    )
    return result.applied, result.old_item


def _unconditional_ok(sides: RepairSides, d: Discrepancy) -> bool:
    """For items too large for a condition: re-read the replica just before writing."""
    sides.tally.add("unconditional")
    now = sides.read("replica", [d.key]).get(identity(d.key, sides.schema))
    return _same(now, d.replica_item)


def _repair_one(sides: RepairSides, d: Discrepancy, primary_has: bool) -> Discrepancy:
    ignore = sides.options.ignore_attributes
    if d.kind is Kind.MISSING:
        assert d.primary_item is not None
        item = write_item(d.primary_item, None, ignore)
        return _attempt(sides, d, lambda: _put(sides, item, absent_condition(sides.schema)))
    assert d.replica_item is not None
    condition = unchanged_condition(d.replica_item)
    if condition is None and not _unconditional_ok(sides, d):
        sides.tally.add("skipped")
        return replace(d, action=Action.SKIPPED)
    if d.kind is Kind.DIFFERENT:
        assert d.primary_item is not None
        item = write_item(d.primary_item, d.replica_item, ignore)
        return _attempt(sides, d, lambda: _put(sides, item, condition))
    if primary_has:  # the primary gained the key since the re-check
        sides.tally.add("skipped")
        return replace(d, action=Action.SKIPPED)
    return _attempt(sides, d, lambda: _delete(sides, d.key, condition))


def _dry_run(sides: RepairSides, d: Discrepancy) -> Discrepancy:
    sides.tally.add("would_delete" if d.kind is Kind.EXTRANEOUS else "would_put")
    return d


def repair_batch(sides: RepairSides, found: Sequence[Discrepancy]) -> list[Discrepancy]:
    """Repair confirmed discrepancies one conditional write each, then settle skipped keys.

    With ``dry_run`` nothing is written: the counts say what would be put or deleted.
    """
    if sides.options.dry_run:
        return [_dry_run(sides, d) for d in found]
    extraneous = [d.key for d in found if d.kind is Kind.EXTRANEOUS]
    still_there = sides.read("primary", extraneous)
    done = [_repair_one(sides, d, identity(d.key, sides.schema) in still_there) for d in found]
    skipped = [d for d in done if d.action is Action.SKIPPED]
    if not skipped:
        return done
    settled = {identity(d.key, sides.schema): d for d in settle_skipped(sides, skipped)}
    return [settled.get(identity(d.key, sides.schema), d) for d in done]


def settle_skipped(sides: RepairSides, skipped: Sequence[Discrepancy]) -> list[Discrepancy]:
    """Re-check skipped keys with consistent reads of both sides; rewrite the ones that still
    differ from a fresh read of the primary (conditionally, once)."""
    keys = [d.key for d in skipped]
    primary = sides.read("primary", keys)
    replica = sides.read("replica", keys)
    ignore = sides.options.ignore_attributes
    out: list[Discrepancy] = []
    for d in skipped:
        ident = identity(d.key, sides.schema)
        p, r = primary.get(ident), replica.get(ident)
        if (p is None and r is None) or (
            p is not None and r is not None and items_equal(p, r, ignore)
        ):
            out.append(replace(d, resolved=True))
            continue
        out.append(_rewrite(sides, d, p, r))
    return out


def _rewrite(sides: RepairSides, d: Discrepancy, p: Item | None, r: Item | None) -> Discrepancy:
    """One more conditional write from fresh reads; success turns *skipped* into *repaired*."""
    fresh = replace(d, primary_item=p, replica_item=r)
    condition = absent_condition(sides.schema) if r is None else unchanged_condition(r)
    if condition is None:
        return d
    try:
        if p is None:
            applied, old = _delete(sides, extract_key(d.key, sides.schema), condition)
        else:
            applied, old = _put(sides, write_item(p, r, sides.options.ignore_attributes), condition)
    except AwsError as exc:
        log.warning("rewrite of skipped key %s failed: %s", d.key, exc.message)
        return d
    if applied and _same(old, r):
        sides.tally.add("skipped", -1)
        sides.tally.add("repaired")
        return replace(fresh, action=Action.REPAIRED, resolved=True)
    return d
