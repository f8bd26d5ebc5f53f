"""A described table -> its change log descriptor, refusing streams that cannot serve (pure)."""

from __future__ import annotations

from typing import Final

from ..dynamo import TableInfo
from ..errors import ConfigError
from .layout import LogDescriptor, stream_label

__all__ = ["IMAGE_VIEWS", "descriptor_of"]

IMAGE_VIEWS: Final = frozenset({"NEW_IMAGE", "NEW_AND_OLD_IMAGES"})


def descriptor_of(info: TableInfo, *, fetch: bool, where: str) -> LogDescriptor:
    """The log descriptor of a described table's stream; exit-2 errors when it cannot serve."""
    if not info.stream_arn or not info.stream_view_type:
        raise ConfigError(
            f"table {where} has no enabled stream",
            hint="enable a stream (NEW_AND_OLD_IMAGES, or NEW_IMAGE) on the table",
        )
    if info.stream_view_type not in IMAGE_VIEWS and not fetch:
        raise ConfigError(
            f"the stream of {where} is {info.stream_view_type}: it carries no new images",
            hint="use a NEW_IMAGE or NEW_AND_OLD_IMAGES stream, or run with --fetch (reads each "
            "changed item from the table: not point-in-time exact)",
        )
    schema = info.key_schema
    keys = [(schema.hash_key, "HASH", schema.hash_type)]
    if schema.range_key is not None and schema.range_type is not None:
        keys.append((schema.range_key, "RANGE", schema.range_type))
    return LogDescriptor(
        table=info.name,
        table_arn=info.description.get("TableArn"),
        stream_arn=info.stream_arn,
        stream_label=stream_label(info.stream_arn),
        key_schema=tuple(keys),
        view_type=info.stream_view_type,
    )
