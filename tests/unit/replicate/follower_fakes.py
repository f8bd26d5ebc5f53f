"""A small fake DynamoDB Streams client and in-memory checkpoint store for follower unit tests.

Local servers cannot split shards, close them, expire iterators or trim records on demand, so
these tests script the Streams API's answers instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from dynamodb_replicator.replicate.checkpoint import CheckpointState
from dynamodb_replicator.replicate.follower import ApplyOutcome

ARN = "arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/2026-01-01T00:00:00.000"


def seq(n: int) -> str:
    return f"{n:021d}"


def client_error(code: str, op: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (scripted)"}}, op)


@dataclass
class FakeShard:
    """A scripted shard: its records' sequence numbers, parent, and whether it is closed."""

    shard_id: str
    numbers: list[int]
    parent: str | None = None
    closed: bool = False
    trim_below: int = 0  # records below this number are gone (24-hour retention)


@dataclass
class FakeStreams:
    """DescribeStream (paginated), GetShardIterator and GetRecords over scripted shards."""

    shards: list[FakeShard]
    page_size: int = 2  # shards per DescribeStream page
    record_limit: int = 3  # records per GetRecords page
    expire_next: set[str] = field(default_factory=set)  # shard ids: next GetRecords expires
    on_describe: Any = None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def shard(self, shard_id: str) -> FakeShard:
        return next(s for s in self.shards if s.shard_id == shard_id)

    def describe_stream(self, StreamArn: str, ExclusiveStartShardId: str | None = None) -> Any:
        if self.on_describe is not None:
            self.on_describe(self)
        ids = [s.shard_id for s in self.shards]
        start = 0 if ExclusiveStartShardId is None else ids.index(ExclusiveStartShardId) + 1
        page = self.shards[start : start + self.page_size]
        desc: dict[str, Any] = {
            "StreamArn": StreamArn,
            "Shards": [
                {
                    "ShardId": s.shard_id,
                    **({"ParentShardId": s.parent} if s.parent else {}),
                    "SequenceNumberRange": {
                        "StartingSequenceNumber": seq(s.numbers[0] if s.numbers else 0),
                        **({"EndingSequenceNumber": seq(s.numbers[-1])} if s.closed else {}),
                    },
                }
                for s in page
            ],
        }
        if start + self.page_size < len(self.shards):
            desc["LastEvaluatedShardId"] = page[-1].shard_id
        self.calls.append(("describe_stream", ExclusiveStartShardId))
        return {"StreamDescription": desc}

    def get_shard_iterator(
        self,
        StreamArn: str,
        ShardId: str,
        ShardIteratorType: str,
        SequenceNumber: str | None = None,
    ) -> Any:
        self.calls.append(("get_shard_iterator", (ShardId, ShardIteratorType, SequenceNumber)))
        shard = self.shard(ShardId)
        kept = [n for n in shard.numbers if n >= shard.trim_below]
        if ShardIteratorType == "TRIM_HORIZON":
            index = shard.numbers.index(kept[0]) if kept else len(shard.numbers)
        elif ShardIteratorType == "LATEST":
            index = len(shard.numbers)
        else:
            after = int(str(SequenceNumber))
            if after < shard.trim_below - 1:
                raise client_error("TrimmedDataAccessException", "GetShardIterator")
            index = sum(1 for n in shard.numbers if n <= after)
        return {"ShardIterator": f"{ShardId}|{index}"}

    def get_records(self, ShardIterator: str, Limit: int) -> Any:
        shard_id, _, index_text = ShardIterator.partition("|")
        self.calls.append(("get_records", ShardIterator))
        if shard_id in self.expire_next:
            self.expire_next.discard(shard_id)
            raise client_error("ExpiredIteratorException", "GetRecords")
        shard = self.shard(shard_id)
        index = int(index_text)
        if index < len(shard.numbers) and shard.numbers[index] < shard.trim_below:
            raise client_error("TrimmedDataAccessException", "GetRecords")
        chunk = shard.numbers[index : index + min(Limit, self.record_limit)]
        end = index + len(chunk)
        response: dict[str, Any] = {"Records": [record(shard_id, n) for n in chunk]}
        if not (shard.closed and end >= len(shard.numbers)):
            response["NextShardIterator"] = f"{shard_id}|{end}"
        return response


def record(shard_id: str, n: int) -> dict[str, Any]:
    return {
        "eventID": f"{shard_id}-{n}",
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            "Keys": {"pk": {"S": f"k{n}"}},
            "NewImage": {"pk": {"S": f"k{n}"}, "b": {"B": b"\x00"}},
            "SequenceNumber": seq(n),
        },
    }


class MemoryStore:
    """An in-memory checkpoint store that records every save."""

    def __init__(self, state: CheckpointState | None = None) -> None:
        self.state = state
        self.saves: list[CheckpointState] = []
        self.held = False

    def describe(self) -> str:
        return "memory"

    def acquire(self) -> None:
        assert not self.held
        self.held = True

    def renew(self) -> None:
        return None

    def release(self) -> None:
        self.held = False

    def load(self) -> CheckpointState | None:
        return self.state

    def save(self, state: CheckpointState) -> None:
        self.state = state
        self.saves.append(state)


class Recorder:
    """An ``apply`` callback that records (shard, sequence numbers) in call order."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, list[int]]] = []

    def __call__(self, shard_id: str, records: list[dict[str, Any]]) -> ApplyOutcome:
        numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
        self.applied.append((shard_id, numbers))
        return ApplyOutcome(records[-1]["dynamodb"]["SequenceNumber"])

    def numbers(self, shard_id: str) -> list[int]:
        return [n for s, ns in self.applied if s == shard_id for n in ns]


class FakeClock:
    """Monotonic time that moves only when the follower sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
