"""A reference set of items (e.g. read from a backup) against a live table: the comparison
behind ``verify-backup --against`` (:func:`dynamodb_replicator.diff.verify_against`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from typing import Any

from ..dynamo import (
    Backoff,
    RateLimiter,
    TableSpec,
    batch_get,
    describe_table,
    scan_segment,
)
from ..dynamo.clients import Client
from ..items import KeySchema, extract_key, key_identity
from .model import DiffStats, Discrepancy, Kind, Tally
from .passes import classify
from .segment import strip_items

__all__ = [
    "compare_reference",
]


def compare_reference(
    reference_pages: Iterable[Sequence[Mapping[str, Any]]],
    live: TableSpec,
    *,
    ignore_attributes: Collection[str] = (),
    segment: int | None = None,
    total_segments: int | None = None,
    consistent: bool = False,
    check_extraneous: bool = True,
    rate_read: float | None = None,
    progress: Any = None,
    on_discrepancy: Callable[[Discrepancy], None] | None = None,
    backoff: Backoff = Backoff(),
    client: Client | None = None,
) -> tuple[list[Discrepancy], DiffStats, KeySchema]:
    """Compare pages of reference items (e.g. read from a backup) with a live table.

    See :func:`dynamodb_replicator.diff.verify_against` for the public form.
    """
    client = client if client is not None else live.client()
    schema = describe_table(client, live.name, str(live.address)).key_schema
    limiter = RateLimiter(rate_read)
    tally = Tally()
    found: list[Discrepancy] = []
    known: set[Hashable] = set()

    def emit(d: Discrepancy) -> None:
        d = strip_items(d)
        tally.add(d.kind.value)
        found.append(d)
        if on_discrepancy is not None:
            on_discrepancy(d)

    for page in reference_pages:
        items = [dict(item) for item in page]
        keys = [extract_key(item, schema) for item in items]
        got = batch_get(
            client,
            live.name,
            keys,
            schema,
            consistent=consistent,
            backoff=backoff,
            limiter=limiter,
        ).by_key(schema)
        for key, item in zip(keys, items, strict=True):
            ident = key_identity(key, schema)
            known.add(ident)
            d = classify(key, item, got.get(ident), ignore_attributes)
            if d is not None:
                emit(d)
        tally.add("scanned_primary", len(items))
        if progress is not None:
            progress.advance("reference", len(items))
    if check_extraneous:
        for scanned in scan_segment(
            client,
            live.name,
            segment=segment,
            total_segments=total_segments,
            consistent=consistent,
            limiter=limiter,
            projection=schema.names,
        ):
            for item in scanned.items:
                if key_identity(item, schema) not in known:
                    key = extract_key(item, schema)
                    emit(Discrepancy(Kind.EXTRANEOUS, key))
            tally.add("scanned_replica", len(scanned.items))
            if progress is not None:
                progress.advance("scan live", len(scanned.items))
    tally.add("unresolved", len(found))
    return found, tally.freeze(read_units=limiter.consumed), schema
