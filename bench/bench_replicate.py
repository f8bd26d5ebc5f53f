"""Replicator throughput: ``python bench/bench_replicate.py [--records N] [--e2e-records N]``.

1. parse + plan alone (no I/O), records/s on one core, for DynamoDB Streams records with
   ~200-byte images (target: 50,000/s), and, reported separately, for Kinesis Data Streams for
   DynamoDB records (each carries its change as base64 JSON, decoded per record).
2. end to end through the Lambda handler against a local DynamoDB server, compared with a bare
   BatchWriteItem loop on the same server (the raw API ceiling; target: at least 80% of it).

Starts its own server: dynalite (from the repo's npm package, like the tests; Node.js 20+).
Client CPU per record is shown beside records/s: client and server share the CPUs.
The handler's peak RSS is measured in a child process running the same events. ``--json PATH``
writes the rows for ``bench/run``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import common
from common import REGION, Row, Timing, timed

sys.path.insert(0, str(common.ROOT / "tests" / "events"))

from lambda_events import kds_payload, kinesis_record, stream_record

from dynamodb_replicator.items import item_size
from dynamodb_replicator.lambda_handler import build_handler, settle_heap
from dynamodb_replicator.replicate import parse_batch, plan_batch

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


def parse_plan_rate(records: list[dict[str, Any]]) -> tuple[float, float]:
    """records/s and CPU microseconds per record of parse + plan, in Lambda-sized batches.

    Each batch is held as JSON text and decoded (untimed) just before it is parsed, as the
    Lambda runtime hands over one event at a time: only one batch of records is alive, as in a
    real invocation, so the garbage collector is not timed scanning the whole benchmark's data;
    and the heap is settled the way the handler settles it after its cold start.
    """
    events = [
        json.dumps({"Records": records[s : s + BATCH]}) for s in range(0, len(records), BATCH)
    ]
    settle_heap()  # what the handler does at the end of its cold start

    def run() -> tuple[float, float]:
        wall = cpu = 0.0
        for text in events:
            event = json.loads(text)
            w, c = time.perf_counter(), time.process_time()
            plan = plan_batch(parse_batch(event["Records"]))
            wall += time.perf_counter() - w
            cpu += time.process_time() - c
            assert plan.failure is None
            del plan, event  # as a handler returns: nothing of this batch outlives it
        return wall, cpu

    run()  # warm up
    wall, cpu = run()
    return len(records) / wall, cpu / len(records) * 1e6


def bare_loop(client: Any, table: str, n: int) -> None:
    """The raw ceiling: BatchWriteItem, 25 items a call, leftovers re-sent."""
    common.batch_write_all(client, table, (item(i) for i in range(n)))


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _events(n: int) -> list[dict[str, Any]]:
    return [{"Records": stream_records(min(BATCH, n - s), s)} for s in range(0, n, BATCH)]


def _through_handler(url: str, table: str, events: list[dict[str, Any]]) -> None:
    env = {"AWS_REGION": REGION, "REPLICA_TABLE": table, "REPLICA_ENDPOINT_URL": url}
    handle = build_handler(env, emit=lambda line: None)
    for evt in events:
        assert handle(evt, Context()) == {"batchItemFailures": []}


def end_to_end(n: int, rounds: int = 2) -> tuple[str, float, float, float, float, float]:
    """Best of ``rounds`` alternating runs of the bare loop and the handler, after a warm-up;
    then the handler's peak RSS, running the same events in a child process."""
    with common.server() as (endpoint, name):
        url = endpoint.url
        client = common.make_client("dynamodb", endpoint)
        bare_table, handler_table = common.create_table(client), common.create_table(client)
        env = {"AWS_REGION": REGION, "REPLICA_TABLE": handler_table, "REPLICA_ENDPOINT_URL": url}
        handle = build_handler(env, emit=lambda line: None)
        events = _events(n)

        def through_handler() -> None:
            for evt in events:
                assert handle(evt, Context()) == {"batchItemFailures": []}

        bare_loop(client, bare_table, min(n, 1000))  # warm the server and both clients up
        handle(events[0], Context())
        bare: list[Timing] = []
        handler: list[Timing] = []
        for _ in range(rounds):
            bare.append(timed(lambda: bare_loop(client, bare_table, n))[1])
            handler.append(timed(through_handler)[1])
        b = min(bare, key=lambda t: t.wall)
        h = min(handler, key=lambda t: t.wall)
        child_table = common.create_table(client)
        child = common.run_child([sys.executable, __file__, "--child", url, child_table, str(n)])
        return name, n / b.wall, b.cpu / n * 1e6, n / h.wall, h.cpu / n * 1e6, child.peak_rss_mb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="parse + plan records")
    parser.add_argument("--e2e-records", type=int, default=5_000, help="end-to-end records")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # URL TABLE N
    common.add_json_option(parser)
    args = parser.parse_args()
    if args.child:  # the handler alone in this process, so its peak RSS can be measured
        url, table, n = args.child
        _through_handler(url, table, _events(int(n)))
        return 0

    rows = []
    streams = stream_records(args.records)
    size = item_size(item(1))
    text = len(json.dumps(streams[1]["dynamodb"]["NewImage"]))
    rate, cpu = parse_plan_rate(streams)
    rows.append(
        (f"parse+plan, Streams ({size} B item, {text} B JSON)", rate, cpu, rate / 50_000, "50k/s")
    )
    rate, cpu = parse_plan_rate(kinesis_records(args.records))
    rows.append(("parse+plan, Kinesis", rate, cpu, rate / 50_000, "reported"))
    name, bare, bare_cpu, through, through_cpu, peak = end_to_end(args.e2e_records)
    rows.append((f"bare BatchWriteItem loop ({name})", bare, bare_cpu, 1.0, "ceiling"))
    rows.append(("handler end to end", through, through_cpu, through / bare, ">= 0.80"))

    print(f"{'what':<48} {'records/s':>11} {'CPU us/rec':>11} {'ratio':>7}  target")
    for what, rate, cpu, ratio, target in rows:
        print(f"{what:<48} {rate:>11,.0f} {cpu:>11.1f} {ratio:>7.2f}  {target}")
    print(f"handler process peak RSS: {peak:.0f} MB")
    common.write_json(
        args.json,
        [
            Row.of("replicate", rows[0][0], rows[0][1], cpu_us=rows[0][2], target="50k/s, no I/O"),
            Row.of("replicate", rows[1][0], rows[1][1], cpu_us=rows[1][2], target="reported"),
            Row.of(
                "replicate",
                f"Lambda handler end to end, 1 process ({name})",
                through,
                ceiling=bare,
                cpu_us=through_cpu,
                peak_rss_mb=peak,
                target=">= 0.80",
            ),
        ],
        {"server": name},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
