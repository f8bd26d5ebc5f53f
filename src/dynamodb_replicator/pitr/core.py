"""Rolling items forward with change log records to the end of a second (pure).

Per key (keys compared canonically: numbers by value), the state at T is the base item with
the longest prefix of that key's records whose time, floored to the second, is <= T applied.
Records come in stream order (parent shard before child, then sequence number), which is the
order they are applied in; time only decides where the prefix ends, never the order. An INSERT
or MODIFY puts its new image; a REMOVE (a TTL delete included) deletes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator

from ..changelog.format import ChangeRecord
from ..errors import ChangeLogError
from ..items import Item, KeySchema, key_identity

__all__ = ["apply_records", "roll_forward_items"]


def _after(record: ChangeRecord) -> Item | None:
    if record.event_name == "REMOVE":
        return None
    if record.new_image is None:
        raise ChangeLogError(
            f"record {record.sequence_number} ({record.event_name}) has no new image",
            hint="roll forward needs a log of a NEW_IMAGE or NEW_AND_OLD_IMAGES stream",
        )
    return record.new_image


def apply_records(base: Item | None, records: Iterable[ChangeRecord], to_time: int) -> Item | None:
    """One key's state at the end of second ``to_time``: ``base`` with the longest prefix of
    ``records`` (that key's, in stream order) whose times are <= ``to_time`` applied."""
    state = base
    for record in records:
        if record.seconds > to_time:
            break
        state = _after(record)
    return state


def roll_forward_items(
    base: Iterable[Item],
    records: Iterable[ChangeRecord],
    schema: KeySchema,
    to_time: int,
) -> Iterator[Item]:
    """Every item present at the end of second ``to_time``, from a base and its log records
    (in stream order). Holds one group of input in memory: the caller partitions (``spill``)."""
    states: dict[Hashable, Item | None] = {key_identity(item, schema): item for item in base}
    by_key: dict[Hashable, list[ChangeRecord]] = {}
    for record in records:
        by_key.setdefault(key_identity(record.keys, schema), []).append(record)
    for identity, key_records in by_key.items():
        states[identity] = apply_records(states.get(identity), key_records, to_time)
    for state in states.values():
        if state is not None:
            yield state
