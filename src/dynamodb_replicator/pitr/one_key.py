"""``restore-table --key KEY``: put one item back as it was at T, race-safely.

The item's state at T comes from the base and the key's log records (same exactness checks as a
whole restore). The target, a live table allowed, is read consistently, then written with a
condition that holds only while the item is still as read (or still absent): a change to that
key in between makes the write fail, and the restore refuses rather than overwrite it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..backup.reader import BackupSource, open_source, read_items
from ..backup.storage import Storage, StorageSpec
from ..dynamo import TableSpec
from ..dynamo.batch import batch_get
from ..dynamo.conditional import (
    Condition,
    conditional_delete,
    conditional_put,
    unchanged_condition,
)
from ..errors import ConcurrentChangeError, NotExactError, UsageError
from ..items import (
    Item,
    Key,
    KeySchema,
    decode_item,
    items_equal,
    key_identity,
    parse_key_argument,
)
from .logscan import LogEntry, LogScan, log_descriptor
from .rollforward import base_schema, plan_with_hint
from .spill import entries_in_order, key_state
from .window import DEFAULT_MARGIN, Exactness, ScanWindow

__all__ = ["KeyRestore", "restore_key"]

Action = Literal["put", "delete", "none"]


@dataclass(frozen=True)
class KeyRestore:
    """One key's restore: its state at T, what the table held, and what was (or would be) done."""

    key: Key
    at_time: Item | None
    before: Item | None
    action: Action
    written: bool


def _action(at_time: Item | None, current: Item | None) -> Action:
    if at_time is None:
        return "none" if current is None else "delete"
    if current is not None and items_equal(current, at_time):
        return "none"
    return "put"


def _guard(current: Item | None, schema: KeySchema) -> Condition:
    if current is None:
        return Condition("attribute_not_exists(#k)", {"#k": schema.hash_key}, {})
    condition = unchanged_condition(current)
    if condition is None:
        raise UsageError(
            "the item in the table is too large to guard with a condition",
            hint="restore into a new table and copy the item by hand",
        )
    return condition


def _state_at(
    source: BackupSource,
    changes: Storage,
    exact: Exactness,
    schema: KeySchema,
    key: Key,
    check_changes: bool,
) -> Item | None:
    """The item with ``key`` at T: the base's, with the key's log records in the window."""
    wanted = key_identity(key, schema)
    entries: list[LogEntry] = []

    def keep(entry: LogEntry) -> None:
        if entry.identity == wanted:
            entries.append(entry)

    LogScan(changes, exact.log_from, exact.to_time).run(schema, keep)
    records, problems = entries_in_order(entries)
    state, found = key_state(records, exact.to_time, check_changes=check_changes)
    if problems or found:
        raise NotExactError(
            "the change log's records of this key are not consistent: "
            + "; ".join(problems + found),
            hint="run verify-changes over that window; choose a time the log covers",
        )
    if state is not None:
        return decode_item(state) if state else None
    storage = source.storage.open()
    found_item: Item | None = None
    for segment in source.segments:
        for item in read_items(storage, segment, before_write=True):
            if key_identity(item, schema) == wanted:
                found_item = item
    return found_item


def restore_key(
    base: StorageSpec,
    changes: Storage,
    to_time: int,
    table: TableSpec,
    key_text: str,
    *,
    margin: int = DEFAULT_MARGIN,
    dry_run: bool = False,
    assumed: ScanWindow | None = None,
) -> KeyRestore:
    """Put the item with ``key_text`` in ``table`` back to its state at the end of second
    ``to_time`` (deleting it if it did not exist then). ``assumed``: the scan window of a base
    that records none (a backup of the original tool)."""
    source = open_source(base)
    exact = plan_with_hint(base, source, to_time, margin, assumed)
    descriptor = log_descriptor(changes)
    schema = base_schema(source, descriptor)
    key = parse_key_argument(key_text, schema, "--key")
    check_changes = descriptor.view_type == "NEW_AND_OLD_IMAGES"
    at_time = _state_at(source, changes, exact, schema, key, check_changes)
    client = table.client()
    found = batch_get(client, table.name, [key], schema, consistent=True).items
    current = found[0] if found else None
    action = _action(at_time, current)
    if dry_run or action == "none":
        return KeyRestore(key, at_time, current, action, written=False)
    condition = _guard(current, schema)
    if at_time is None:
        result = conditional_delete(client, table.name, key, condition)
    else:
        result = conditional_put(client, table.name, at_time, condition)
    if not result.applied:
        raise ConcurrentChangeError(
            f"the item {key_text} changed in {table.name} while it was being restored; "
            "nothing was written",
            hint="look at the item's current state (record-history), then run again",
        )
    return KeyRestore(key, at_time, current, action, written=True)
