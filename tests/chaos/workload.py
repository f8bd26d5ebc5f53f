"""What the chaos cases and the soak share: items, change logs, exact table comparison, and the
keys a failed run names.

Tables are compared by the project's item model (numbers by exact value, sets unordered), so a
backend that keeps numbers as written compares the same as one that normalises them.
"""

from __future__ import annotations

import gzip
import random
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynamodb_replicator.items import KeySchema, decode_item, items_equal, key_identity
from dynamodb_replicator.local.sample import sample_item

SCHEMA = KeySchema("pk", "S")
Item = dict[str, Any]
Table = dict[Hashable, Item]


def make_items(count: int, seed: int, first: int = 0) -> list[Item]:
    """``count`` items of every attribute type (binary nested, 38-digit numbers, sets)."""
    rng = random.Random(seed)
    return [sample_item(first + i, rng) for i in range(count)]


def pk(item: Mapping[str, Any]) -> str:
    return str(item["pk"]["S"])


def by_key(items: Iterable[Item]) -> Table:
    return {key_identity(item, SCHEMA): item for item in items}


def scan_table(client: Any, table: str) -> Table:
    """Every item of ``table``, read consistently, by key."""
    out: Table = {}
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**params)
        out.update(by_key(page["Items"]))
        if "LastEvaluatedKey" not in page:
            return out
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def differences(want: Table, got: Table) -> list[str]:
    """The partition keys whose items differ: missing from ``got``, extra in it, or unequal."""
    keys = set(want) | set(got)
    bad = [
        key
        for key in keys
        if key not in want or key not in got or not items_equal(want[key], got[key])
    ]
    return sorted(pk(want.get(key) or got[key]) for key in bad)


_NAMED = re.compile(r'"pk"\s*:\s*\{\s*"S"\s*:\s*"([^"]+)"\s*\}')


def named_keys(text: str) -> set[str]:
    """The partition keys a command's output names (``{"pk":{"S":"item-00000017"}}``)."""
    return set(_NAMED.findall(text))


def read_backup(job_dir: Path) -> Table:
    """The items of every segment object of a backup job folder (``0``, ``1``, ...)."""
    out: Table = {}
    for path in sorted(job_dir.iterdir()):
        if path.name.isdigit():
            with gzip.open(path, "rb") as lines:
                out.update(by_key(decode_item(line) for line in lines if line.strip()))
    return out


def put_all(client: Any, table: str, items: Iterable[Item]) -> None:
    """Write ``items`` directly (no faults), every leftover retried until written."""
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25:
            _write(client, table, batch)
            batch = []
    if batch:
        _write(client, table, batch)


def delete_all(client: Any, table: str, keys: Iterable[str]) -> None:
    batch = [{"DeleteRequest": {"Key": {"pk": {"S": key}}}} for key in keys]
    for start in range(0, len(batch), 25):
        _write(client, table, batch[start : start + 25])


def _write(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    for _ in range(100):
        left = client.batch_write_item(RequestItems={table: requests})
        requests = left.get("UnprocessedItems", {}).get(table, [])
        if not requests:
            return
    raise AssertionError(f"{len(requests)} write(s) still unprocessed after 100 calls")


@dataclass(frozen=True)
class Change:
    """One change of a change log: ``INSERT``/``MODIFY`` with the new image, or ``REMOVE``."""

    event: str
    key: Item
    image: Item | None


def change_log(count: int, seed: int) -> tuple[list[Change], Table]:
    """``count`` changes (inserts, then overwrites and deletes mixed in) and the table they
    leave when applied in order to an empty table."""
    rng = random.Random(seed)
    state: Table = {}
    changes: list[Change] = []
    created = 0
    for _ in range(count):
        live = sorted(state, key=str)
        roll = rng.random()
        if live and roll < 0.2:
            key = rng.choice(live)
            changes.append(Change("REMOVE", {"pk": state[key]["pk"]}, None))
            del state[key]
            continue
        if live and roll < 0.45:
            old = state[rng.choice(live)]
            image = dict(old, small={"N": str(rng.randint(-(10**6), 10**6))})
            event = "MODIFY"
        else:
            image = sample_item(created, rng)
            created += 1
            event = "INSERT"
        changes.append(Change(event, {"pk": image["pk"]}, image))
        state[key_identity(image, SCHEMA)] = image
    return changes, state
