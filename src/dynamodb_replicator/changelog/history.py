"""``record-history``: every version of one item in the change log, newest first.

Keys compare by value (numbers by exact value, binary as bytes), so a key spelled two ways in
the stream (``"1.50"`` and ``"1.5"``) is one key. Versions come in stream order, reversed; time
is shown, never used for ordering. Streams (a re-created table's) are taken oldest label first.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from ..backup.storage import Storage
from ..errors import ConfigError
from ..items import KeySchema, canonical_value
from .format import ChangeRecord
from .reader import Damage, read_descriptor, read_window
from .verify import find_logs

__all__ = ["History", "Version", "logged_key_schema", "record_history"]


@dataclass(frozen=True)
class Version:
    """One change of the item: the record, its stream and shard."""

    record: ChangeRecord
    stream_label: str
    shard_id: str | None

    @property
    def ttl_delete(self) -> bool:
        identity = self.record.user_identity
        return (
            self.record.event_name == "REMOVE"
            and isinstance(identity, Mapping)
            and identity.get("type") == "Service"
            and identity.get("principalId") == "dynamodb.amazonaws.com"
        )


@dataclass(frozen=True)
class History:
    """The versions found (newest first) and any damage that may hide some."""

    versions: tuple[Version, ...]
    damaged: tuple[Damage, ...]
    unfinished: tuple[str, ...]


def _key_id(keys: Mapping[str, Any]) -> Hashable:
    return tuple((name, canonical_value(keys[name])) for name in sorted(keys))


def record_history(
    root: Storage, key: Mapping[str, Any], first: int | None = None, last: int | None = None
) -> History:
    """Every change of ``key`` in the logs at or under ``root`` within ``[first, last]``."""
    wanted = _key_id(key)
    versions: list[Version] = []
    damaged: list[Damage] = []
    unfinished: list[str] = []
    for storage in sorted(find_logs(root), key=lambda s: s.location.url()):
        label = storage.location.url().rstrip("/").rsplit("/", 1)[-1]
        window = read_window(storage, first=first, last=last)
        damaged += window.damaged
        unfinished += window.unfinished
        versions += [
            Version(entry.record, label, entry.shard_id)
            for entry in window.records
            if _key_id(entry.record.keys) == wanted
        ]
    return History(tuple(reversed(versions)), tuple(damaged), tuple(unfinished))


def logged_key_schema(root: Storage) -> KeySchema:
    """The table's key schema as the (first) log at or under ``root`` records it."""
    for storage in find_logs(root):
        descriptor = read_descriptor(storage)
        if descriptor is not None:
            keys = {kind: (name, type_) for name, kind, type_ in descriptor.key_schema}
            hash_name, hash_type = keys["HASH"]
            range_name, range_type = keys.get("RANGE", (None, None))
            return KeySchema(hash_name, hash_type, range_name, range_type)
    raise ConfigError(f"no change log at {root.location.url()}")
