"""After a restore into a table that already held items: the items the backup lacks.

Puts overwrite by key, so a ``--force`` restore leaves every item of the table that the backup
does not hold. One scan of the target finds them (by key, numbers compared by value); with
``delete`` each is removed by a conditional ``DeleteItem`` that applies only while the item is
still exactly what the scan read, so an item written meanwhile by someone else is kept (and
reported). The backup's key identities are held in memory for the membership check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass
from enum import Enum

from ..dynamo import RateLimiter, TableSpec, scan_segment
from ..dynamo.conditional import (
    Condition,
    conditional_delete,
    conditional_put,
    unchanged_condition,
)
from ..items import Item, Key, KeySchema, extract_key, items_equal, key_identity

__all__ = ["ExtraAction", "ExtraneousReport", "find_extraneous"]

log = logging.getLogger(__name__)


class ExtraAction(Enum):
    """What happened to one item the backup lacks."""

    FOUND = "found"
    DELETED = "deleted"
    CHANGED = "kept: changed since the scan"
    TOO_LARGE = "kept: too large to delete conditionally"


@dataclass(frozen=True)
class ExtraneousReport:
    """The target's items that the backup lacks: how many, and how many are still there."""

    scanned: int
    extraneous: int
    deleted: int

    @property
    def remaining(self) -> int:
        return self.extraneous - self.deleted


def _delete(
    table: TableSpec, schema: KeySchema, item: Item, limiter: RateLimiter | None
) -> tuple[Key, ExtraAction]:
    """Delete ``item`` only while it is unchanged.

    The condition tests the attributes the scan saw, so an attribute added meanwhile passes
    it: the old item returned is compared too, and a newer version deleted by mistake is put
    back (unless the key was written again since).
    """
    key = extract_key(item, schema)
    condition = unchanged_condition(item)
    if condition is None:
        return key, ExtraAction.TOO_LARGE
    client = table.client()
    result = conditional_delete(client, table.name, key, condition, limiter=limiter)
    if not result.applied:
        return key, ExtraAction.DELETED if result.old_item is None else ExtraAction.CHANGED
    if result.old_item is None or items_equal(result.old_item, item):
        return key, ExtraAction.DELETED
    absent = Condition("attribute_not_exists(#k)", {"#k": schema.hash_key}, {})
    conditional_put(client, table.name, result.old_item, absent, limiter=limiter)
    return key, ExtraAction.CHANGED


def find_extraneous(
    table: TableSpec,
    schema: KeySchema,
    backup_keys: Collection[Hashable],
    *,
    delete: bool = False,
    rate_write: float | None = None,
    on_item: Callable[[Key, ExtraAction], None] | None = None,
) -> ExtraneousReport:
    """Scan ``table`` (strongly consistent) for items whose key is not in ``backup_keys``;
    delete them (conditionally) when ``delete``. ``on_item`` hears of each one."""
    client = table.client()
    limiter = RateLimiter(rate_write) if rate_write else None
    scanned = extraneous = deleted = 0
    for page in scan_segment(client, table.name, consistent=True):
        for item in page.items:
            scanned += 1
            if key_identity(item, schema) in backup_keys:
                continue
            extraneous += 1
            if delete:
                key, action = _delete(table, schema, item, limiter)
            else:
                key, action = extract_key(item, schema), ExtraAction.FOUND
            deleted += action is ExtraAction.DELETED
            if on_item is not None:
                on_item(key, action)
    log.info("%s: %d item(s) the backup lacks, %d deleted", table.name, extraneous, deleted)
    return ExtraneousReport(scanned, extraneous, deleted)
