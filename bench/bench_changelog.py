#!/usr/bin/env python3
"""Change log benchmarks: encode + gzip rate, S3 PUTs per 100,000 changes, backup-changes.

    python3 bench/bench_changelog.py [--records 20000] [--batch 1000] [--stream-items 5000]

Encode: what the Lambda writer does with a batch of ``--batch`` Lambda-event records (binary
as base64, the replicator bench's ~190 B item), minus the I/O: check each record
(``event_record``), cut the batch by hour, encode the lines, gzip them (level 6), hash the
object and make its manifest, into a storage that keeps nothing. CPU time on one core; each
batch held as JSON text and decoded (untimed) just before, as Lambda hands over one event at a
time, with the heap settled as the handler settles it; the best of three runs after a warm-up.
Target >= 40,000 records/s for INSERT records (a key and a new image); MODIFY records with an
old image too (twice the values to check) are shown beside. PUTs: objects and manifests
written per 100,000 changes for a few batch sizes, counted on a local folder, beside the
original tool's one PUT per change.
Follow: on a moto server in its own process, the follower writing a stream of
``--stream-items`` changes into a log in a local folder (until its last page is written),
against a bare GetRecords loop over the same stream; target >= 80%. The same on the embedded
moto server is shown beside, as a floor (it shares the writer's interpreter lock).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import common
from bench_replicate import stream_records
from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.backup.storage import FolderStorage
from dynamodb_replicator.changelog.follow import follow_into_log
from dynamodb_replicator.changelog.format import event_record
from dynamodb_replicator.changelog.writer import ChangeLogWriter
from dynamodb_replicator.dynamo import make_client
from dynamodb_replicator.lambda_handler import settle_heap
from dynamodb_replicator.local import LocalServer
from dynamodb_replicator.local.sample import sample_items
from dynamodb_replicator.replicate.checkpoint import FileCheckpoint
from dynamodb_replicator.replicate.follower import FollowOptions


class _Discard(FolderStorage):
    """A storage that keeps nothing: counts what would be written (no I/O)."""

    data_bytes = 0

    def put(self, name: str, data: bytes) -> None:
        if name.endswith(".jsonl.gz"):
            type(self).data_bytes += len(data)


def modify_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` as MODIFY records carrying an old image as well (NEW_AND_OLD_IMAGES)."""
    out = []
    for record in records:
        body = dict(record["dynamodb"])
        old = dict(body["NewImage"])
        old["score"] = {"N": "1"}
        body["OldImage"] = old
        out.append({**record, "eventName": "MODIFY", "dynamodb": body})
    return out


def encode_rate(
    records: list[dict[str, Any]], batch: int, repeats: int = 3
) -> tuple[float, float, float]:
    """(records/s, CPU us per record, gzip bytes per record) of the Lambda writer's work on
    ``records`` in batches of ``batch``, without I/O (see the module's docstring)."""
    events = [
        json.dumps({"Records": records[s : s + batch]}) for s in range(0, len(records), batch)
    ]
    writer = ChangeLogWriter(_Discard(Location("folder", "unused")), writer="lambda")
    settle_heap()  # what the handler does at the end of its cold start

    def run() -> float:
        cpu = 0.0
        for text in events:
            event = json.loads(text)
            started = time.process_time()
            writer.write([event_record(r) for r in event["Records"]])
            cpu += time.process_time() - started
            del event  # as a handler returns: nothing of this batch outlives it
        return cpu

    run()  # warm up
    _Discard.data_bytes = 0
    cpu = min(run() for _ in range(repeats))
    return (
        len(records) / cpu,
        cpu / len(records) * 1e6,
        _Discard.data_bytes / repeats / len(records),
    )


class _Counting(FolderStorage):
    puts = 0

    def put(self, name: str, data: bytes) -> None:
        type(self).puts += 1
        super().put(name, data)


def puts_per_100k(batch: int, records: list[dict[str, Any]]) -> float:
    """PUTs (objects + manifests) per 100,000 changes with batches of ``batch`` records."""
    with tempfile.TemporaryDirectory() as folder:
        _Counting.puts = 0
        writer = ChangeLogWriter(_Counting(Location("folder", folder)), writer="lambda")
        parsed = [event_record(r) for r in records]
        for start in range(0, len(parsed), batch):
            writer.write(parsed[start : start + batch])
        return _Counting.puts * 100_000 / len(parsed)


@contextmanager
def _moto(embedded: bool) -> Iterator[str]:
    if embedded:
        with LocalServer() as server:
            yield server.endpoint_url
    else:
        with common.moto() as endpoint:
            yield endpoint.url


def follow_vs_bare(items: int, *, embedded: bool = False) -> tuple[float, float, int]:
    """(backup-changes records/s, bare GetRecords records/s, records) on a moto server in its
    own process, as bench_follow.py runs it; or (``embedded``) on the embedded server, which
    shares this process's interpreter lock: its work is then charged to the writer and the
    writer's read-ahead cannot overlap it, so that ratio is a floor."""
    from bench_follow import _read_all

    with tempfile.TemporaryDirectory() as tmp, _moto(embedded) as url:
        ddb = make_client("dynamodb", region=common.REGION, endpoint_url=url)
        streams = make_client("dynamodbstreams", region=common.REGION, endpoint_url=url)
        table = common.create_table(ddb, stream_view="NEW_AND_OLD_IMAGES")
        common.batch_write_all(ddb, table, sample_items(items))
        arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        started = time.perf_counter()
        count = len(_read_all(streams, arn))
        bare = count / (time.perf_counter() - started)

        storage = FolderStorage(Location("folder", f"{tmp}/log"))
        writer = ChangeLogWriter(storage, writer="follower")
        last = [time.perf_counter()]
        write = writer.write

        def timed(*args: Any) -> Any:
            out = write(*args)
            last[0] = time.perf_counter()
            return out

        writer.write = timed  # type: ignore[method-assign]
        store = FileCheckpoint(Path(tmp) / "cp.json")
        options = FollowOptions(until_caught_up=True, quiet_seconds=1.0)
        started = time.perf_counter()
        run = follow_into_log(streams, arn, writer, store, options)
        followed = run.follow.records / (last[0] - started)
        return followed, bare, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--stream-items", type=int, default=5_000)
    common.add_json_option(parser)
    args = parser.parse_args()
    records = stream_records(args.records)
    rate, cpu, gz = encode_rate(records, args.batch)
    print(f"{'what':<52} {'value':>12}  target")
    print(f"{f'encode + gzip, batches of {args.batch} (records/s)':<52} {rate:>12,.0f}  >= 40,000")
    print(f"{'  ratio to the target':<52} {rate / 40_000:>12.2f}  >= 1.00")
    print(f"{'  CPU us per record':<52} {cpu:>12.1f}")
    print(f"{'  gzip bytes per record':<52} {gz:>12.1f}")
    modify, modify_cpu, _ = encode_rate(modify_records(records), args.batch)
    print(f"{'  MODIFY with old image too (records/s)':<52} {modify:>12,.0f}")
    print(f"{'  MODIFY CPU us per record':<52} {modify_cpu:>12.1f}")
    rows = [
        common.Row.of(
            "changelog",
            f"encode + gzip, Lambda INSERT records, batches of {args.batch}, one core",
            rate,
            cpu_us=cpu,
            target="40k/s records on one core",
        ),
        common.Row.of(
            "changelog",
            f"encode + gzip, Lambda MODIFY records (two images), batches of {args.batch}, one core",
            modify,
            cpu_us=modify_cpu,
        ),
    ]
    for batch in (100, 1_000, 10_000):
        puts = puts_per_100k(batch, records[: max(batch * 4, 4_000)])
        print(
            f"{f'S3 PUTs per 100k changes, batches of {batch}':<52} {puts:>12,.0f}  original: 100,000"
        )
    if args.stream_items:
        for embedded in (False, True):
            where = "embedded moto" if embedded else "moto"
            followed, bare, count = follow_vs_bare(args.stream_items, embedded=embedded)
            print(
                f"{f'bare GetRecords loop, {where}, {count} records (records/s)':<52} "
                f"{bare:>12,.0f}  ceiling"
            )
            print(f"{'backup-changes into a local folder (records/s)':<52} {followed:>12,.0f}")
            target = "(a floor: shares the GIL)" if embedded else ">= 0.80"
            print(f"{'  ratio':<52} {followed / bare:>12.2f}  {target}")
            rows.append(
                common.Row.of(
                    "changelog",
                    f"backup-changes into a folder, {where}, {count} records",
                    followed,
                    ceiling=bare,
                    target="" if embedded else ">= 0.80 of a bare GetRecords loop",
                )
            )
    common.write_json(args.json, rows)


if __name__ == "__main__":
    main()
