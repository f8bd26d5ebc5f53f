"""``diff-record`` and ``replicate-record``: one item, read consistently from both tables.

Both check the two tables first as diff-tables does (two different tables, one key schema),
then take KEY by that key schema, so ``{"pk": "a"}`` is typed as the table's key says.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass
from typing import Literal

from ..dynamo import (
    DescribedTable,
    TableSpec,
    batch_get,
    conditional_delete,
    conditional_put,
    describe_pair,
)
from ..items import (
    AttributeDiff,
    Item,
    Key,
    KeySchema,
    diff_items,
    key_identity,
    parse_key_argument,
)

__all__ = [
    "RecordComparison",
    "RecordCopy",
    "compare_record",
    "copy_record",
]


def _read(table: DescribedTable, key: Key, schema: KeySchema) -> Item | None:
    """A consistent read of one key (``None`` when absent)."""
    got = batch_get(table.client, table.spec.name, [key], schema, consistent=True).items
    wanted: Hashable = key_identity(key, schema)
    return next((item for item in got if key_identity(item, schema) == wanted), None)


@dataclass(frozen=True)
class RecordComparison:
    """One key on both sides: each side's item (``None`` when absent) and, when both hold it,
    the attributes that differ."""

    key: Key
    key_names: tuple[str, ...]
    primary: Item | None
    replica: Item | None
    diff: AttributeDiff | None

    @property
    def equal(self) -> bool:
        """Absent on both sides, or present on both and equal (ignored attributes aside)."""
        if self.primary is None or self.replica is None:
            return self.primary is None and self.replica is None
        return not self.diff


def compare_record(
    primary: TableSpec,
    replica: TableSpec,
    key_text: str,
    *,
    ignore_attributes: Collection[str] = (),
) -> RecordComparison:
    """Read the item with KEY ``key_text`` from both tables (consistent reads) and compare
    them, leaving out attributes matching ``ignore_attributes``; read-only."""
    pair = describe_pair(primary, replica)
    schema = pair.key_schema
    key = parse_key_argument(key_text, schema)
    p_item = _read(pair.primary, key, schema)
    r_item = _read(pair.replica, key, schema)
    diff = None
    if p_item is not None and r_item is not None:
        diff = diff_items(p_item, r_item, tuple(ignore_attributes))
    return RecordComparison(key, schema.names, p_item, r_item, diff)


#: What ``replicate-record`` did on the replica.
CopyAction = Literal["put", "deleted", "absent"]


@dataclass(frozen=True)
class RecordCopy:
    """One key copied: ``put`` (the primary holds it), ``deleted`` (only the replica held it)
    or ``absent`` (neither side holds it)."""

    key: Key
    key_names: tuple[str, ...]
    action: CopyAction


def copy_record(primary: TableSpec, replica: TableSpec, key_text: str) -> RecordCopy:
    """Make the replica's item with KEY ``key_text`` match the primary's: read the primary
    consistently, then put the item on the replica (or delete it there when the primary lacks
    it)."""
    pair = describe_pair(primary, replica)
    schema = pair.key_schema
    key = parse_key_argument(key_text, schema)
    item = _read(pair.primary, key, schema)
    target = pair.replica
    if item is not None:
        conditional_put(target.client, target.spec.name, item, None)
        return RecordCopy(key, schema.names, "put")
    old = conditional_delete(target.client, target.spec.name, key, None).old_item
    return RecordCopy(key, schema.names, "deleted" if old is not None else "absent")
