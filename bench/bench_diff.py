"""Benchmark: diff-tables items compared per second against the raw API ceiling.

Starts DynamoDB Local (from the repo's npm package, like the tests), fills two identical tables,
then times, with 1 and 4 workers (processes):

- ``bare``: a bare loop of the same calls at the same concurrency - scan the primary and
  batch-get each page's keys from the replica, then scan the replica and batch-get its keys
  (key attributes only) from the primary;
- ``diff``: :func:`dynamodb_replicator.diff.run_diff` over the same segments.

Prints items compared per second, the ratio diff/bare (target: at least 0.8) and client CPU
per item. Run: ``python bench/bench_diff.py [--items N] [--workers 1,4]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from dynamodb_replicator.diff import DiffOptions, run_diff  # noqa: E402
from dynamodb_replicator.dynamo import TableSpec, parse_table_address  # noqa: E402
from helpers import DynamoDBLocal, Endpoint, make_client, put_items  # noqa: E402


def _item(i: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"item-{i:08d}"},
        "n": {"N": str(i * 7919)},
        "s": {"S": "x" * 100},
        "tags": {"SS": ["a", "b", "c"]},
        "m": {"M": {"k": {"N": "1.5"}, "b": {"B": b"\x00\x01"}}},
    }


def _create(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _load(endpoint: Endpoint, tables: list[str], count: int) -> None:
    client = make_client("dynamodb", endpoint)
    for name in tables:
        _create(client, name)
    chunk = 2_000
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = [
            pool.submit(_load_range, endpoint, name, start, min(start + chunk, count))
            for name in tables
            for start in range(0, count, chunk)
        ]
        for job in jobs:
            job.result()


def _load_range(endpoint: Endpoint, table: str, start: int, stop: int) -> int:
    return put_items(
        make_client("dynamodb", endpoint), table, (_item(i) for i in range(start, stop))
    )


def _get_all(client: Any, table: str, keys: list[dict[str, Any]], keys_only: bool) -> int:
    found = 0
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {"Keys": keys[start : start + 100]}
        if keys_only:
            request["ProjectionExpression"] = "#k"
            request["ExpressionAttributeNames"] = {"#k": "pk"}
        while request["Keys"]:
            response = client.batch_get_item(RequestItems={table: request})
            found += len(response["Responses"].get(table, []))
            request["Keys"] = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return found


def _bare_segment(endpoint: Endpoint, primary: str, replica: str, segment: int, total: int) -> int:
    """The ceiling: the same scans and batch gets as a diff, with nothing else."""
    client = make_client("dynamodb", endpoint)
    compared = 0
    for scanned, other, keys_only in ((primary, replica, False), (replica, primary, True)):
        args: dict[str, Any] = {"TableName": scanned, "Segment": segment, "TotalSegments": total}
        while True:
            page = client.scan(**args)
            keys = [{"pk": item["pk"]} for item in page["Items"]]
            _get_all(client, other, keys, keys_only)
            compared += len(keys)
            if "LastEvaluatedKey" not in page:
                break
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return compared


def _bare(endpoint: Endpoint, primary: str, replica: str, workers: int) -> int:
    if workers == 1:
        return _bare_segment(endpoint, primary, replica, 0, 1)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        futures = [
            pool.submit(_bare_segment, endpoint, primary, replica, s, workers)
            for s in range(workers)
        ]
        return sum(f.result() for f in futures)


def _diff(endpoint: Endpoint, primary: str, replica: str, workers: int) -> int:
    spec = lambda name: TableSpec(parse_table_address(f"{endpoint.url}/{name}"))  # noqa: E731
    result = run_diff(
        spec(primary),
        spec(replica),
        DiffOptions(recheck_delay=0),
        total_segments=workers,
        workers=workers,
    )
    assert result.agree, result.stats
    return result.stats.scanned_primary + result.stats.scanned_replica


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished worker processes only
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], int]) -> tuple[int, float, float]:
    cpu, wall = _cpu(), time.perf_counter()
    count = fn()
    return count, time.perf_counter() - wall, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000, help="items per table")
    parser.add_argument("--workers", default="1,4", help="comma-separated worker counts")
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="AKIALOCALTESTING0000",
        AWS_REGION="us-east-1",
        AWS_SECRET_ACCESS_KEY="localtestingsecretaccesskey0000000000000",
    )
    with tempfile.TemporaryDirectory() as scratch:
        server = DynamoDBLocal(Path(scratch))
        endpoint = server.start()
        try:
            started = time.perf_counter()
            _load(endpoint, ["bench-primary", "bench-replica"], args.items)
            print(f"loaded 2 x {args.items} items in {time.perf_counter() - started:.1f} s")
            print(
                f"{'workers':>7} {'bare items/s':>13} {'diff items/s':>13} {'ratio':>6} "
                f"{'bare CPU us/item':>17} {'diff CPU us/item':>17}"
            )
            for workers in (int(w) for w in args.workers.split(",")):
                bn, bt, bc = _timed(
                    lambda w=workers: _bare(endpoint, "bench-primary", "bench-replica", w)
                )
                dn, dt, dc = _timed(
                    lambda w=workers: _diff(endpoint, "bench-primary", "bench-replica", w)
                )
                print(
                    f"{workers:>7} {bn / bt:>13,.0f} {dn / dt:>13,.0f} {(dn / dt) / (bn / bt):>6.2f} "
                    f"{bc / bn * 1e6:>17,.0f} {dc / dn * 1e6:>17,.0f}"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
