"""Benchmark: diff-tables items compared per second against the raw API ceiling.

Starts dynalite (from the repo's npm package, like the tests; Node.js 20+), fills two identical tables,
then times, with 1 and 4 workers (processes):

- ``bare``: a bare loop of the same calls at the same concurrency - scan the primary and
  batch-get each page's keys from the replica, then scan the replica and batch-get its keys
  (key attributes only) from the primary;
- ``diff``: :func:`dynamodb_replicator.diff.run_diff` over the same segments.

Prints items compared per second, the ratio diff/bare (target: at least 0.8) and client CPU
per item; each is the best of ``--rounds`` alternating runs (the machine is shared). Then the
peak RSS of a ``diff-tables`` process with the most workers. ``--json PATH`` writes the rows
for ``bench/run``. Run: ``python bench/bench_diff.py [--items N] [--workers 1,4]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import common
from common import Endpoint, Row, Timing, make_client, timed
from dynamodb_replicator.diff import DiffOptions, run_diff
from dynamodb_replicator.dynamo import TableSpec, parse_table_address
from helpers import put_items


def _item(i: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"item-{i:08d}"},
        "n": {"N": str(i * 7919)},
        "s": {"S": "x" * 100},
        "tags": {"SS": ["a", "b", "c"]},
        "m": {"M": {"k": {"N": "1.5"}, "b": {"B": b"\x00\x01"}}},
    }


def _create(client: Any, name: str) -> None:
    common.create_table(client, name=name)


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


def _best(fn: Any, rounds: list[Timing]) -> int:
    count, t = timed(fn)
    rounds.append(t)
    return int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000, help="items per table")
    parser.add_argument("--workers", default="1,4", help="comma-separated worker counts")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs; best counts")
    common.add_json_option(parser)
    args = parser.parse_args()
    p, r = "bench-primary", "bench-replica"
    rows: list[Row] = []
    with common.dynalite() as endpoint:
        started = time.perf_counter()
        _load(endpoint, [p, r], args.items)
        print(f"loaded 2 x {args.items} items in {time.perf_counter() - started:.1f} s")
        print(
            f"{'workers':>7} {'bare items/s':>13} {'diff items/s':>13} {'ratio':>6} "
            f"{'bare CPU us/item':>17} {'diff CPU us/item':>17}"
        )
        counts = [int(w) for w in args.workers.split(",")]
        most = max(counts)
        child = common.run_child(
            common.cli(
                "diff-tables", f"{endpoint.url}/{p}", f"{endpoint.url}/{r}",
                "--segments", str(most), "--workers", str(most), "--recheck-delay", "0",
            )
        )  # fmt: skip
        print(f"diff-tables --workers {most} process peak RSS: {child.peak_rss_mb:.0f} MB")
        for workers in counts:
            bare: list[Timing] = []
            diff: list[Timing] = []
            for _ in range(args.rounds):
                bn = _best(lambda w=workers: _bare(endpoint, p, r, w), bare)
                dn = _best(lambda w=workers: _diff(endpoint, p, r, w), diff)
            b = min(bare, key=lambda t: t.wall)
            d = min(diff, key=lambda t: t.wall)
            brate, drate = bn / b.wall, dn / d.wall
            print(
                f"{workers:>7} {brate:>13,.0f} {drate:>13,.0f} {drate / brate:>6.2f} "
                f"{b.cpu / bn * 1e6:>17,.0f} {d.cpu / dn * 1e6:>17,.0f}"
            )
            rows.append(
                Row.of(
                    "diff",
                    f"diff-tables, {workers} worker process(es), items compared",
                    drate,
                    ceiling=brate,
                    cpu_us=d.cpu / dn * 1e6,
                    peak_rss_mb=child.peak_rss_mb if workers == most else None,
                    target=">= 0.80",
                )
            )
    common.write_json(args.json, rows)


if __name__ == "__main__":
    main()
