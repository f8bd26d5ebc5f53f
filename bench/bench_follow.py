"""Follower throughput: records/s from the primary's stream to the replica, against the handler's
own apply rate and a bare batch-write loop, all on one moto server (it has DynamoDB Streams).

    python bench/bench_follow.py [--items 5000]

Starts a moto server in its own process (the `[local]` extra, like the tests), writes --items items of every
type to a stream-enabled primary, then measures:

- follow: the stand-alone follower from the stream's start until the last record is applied
  (the caught-up quiet tail is not counted);
- apply: the same records, already read, through parse -> plan -> apply (the handler's path);
- raw: a bare BatchWriteItem loop writing the same items (the API ceiling here);
- the peak RSS of a ``replicate --until-caught-up`` process following the same stream.

``--json PATH`` writes the rows for ``bench/run``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import common
from common import REGION, Row
from dynamodb_replicator.dynamo import TableSpec, make_client, parse_table_address
from dynamodb_replicator.local.sample import sample_items
from dynamodb_replicator.replicate import Replicator, ReplicatorConfig, TableRef
from dynamodb_replicator.replicate.checkpoint import FileCheckpoint
from dynamodb_replicator.replicate.follower import ApplyOutcome, Follower, FollowOptions
from dynamodb_replicator.replicate.stream_applier import make_stream_applier
from dynamodb_replicator.replicate.streams import list_shards


def _table(client: Any, stream: bool) -> str:
    return common.create_table(client, stream_view="NEW_IMAGE" if stream else None)


def _replicator(client: Any, url: str, table: str) -> Replicator:
    spec = TableSpec(parse_table_address(f"{url}/{table}", region=REGION))
    return Replicator(ReplicatorConfig(replica=spec), replica=TableRef(client, table))


def _raw_write(client: Any, table: str, items: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    common.batch_write_all(client, table, items)
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
    common.add_json_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, common.moto() as endpoint:
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
            outcome = handler.process_records(records[start : start + 1000], binary_as_text=False)
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
        child = common.run_child(
            common.cli(
                "replicate", f"{endpoint.url}/{primary}", f"{endpoint.url}/{_table(ddb, False)}",
                "--until-caught-up", "--quiet-seconds", "1",
                "--checkpoint", str(Path(tmp) / "child.checkpoint.json"),
            )
        )  # fmt: skip

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
    print(f"replicate --until-caught-up process peak RSS: {child.peak_rss_mb:.0f} MB")
    follow_rate = rows[2][1] / rows[2][2]
    apply_rate = rows[1][1] / rows[1][2]
    common.write_json(
        args.json,
        [
            Row.of(
                "follow",
                "follower, stream -> replica (1 process)",
                follow_rate,
                ceiling=raw_rate,
                cpu_us=rows[2][3] / rows[2][1] * 1e6,
                peak_rss_mb=child.peak_rss_mb,
                target=">= 0.80",
            ),
            Row.of(
                "follow",
                "handler apply of the same records, already read",
                apply_rate,
                ceiling=raw_rate,
                cpu_us=rows[1][3] / rows[1][1] * 1e6,
                target=f"follower/apply = {follow_rate / apply_rate:.2f}",
            ),
        ],
    )


if __name__ == "__main__":
    main()
