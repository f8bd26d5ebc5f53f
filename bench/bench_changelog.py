#!/usr/bin/env python3
"""Change log benchmarks without I/O: encode + gzip rate, and S3 PUTs per 100,000 changes.

    python3 bench/bench_changelog.py [--records 20000] [--batch 1000]

Encode: Lambda-event records (binary as base64, the replicator bench's ~190 B item) parsed
into change records and written as gzip JSON Lines objects of ``--batch`` records, on one
core; target >= 40,000 records/s. PUTs: objects and manifests written per 100,000 changes for
a few batch sizes, counted on a local folder, beside the original tool's one PUT per change.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

import common
from bench_replicate import stream_records
from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.backup.storage import FolderStorage
from dynamodb_replicator.changelog.format import encode_object, record_from_stream
from dynamodb_replicator.changelog.writer import ChangeLogWriter


def encode_rate(records: list[dict[str, Any]], batch: int) -> tuple[float, float, float]:
    """(records/s, CPU us per record, gzip bytes per record) of parse + encode + gzip."""
    sizes = 0

    def run() -> None:
        nonlocal sizes
        for start in range(0, len(records), batch):
            parsed = [
                record_from_stream(r, binary_as_text=True) for r in records[start : start + batch]
            ]
            sizes += len(encode_object(parsed).data)

    _, timing = common.timed(run)
    return len(records) / timing.cpu, timing.cpu / len(records) * 1e6, sizes / len(records)


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
        parsed = [record_from_stream(r, binary_as_text=True) for r in records]
        for start in range(0, len(parsed), batch):
            writer.write(parsed[start : start + batch])
        return _Counting.puts * 100_000 / len(parsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    records = stream_records(args.records)
    rate, cpu, gz = encode_rate(records, args.batch)
    print(f"{'what':<52} {'value':>12}  target")
    print(f"{f'encode + gzip, batches of {args.batch} (records/s)':<52} {rate:>12,.0f}  >= 40,000")
    print(f"{'  CPU us per record':<52} {cpu:>12.1f}")
    print(f"{'  gzip bytes per record':<52} {gz:>12.1f}")
    for batch in (100, 1_000, 10_000):
        puts = puts_per_100k(batch, records[: max(batch * 4, 4_000)])
        print(
            f"{f'S3 PUTs per 100k changes, batches of {batch}':<52} {puts:>12,.0f}  original: 100,000"
        )


if __name__ == "__main__":
    main()
