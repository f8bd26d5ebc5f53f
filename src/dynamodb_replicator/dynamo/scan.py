"""One segment of a parallel scan, page by page, resumable from ``LastEvaluatedKey``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ..items import Item, Key
from .aws import call, consumed_units
from .clients import Client
from .ratelimit import RateLimiter

__all__ = ["ScanPage", "projection_args", "scan_segment"]


@dataclass(frozen=True)
class ScanPage:
    """One page of a scan; ``last_key`` resumes after it (``None`` on the last page)."""

    items: list[Item]
    last_key: Key | None
    consumed: float
    scanned: int


def projection_args(attributes: Sequence[str] | None) -> dict[str, Any]:
    """``ProjectionExpression`` arguments with placeholders, so any attribute name works."""
    if not attributes:
        return {}
    names = {f"#p{i}": name for i, name in enumerate(attributes)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


def scan_segment(
    client: Client,
    table: str,
    *,
    segment: int | None = None,
    total_segments: int | None = None,
    consistent: bool = False,
    start_key: Key | None = None,
    limiter: RateLimiter | None = None,
    page_size: int | None = None,
    projection: Sequence[str] | None = None,
) -> Iterator[ScanPage]:
    """Yield the pages of one segment (or the whole table when ``total_segments`` is ``None``).

    Each page reports the capacity it consumed, which also feeds ``limiter``.
    """
    args: dict[str, Any] = {
        "TableName": table,
        "ReturnConsumedCapacity": "TOTAL",
        **projection_args(projection),
    }
    if total_segments is not None:
        args["Segment"] = segment or 0
        args["TotalSegments"] = total_segments
    if consistent:
        args["ConsistentRead"] = True
    if page_size:
        args["Limit"] = page_size
    where = f"Scan of {table}" + (f" segment {segment}/{total_segments}" if total_segments else "")
    key = start_key
    while True:
        if key is not None:
            args["ExclusiveStartKey"] = key
        if limiter is not None:
            limiter.acquire()
        # The one place the Scan response meets our item model (wire format, as the stubs'
        # attribute values are): its items and its last key are ``Item``s.
        response = cast("dict[str, Any]", call(where, client.scan, table=table, **args))
        units = consumed_units(response)
        if limiter is not None:
            limiter.consume(units)
        key = response.get("LastEvaluatedKey")
        yield ScanPage(
            items=response.get("Items", []),
            last_key=key,
            consumed=units,
            scanned=int(response.get("ScannedCount", 0)),
        )
        if key is None:
            return
