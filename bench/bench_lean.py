"""Benchmark: client CPU and read capacity per key compared, by diff method and data path.

Fills two identical tables of ~200-byte items on dynalite (or the server ``--endpoint-url``
names, e.g. a DynamoDB Local you run), then runs ``run_diff`` in this process (1 segment) with
each combination of ``--method`` (lookup, scan-both) and data path (botocore's parser, the lean
path), and times a bare backup-style scan loop and a batch-write loop with each data path.
Reports per item: client CPU (user + system of this process, which stays meaningful on a shared
machine; the server runs in another process), wall time, and read capacity units (dynalite and
DynamoDB Local report consumed capacity; moto does not). Medians of ``--rounds`` alternating
runs. Run: ``python bench/bench_lean.py [--items 20000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
from typing import Any

import common
from common import Endpoint, make_client, timed
from dynamodb_replicator.diff import DiffOptions, run_diff
from dynamodb_replicator.dynamo import (
    TableSpec,
    describe_table,
    lean,
    parse_table_address,
    scan_segment,
)
from dynamodb_replicator.dynamo.batch import Put, batch_write
from helpers import put_items


def _item(i: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"item-{i:08d}"},
        "n": {"N": str(i * 7919)},
        "s": {"S": "x" * 100},
        "tags": {"SS": ["a", "b", "c"]},
        "m": {"M": {"k": {"N": "1.5"}, "b": {"B": b"\x00\x01"}}},
    }


def _with_path(lean_path: bool) -> None:
    os.environ[lean.ENV_SWITCH] = "1" if lean_path else "0"


def _diff(endpoint: Endpoint, tables: tuple[str, str], method: str) -> tuple[int, float]:
    spec = lambda name: TableSpec(parse_table_address(f"{endpoint.url}/{name}"))  # noqa: E731
    result = run_diff(spec(tables[0]), spec(tables[1]), DiffOptions(recheck_delay=0, method=method))
    assert result.agree, result.stats
    return result.stats.compared, result.stats.read_units


def _scan(endpoint: Endpoint, table: str) -> tuple[int, float]:
    spec = TableSpec(parse_table_address(f"{endpoint.url}/{table}"))
    client = spec.client()
    count, units = 0, 0.0
    for page in scan_segment(client, table):
        count += len(page.items)
        units += page.consumed
    return count, units


def _write(endpoint: Endpoint, table: str, items: list[dict[str, Any]]) -> tuple[int, float]:
    spec = TableSpec(parse_table_address(f"{endpoint.url}/{table}"))
    client = spec.client()
    schema = describe_table(client, table, table).key_schema
    batch_write(client, table, [Put(i) for i in items], schema)
    return len(items), 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--endpoint-url",
        help="a running DynamoDB-compatible server (default: a dynalite started here)",
    )
    args = parser.parse_args()
    items = [_item(i) for i in range(args.items)]
    server = (
        contextlib.nullcontext(Endpoint(args.endpoint_url, common.REGION, "given"))
        if args.endpoint_url
        else common.dynalite()
    )
    if args.endpoint_url:
        common.local_env()
    with server as endpoint:
        client = make_client("dynamodb", endpoint)
        tables = (common.create_table(client), common.create_table(client))
        target = common.create_table(client)
        for table in tables:
            put_items(client, table, items)
        cases: dict[str, Any] = {}
        for path in ("botocore", "lean"):
            for method in ("lookup", "scan-both"):
                cases[f"diff {method}, {path}"] = (
                    path,
                    lambda m=method: _diff(endpoint, tables, m),
                )
            cases[f"scan loop, {path}"] = (path, lambda: _scan(endpoint, tables[0]))
            cases[f"batch write loop, {path}"] = (path, lambda: _write(endpoint, target, items))
        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, (path, run) in cases.items():
                _with_path(path == "lean")
                (count, units), timing = timed(run)
                samples[name].append(
                    (timing.cpu / count * 1e6, timing.wall / count * 1e6, units / count)
                )
    print(f"{args.items} items of ~200 B; medians of {args.rounds} runs, per item")
    print(f"{'case':34} {'CPU us':>8} {'wall us':>8} {'RCU':>7}")
    for name, rows in samples.items():
        cpu, wall, rcu = (statistics.median(col) for col in zip(*rows, strict=True))
        print(f"{name:34} {cpu:8.1f} {wall:8.1f} {rcu:7.3f}")


if __name__ == "__main__":
    main()
