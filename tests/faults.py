"""Faults a real server cannot produce on demand, injected with botocore event hooks.

A ``before-parameter-build`` hook removes some requests before they are sent (so the server never
sees them) and an ``after-call`` hook returns exactly those as leftovers (``UnprocessedItems`` /
``UnprocessedKeys``), passed between the two hooks through the request context. When nothing is
left to send, a ``before-call`` hook answers without the server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse

__all__ = ["inject_leftovers"]


def inject_leftovers(
    client: Any, operation: str, drop: Callable[[dict[str, Any], int], bool]
) -> dict[str, int]:
    """Make ``operation`` return the requests ``drop(request, call_number)`` picks as leftovers."""
    stats = {"calls": 0, "dropped": 0}
    events = client.meta.events

    def before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        stats["calls"] += 1
        for table, body in params["RequestItems"].items():
            requests = body if operation == "BatchWriteItem" else body["Keys"]
            gone = [r for r in requests if drop(r, stats["calls"])]
            kept = [r for r in requests if not drop(r, stats["calls"])]
            if not kept:  # nothing left to send: before-call answers without the server
                context["short_circuit"] = True
            elif operation == "BatchWriteItem":
                params["RequestItems"][table] = kept
            else:
                body["Keys"] = kept
            context.setdefault("dropped", {})[table] = gone
            stats["dropped"] += len(gone)

    def after(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        for table, gone in context.get("dropped", {}).items():
            if not gone:
                continue
            if operation == "BatchWriteItem":
                parsed.setdefault("UnprocessedItems", {}).setdefault(table, []).extend(gone)
            else:
                entry = parsed.setdefault("UnprocessedKeys", {}).setdefault(table, {"Keys": []})
                entry["Keys"].extend(gone)

    def short_circuit(context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        if context.pop("short_circuit", False):
            return AWSResponse("http://injected", 200, {}, None), {}
        return None

    events.register(f"before-parameter-build.dynamodb.{operation}", before)
    events.register(f"before-call.dynamodb.{operation}", short_circuit)
    events.register(f"after-call.dynamodb.{operation}", after)
    return stats
