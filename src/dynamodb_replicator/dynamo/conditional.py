"""Single-item conditional writes, for repairs that must not overwrite a newer change.

Batch writes cannot carry conditions, so race-safe repairs go one item at a time. Every write
asks for the old item back, on success (``ReturnValues``) and on a failed condition
(``ReturnValuesOnConditionCheckFailure``), because a condition only tests the attributes it
names: the caller compares the old item with what it expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from ..items import Item, Key, item_size
from .aws import aws_errors, consumed_units, expected
from .clients import Client
from .ratelimit import RateLimiter

__all__ = [
    "MAX_CONDITION_BYTES",
    "MAX_CONDITION_VALUE_BYTES",
    "MAX_OPERATORS",
    "Condition",
    "ConditionalResult",
    "conditional_delete",
    "conditional_put",
    "unchanged_condition",
]


@dataclass(frozen=True)
class Condition:
    """A ``ConditionExpression`` with its placeholder names and values (wire format)."""

    expression: str
    names: Mapping[str, str]
    values: Mapping[str, Any]

    def args(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ConditionExpression": self.expression}
        if self.names:
            out["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            out["ExpressionAttributeValues"] = dict(self.values)
        return out


@dataclass(frozen=True)
class ConditionalResult:
    """``applied`` false means the condition failed; ``old_item`` is what the table held."""

    applied: bool
    old_item: Item | None
    consumed: float


def _write(
    what: str,
    fn: Any,
    table: str,
    condition: Condition | None,
    limiter: RateLimiter | None,
    **kwargs: Any,
) -> ConditionalResult:
    args: dict[str, Any] = {
        "TableName": table,
        "ReturnValues": "ALL_OLD",
        "ReturnConsumedCapacity": "TOTAL",
        **kwargs,
    }
    if condition is not None:
        args.update(condition.args())
        args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if limiter is not None:
        limiter.acquire()
    with aws_errors(
        what, table=table, codes={"ConditionalCheckFailedException": expected}
    ) as refused:
        response = fn(**args)
    if refused:
        # The old item of a failed condition: wire format, as our item model holds it.
        old = cast("Item | None", refused.response.get("Item"))
        units = consumed_units(refused.response)
        if limiter is not None:
            limiter.consume(units or 1.0)
        return ConditionalResult(applied=False, old_item=old, consumed=units)
    units = consumed_units(response)
    if limiter is not None:
        limiter.consume(units)
    return ConditionalResult(applied=True, old_item=response.get("Attributes"), consumed=units)


def conditional_put(
    client: Client,
    table: str,
    item: Item,
    condition: Condition | None,
    *,
    limiter: RateLimiter | None = None,
) -> ConditionalResult:
    """``PutItem`` under ``condition`` (``None``: unconditional, still returning the old item)."""
    return _write(f"PutItem on {table}", client.put_item, table, condition, limiter, Item=item)


def conditional_delete(
    client: Client,
    table: str,
    key: Key,
    condition: Condition | None,
    *,
    limiter: RateLimiter | None = None,
) -> ConditionalResult:
    """``DeleteItem`` under ``condition``, returning the old item either way."""
    return _write(f"DeleteItem on {table}", client.delete_item, table, condition, limiter, Key=key)


# --- conditions (pure) -----------------------------------------------------------------------

#: DynamoDB's expression limits: 300 operators, 4 KB of expression string.
MAX_OPERATORS: Final = 300
MAX_CONDITION_BYTES: Final = 4096
#: Our own bound on the values a condition carries, so item plus condition fit in one request.
MAX_CONDITION_VALUE_BYTES: Final = 300 * 1024


def unchanged_condition(item: Mapping[str, Any]) -> Condition | None:
    """A condition true only while the stored item still has every attribute of ``item`` with
    the same value; ``None`` when it would exceed DynamoDB's expression limits."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    parts: list[str] = []
    for i, (name, value) in enumerate(item.items()):
        names[f"#a{i}"] = name
        values[f":v{i}"] = value
        parts.append(f"#a{i} = :v{i}")
    expression = " AND ".join(parts)
    operators = 2 * len(parts) - 1
    if (
        not parts
        or operators > MAX_OPERATORS
        or len(expression.encode()) > MAX_CONDITION_BYTES
        or item_size(item) > MAX_CONDITION_VALUE_BYTES
    ):
        return None
    return Condition(expression, names, values)
