"""A table's definition: from DescribeTable into the manifest, and back into CreateTable (pure).

The manifest keeps an AWS-shaped subset of the description, enough to recreate the table: key
schema, attribute definitions, indexes, billing mode and capacity, stream, TTL, SSE, table
class, deletion protection and tags (``None`` where they could not be read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

__all__ = ["CreatePlan", "create_plan", "table_definition", "ttl_attribute"]

_ON_DEMAND = "PAY_PER_REQUEST"
_PROVISIONED = "PROVISIONED"


def _throughput(desc: Mapping[str, Any] | None) -> dict[str, int] | None:
    if not desc:
        return None
    read = int(desc.get("ReadCapacityUnits", 0) or 0)
    write = int(desc.get("WriteCapacityUnits", 0) or 0)
    if read <= 0 or write <= 0:
        return None
    return {"ReadCapacityUnits": read, "WriteCapacityUnits": write}


def _projection(desc: Mapping[str, Any]) -> dict[str, Any]:
    projection = desc.get("Projection") or {"ProjectionType": "ALL"}
    out: dict[str, Any] = {"ProjectionType": projection.get("ProjectionType", "ALL")}
    if projection.get("NonKeyAttributes"):
        out["NonKeyAttributes"] = list(projection["NonKeyAttributes"])
    return out


def _index(desc: Mapping[str, Any], with_throughput: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "IndexName": desc["IndexName"],
        "KeySchema": [dict(k) for k in desc["KeySchema"]],
        "Projection": _projection(desc),
    }
    throughput = _throughput(desc.get("ProvisionedThroughput")) if with_throughput else None
    if throughput:
        out["ProvisionedThroughput"] = throughput
    return out


def _billing_mode(desc: Mapping[str, Any]) -> str:
    summary = desc.get("BillingModeSummary") or {}
    if summary.get("BillingMode"):
        return str(summary["BillingMode"])
    return _PROVISIONED if _throughput(desc.get("ProvisionedThroughput")) else _ON_DEMAND


def table_definition(
    description: Mapping[str, Any],
    *,
    ttl: Mapping[str, Any] | None = None,
    tags: Sequence[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """The JSON-safe definition kept in each manifest, from DescribeTable's ``Table``.

    ``ttl`` is DescribeTimeToLive's ``TimeToLiveDescription`` and ``tags`` ListTagsOfResource's
    ``Tags``; ``None`` records that they could not be read.
    """
    billing = _billing_mode(description)
    definition: dict[str, Any] = {
        "TableName": description["TableName"],
        "KeySchema": [dict(k) for k in description["KeySchema"]],
        "AttributeDefinitions": [dict(a) for a in description["AttributeDefinitions"]],
        "BillingMode": billing,
        "GlobalSecondaryIndexes": [
            _index(i, billing == _PROVISIONED)
            for i in description.get("GlobalSecondaryIndexes", [])
        ],
        "LocalSecondaryIndexes": [
            _index(i, False) for i in description.get("LocalSecondaryIndexes", [])
        ],
        "TableClass": (description.get("TableClassSummary") or {}).get("TableClass", "STANDARD"),
        "DeletionProtectionEnabled": bool(description.get("DeletionProtectionEnabled", False)),
    }
    throughput = _throughput(description.get("ProvisionedThroughput"))
    if billing == _PROVISIONED and throughput:
        definition["ProvisionedThroughput"] = throughput
    stream = description.get("StreamSpecification") or {}
    definition["StreamSpecification"] = (
        {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        if stream.get("StreamEnabled")
        else {"StreamEnabled": False}
    )
    sse = description.get("SSEDescription") or {}
    definition["SSE"] = (
        {"SSEType": sse.get("SSEType", "KMS"), "KMSMasterKeyArn": sse.get("KMSMasterKeyArn")}
        if sse.get("Status") in ("ENABLED", "ENABLING", "UPDATING")
        else None
    )
    definition["TimeToLive"] = (
        None
        if ttl is None
        else {
            "Enabled": ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"),
            "AttributeName": ttl.get("AttributeName"),
        }
    )
    definition["Tags"] = None if tags is None else [dict(t) for t in tags]
    for name in ("TableArn", "ItemCount", "TableSizeBytes"):
        if name in description:
            definition[name] = description[name]
    return definition


@dataclass(frozen=True)
class CreatePlan:
    """CreateTable's arguments, and the TTL to set once the table is active (``None``: none)."""

    create_args: Mapping[str, Any]
    ttl_attribute: str | None


def _need_capacity(index: str) -> UsageError:
    return UsageError(
        f"--billing-mode PROVISIONED, but the backup records no capacity for {index}",
        hint="restore on demand (the default for such backups) or create the table yourself",
    )


def create_plan(
    definition: Mapping[str, Any],
    table: str,
    *,
    billing_mode: str | None = None,
    sse_kms_key_id: str | None = None,
) -> CreatePlan:
    """CreateTable arguments for ``table`` from a manifest's definition, with overrides."""
    billing = (billing_mode or definition.get("BillingMode") or _ON_DEMAND).upper()
    if billing not in (_ON_DEMAND, _PROVISIONED):
        raise UsageError(
            f"unknown billing mode {billing!r}", hint="use PAY_PER_REQUEST or PROVISIONED"
        )
    provisioned = billing == _PROVISIONED
    table_throughput: dict[str, Any] = dict(definition.get("ProvisionedThroughput") or {})
    if provisioned and not table_throughput:
        raise _need_capacity("the table")
    args: dict[str, Any] = {
        "TableName": table,
        "KeySchema": [dict(k) for k in definition["KeySchema"]],
        "AttributeDefinitions": [dict(a) for a in definition["AttributeDefinitions"]],
        "BillingMode": billing,
    }
    if provisioned:
        args["ProvisionedThroughput"] = table_throughput
    gsis = []
    for index in definition.get("GlobalSecondaryIndexes") or []:
        entry = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
        if provisioned:
            entry["ProvisionedThroughput"] = dict(
                index.get("ProvisionedThroughput") or table_throughput
            )
        gsis.append(entry)
    if gsis:
        args["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {k: i[k] for k in ("IndexName", "KeySchema", "Projection")}
        for i in definition.get("LocalSecondaryIndexes") or []
    ]
    if lsis:
        args["LocalSecondaryIndexes"] = lsis
    stream = definition.get("StreamSpecification") or {}
    if stream.get("StreamEnabled"):
        args["StreamSpecification"] = dict(stream)
    sse = definition.get("SSE")
    if sse_kms_key_id:
        args["SSESpecification"] = {
            "Enabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": sse_kms_key_id,
        }
    elif sse and sse.get("SSEType") == "KMS":
        args["SSESpecification"] = {"Enabled": True, "SSEType": "KMS"}
        if sse.get("KMSMasterKeyArn"):
            args["SSESpecification"]["KMSMasterKeyId"] = sse["KMSMasterKeyArn"]
    table_class = definition.get("TableClass")
    if table_class and table_class != "STANDARD":
        args["TableClass"] = table_class
    if definition.get("DeletionProtectionEnabled"):
        args["DeletionProtectionEnabled"] = True
    if definition.get("Tags"):
        args["Tags"] = [dict(t) for t in definition["Tags"]]
    return CreatePlan(args, ttl_attribute(definition))


def ttl_attribute(definition: Mapping[str, Any]) -> str | None:
    """The TTL attribute the backed-up table had enabled (``None``: TTL was off)."""
    ttl = definition.get("TimeToLive") or {}
    name = ttl.get("AttributeName") if ttl.get("Enabled") else None
    return str(name) if name else None
