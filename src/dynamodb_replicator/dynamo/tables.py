"""Describing tables: key schema, size, stream, and the checks jobs make before any work."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

from ..errors import AwsError, ConfigError, UsageError
from ..items import KeySchema
from .address import TableAddress
from .aws import call
from .clients import Client, TableSpec
from .retry import giving_up_after

#: A table described before any work on an endpoint that fails every attempt for this long is
#: a configuration error (a wrong port, a server not started): say so soon.
DESCRIBE_GIVE_UP_AFTER = 10.0

__all__ = [
    "DescribedTable",
    "TableInfo",
    "TablePair",
    "check_compatible",
    "describe_pair",
    "describe_table",
]


@dataclass(frozen=True)
class TableInfo:
    """What a job needs to know about a table, from one ``DescribeTable``."""

    name: str
    key_schema: KeySchema
    item_count: int
    size_bytes: int
    stream_arn: str | None
    stream_view_type: str | None
    is_global_replica: bool
    description: Mapping[str, Any]


def describe_table(client: Client, table: str, where: str | None = None) -> TableInfo:
    """Describe ``table``; a missing table is a :class:`TableNotFoundError` (exit 2), and so
    is an endpoint that cannot be reached within :data:`DESCRIBE_GIVE_UP_AFTER` seconds."""
    client = giving_up_after(client, DESCRIBE_GIVE_UP_AFTER)
    try:
        desc = call(
            f"DescribeTable at {where or table}",
            client.describe_table,
            table=table,
            TableName=table,
        )["Table"]
    except AwsError as exc:
        if isinstance(exc.cause, EndpointConnectionError | ConnectTimeoutError):
            # found before any work: a configuration error, like a missing table
            raise ConfigError(exc.message, hint=exc.hint, cause=exc.cause) from exc
        raise
    stream: Mapping[str, Any] = desc.get("StreamSpecification") or {}
    enabled = bool(stream.get("StreamEnabled"))
    return TableInfo(
        name=desc["TableName"],
        key_schema=KeySchema.from_description(desc),
        item_count=int(desc.get("ItemCount", 0)),
        size_bytes=int(desc.get("TableSizeBytes", 0)),
        stream_arn=desc.get("LatestStreamArn") if enabled else None,
        stream_view_type=stream.get("StreamViewType") if enabled else None,
        is_global_replica=bool(desc.get("Replicas") or desc.get("GlobalTableVersion")),
        description=desc,
    )


def _describe(schema: KeySchema) -> str:
    parts = [f"HASH {schema.hash_key} ({schema.hash_type})"]
    if schema.range_key:
        parts.append(f"RANGE {schema.range_key} ({schema.range_type})")
    return ", ".join(parts)


def _same_table(address: TableAddress) -> UsageError:
    return UsageError(
        f"the same table was given twice: {address}",
        hint="name two different tables (or the same name in another region or endpoint)",
    )


def check_compatible(
    primary: TableAddress, replica: TableAddress, p: TableInfo, r: TableInfo
) -> None:
    """Refuse the same table twice and key schemas that differ (both are exit-2 errors)."""
    if primary == replica:
        raise _same_table(primary)
    if p.key_schema != r.key_schema:
        raise ConfigError(
            f"key schemas differ: {primary} has {_describe(p.key_schema)}, "
            f"{replica} has {_describe(r.key_schema)}",
            hint="a replica must have the primary's key attributes and types",
        )


@dataclass(frozen=True)
class DescribedTable:
    """One side of a two-table job: how to reach it, the client that described it, and what
    ``DescribeTable`` said (the client is reused so its calls count with the job's)."""

    spec: TableSpec
    client: Client
    info: TableInfo


@dataclass(frozen=True)
class TablePair:
    """A primary and a replica, both described and checked to be two compatible tables."""

    primary: DescribedTable
    replica: DescribedTable

    @property
    def key_schema(self) -> KeySchema:
        """The key schema both tables share."""
        return self.primary.info.key_schema


def describe_pair(primary: TableSpec, replica: TableSpec) -> TablePair:
    """Describe both tables of a two-table job (diff, repair, replicate) before any work.

    The same table twice is refused before anything is read (a :class:`UsageError`); a missing
    table or key schemas that differ are :class:`ConfigError`-like exit-2 errors.
    """
    if primary.address == replica.address:
        raise _same_table(primary.address)
    sides = []
    for spec in (primary, replica):
        client = spec.client()
        sides.append(
            DescribedTable(spec, client, describe_table(client, spec.name, str(spec.address)))
        )
    p, r = sides
    check_compatible(primary.address, replica.address, p.info, r.info)
    return TablePair(p, r)
