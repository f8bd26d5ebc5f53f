"""A table's DynamoDB Stream through the Streams API: finding it, listing its shards, reading
one page of records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from ..dynamo import StreamsClient
from ..dynamo.aws import aws_errors
from ..errors import ConfigError

__all__ = [
    "IMAGE_VIEWS",
    "Shard",
    "StreamInfo",
    "find_stream",
    "list_shards",
    "read_records",
]


IMAGE_VIEWS = frozenset({"NEW_IMAGE", "NEW_AND_OLD_IMAGES"})


@dataclass(frozen=True)
class StreamInfo:
    """A table's latest stream: its ARN and view type."""

    arn: str
    view_type: str


@dataclass(frozen=True)
class Shard:
    """One shard of a stream; ``closed`` once it has an ending sequence number."""

    shard_id: str
    parent_id: str | None
    closed: bool


def find_stream(table_info: Any, *, mode: str, where: str) -> StreamInfo:
    """The latest stream of a described table; exit-2 errors when it cannot serve ``mode``."""
    arn = getattr(table_info, "stream_arn", None)
    view = getattr(table_info, "stream_view_type", None)
    if not arn or not view:
        raise ConfigError(
            f"table {where} has no enabled stream",
            hint="enable a stream (NEW_AND_OLD_IMAGES, or NEW_IMAGE) on the primary table",
        )
    if mode == "image" and view not in IMAGE_VIEWS:
        hint = (
            "run with --mode fetch (reads each changed key from the primary)"
            if view == "KEYS_ONLY"
            else "use a NEW_IMAGE or NEW_AND_OLD_IMAGES stream, or run with --mode fetch"
        )
        raise ConfigError(f"the stream of {where} is {view}: it carries no new images", hint=hint)
    return StreamInfo(arn=str(arn), view_type=str(view))


def read_records(streams: StreamsClient, iterator: str, limit: int) -> dict[str, Any]:
    """One GetRecords call: the one place its response meets our item model (the records'
    images are wire format, which the stubs' attribute values describe)."""
    return cast("dict[str, Any]", streams.get_records(ShardIterator=iterator, Limit=limit))


def list_shards(streams: StreamsClient, stream_arn: str) -> list[Shard]:
    """Every shard of the stream, following ``LastEvaluatedShardId`` pagination."""
    shards: list[Shard] = []
    start: str | None = None
    while True:
        kwargs: dict[str, Any] = {"StreamArn": stream_arn}
        if start is not None:
            kwargs["ExclusiveStartShardId"] = start
        with aws_errors(f"DescribeStream {stream_arn}"):
            desc = streams.describe_stream(**kwargs)["StreamDescription"]
        for raw in desc.get("Shards", []):
            ending = raw.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
            shards.append(Shard(raw["ShardId"], raw.get("ParentShardId"), ending is not None))
        start = desc.get("LastEvaluatedShardId")
        if not start:
            return shards
