"""The demo's tables and data: the calls behind the ``demo`` command's narrated steps.

Two tables keyed by ``pk`` (S): a primary with a ``NEW_AND_OLD_IMAGES`` stream and a replica;
sample items written, updated and deleted on the primary; a known set of damage done to the
replica; a bucket for the backup and the names of what a backup job wrote there. The command
narrates and checks; this module talks to DynamoDB and S3 (deterministic: fixed seeds).
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from ..dynamo import Delete, Put, TableSpec, batch_write, describe_table, s3_client
from ..items import Item, KeySchema, key_identity
from .sample import sample_items

__all__ = [
    "SCHEMA",
    "Damage",
    "Written",
    "create_bucket",
    "create_tables",
    "damage_replica",
    "job_objects",
    "write_primary",
]

#: The demo tables' key schema.
SCHEMA = KeySchema("pk", "S")

#: A discrepancy the damage must produce: its kind (``missing``, ``different``, ``extraneous``)
#: and the key's identity.
Damage = tuple[str, Hashable]


def _identity(item: Mapping[str, object]) -> Hashable:
    return key_identity({"pk": item["pk"]}, SCHEMA)


def create_tables(primary: TableSpec, replica: TableSpec) -> str | None:
    """Create the primary (with a stream of both images) and the replica, on demand billing,
    both at the primary's endpoint; the primary's stream view type, as described."""
    client = primary.client()
    for spec, stream in ((primary, True), (replica, False)):
        extra: dict[str, Any] = {}
        if stream:
            extra["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            }
        client.create_table(
            TableName=spec.name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            **extra,
        )
    return describe_table(client, primary.name).stream_view_type


@dataclass(frozen=True)
class Written:
    """What the primary holds after :func:`write_primary`: its items by key identity, and how
    many were updated and deleted after the first write."""

    items: Mapping[Hashable, Item]
    updated: int
    deleted: int


def write_primary(primary: TableSpec, count: int) -> Written:
    """Write ``count`` sample items (every attribute type), then update a tenth and delete a
    twentieth of them (at least one each)."""
    client = primary.client()
    items = sample_items(count, light=True)
    batch_write(client, primary.name, [Put(i) for i in items], SCHEMA)
    rng = random.Random(11)
    updated = rng.sample(items, max(1, count // 10))
    changes: list[Put | Delete] = []
    for item in updated:
        changes.append(Put({**item, "version": {"N": "2"}, "note": {"S": "updated ✓"}}))
    deleted = rng.sample(items, max(1, count // 20))
    changes += [Delete({"pk": i["pk"]}) for i in deleted]
    batch_write(client, primary.name, changes, SCHEMA)
    held = {_identity(i): i for i in items}
    for change in changes:
        if isinstance(change, Put):
            held[_identity(change.item)] = change.item
    for item in deleted:
        held.pop(_identity(item), None)
    return Written(held, len(updated), len(deleted))


def damage_replica(replica: TableSpec, items: Mapping[Hashable, Item]) -> frozenset[Damage]:
    """Of the replica's copies of ``items``: delete 10, change 10, and add 10 strays; the
    discrepancies diff-tables must then find, exactly."""
    rng = random.Random(5)
    victims = rng.sample(sorted(items.values(), key=lambda i: i["pk"]["S"]), 30)
    deleted, changed = victims[:10], victims[10:20]
    strays: list[Item] = [{"pk": {"S": f"stray-{n}"}, "junk": {"B": bytes([n])}} for n in range(10)]
    requests: list[Put | Delete] = [Delete({"pk": i["pk"]}) for i in deleted]
    requests += [Put({**i, "tampered": {"S": "yes"}}) for i in changed]
    requests += [Put(s) for s in strays]
    batch_write(replica.client(), replica.name, requests, SCHEMA)
    damage = {("missing", _identity(i)) for i in deleted}
    damage |= {("different", _identity(i)) for i in changed}
    damage |= {("extraneous", _identity(i)) for i in strays}
    return frozenset(damage)


def create_bucket(name: str) -> None:
    """Create the S3 bucket ``name`` (at ``AWS_ENDPOINT_URL_S3``)."""
    s3_client().create_bucket(Bucket=name)


def job_objects(bucket: str, prefix: str) -> list[str]:
    """The names (last path component) of the objects under ``prefix`` in ``bucket``, sorted."""
    listed = s3_client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", []))
