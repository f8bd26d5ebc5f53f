"""Follower throughput: records/s from the primary's stream to the replica, against the handler's
own apply rate and a bare batch-write loop, all on one DynamoDB Local.

    python bench/bench_follow.py [--items 5000]

Starts DynamoDB Local (needs Java and `npm ci`, like the tests), writes --items items of every
type to a stream-enabled primary, then measures:

- follow: the stand-alone follower from the stream's start until the last record is applied
  (the caught-up quiet tail is not counted);
- apply: the same records, already read, through parse -> plan -> apply (the handler's path);
- raw: a bare BatchWriteItem loop writing the same items (the API ceiling here).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from dynamodb_replicator.dynamo import TableSpec, make_client, parse_table_address
from dynamodb_replicator.local.sample import sample_items
from dynamodb_replicator.replicate import Replicator, ReplicatorConfig, TableRef
from dynamodb_replicator.replicate.checkpoint import FileCheckpoint
from dynamodb_replicator.replicate.follower import (
    ApplyOutcome,
    Follower,
    FollowOptions,
    list_shards,
    make_stream_applier,
)
from helpers import (
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
    REGION,
    DynamoDBLocal,
)


def _table(client: Any, stream: bool) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    extra: dict[str, Any] = {}
    if stream:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    client.get_waiter("table_exists").wait(TableName=name)
    return name


def _replicator(client: Any, url: str, table: str) -> Replicator:
    spec = TableSpec(parse_table_address(f"{url}/{table}", region=REGION))
    return Replicator(ReplicatorConfig(replica=spec), replica=TableRef(client, table))


def _raw_write(client: Any, table: str, items: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        while requests:
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
    return time.perf_counter() - started


def _read_all(streams: Any, arn: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for shard in list_shards(streams, arn):
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        empty = 0
        while iterator and empty < 3:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            empty = 0 if page["Records"] else empty + 1
            iterator = page.get("NextShardIterator")
    return records


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY_ID)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_ACCESS_KEY)
    with tempfile.TemporaryDirectory() as tmp:
        server = DynamoDBLocal(Path(tmp))
        endpoint = server.start()
        try:
            ddb = make_client("dynamodb", region=REGION, endpoint_url=endpoint.url)
            streams = make_client("dynamodbstreams", region=REGION, endpoint_url=endpoint.url)
            items = sample_items(args.items)
            primary, replica, replica2, raw = (_table(ddb, s) for s in (True, False, False, False))
            _raw_write(ddb, primary, items)
            arn = ddb.describe_table(TableName=primary)["Table"]["LatestStreamArn"]
            rows = []

            raw_s = _raw_write(ddb, raw, items)
            rows.append(("raw batch-write loop", len(items), raw_s, None))

            records = _read_all(streams, arn)
            cpu = _cpu()
            started = time.perf_counter()
            handler = _replicator(ddb, endpoint.url, replica2)
            for start in range(0, len(records), 1000):
                outcome = handler.process_records(
                    records[start : start + 1000], binary_as_text=False
                )
                assert not outcome.failed_ids, outcome.reason
            apply_s = time.perf_counter() - started
            rows.append(("handler apply (records read)", len(records), apply_s, _cpu() - cpu))

            inner = make_stream_applier(_replicator(ddb, endpoint.url, replica))
            last = [time.perf_counter()]

            def timed(shard_id: str, page: list[dict[str, Any]]) -> ApplyOutcome:
                outcome = inner(shard_id, page)
                last[0] = time.perf_counter()
                return outcome

            store = FileCheckpoint(Path(tmp) / "bench.checkpoint.json")
            options = FollowOptions(until_caught_up=True, quiet_seconds=1.0)
            cpu = _cpu()
            started = time.perf_counter()
            result_f = Follower(streams, arn, store, timed, options).run()
            follow_s = last[0] - started
            rows.append(("follower (stream -> replica)", result_f.records, follow_s, _cpu() - cpu))
        finally:
            server.stop()

    raw_rate = len(items) / raw_s
    print(
        f"{'what':<32} {'records':>8} {'seconds':>8} {'rec/s':>8} {'vs raw':>7} {'cpu us/rec':>10}"
    )
    for what, count, seconds, cpu_s in rows:
        rate = count / seconds
        cpu_text = "-" if cpu_s is None else f"{cpu_s / max(count, 1) * 1e6:.0f}"
        print(
            f"{what:<32} {count:>8} {seconds:>8.2f} {rate:>8.0f} {rate / raw_rate:>6.0%} "
            f"{cpu_text:>10}"
        )


if __name__ == "__main__":
    main()
