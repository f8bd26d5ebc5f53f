#!/usr/bin/env python3
"""Roll-forward benchmark: peak memory and rate of rolling a base backup forward with a log.

    python3 bench/bench_pitr.py [--items 100000] [--records 100000]

Builds, in a temporary folder, a base backup of ``--items`` items (4 segments, the layout of
backup-table) and a change log of ``--records`` MODIFY/INSERT/REMOVE records on one shard (half
on keys of the base, a quarter new keys, a quarter deletes), then runs ``roll_forward_backup``
in a child process at sizes N and 2N and reports items/s and peak RSS of each. Target: peak RSS
under 200 MB at 200k + 200k, at most 10% above 100k + 100k (memory flat in the base size).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dynamodb_replicator.backup.layout import Location, Manifest, Started, data_name, manifest_name
from dynamodb_replicator.backup.storage import FolderStorage, StorageSpec
from dynamodb_replicator.backup.writer import GzipLines
from dynamodb_replicator.changelog.format import ChangeRecord
from dynamodb_replicator.changelog.layout import Heartbeat, LogDescriptor
from dynamodb_replicator.changelog.writer import ChangeLogWriter, ShardPosition

T0 = 1_780_000_000
DEFINITION = {
    "TableName": "bench",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
}


def _item(n: int, v: int) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"key-{n:09d}"}, "v": {"N": str(v)}, "pad": {"S": "x" * 120}}


def make_base(folder: Path, items: int, segments: int = 4) -> None:
    storage = FolderStorage(Location("folder", str(folder)))
    started = "2026-05-01T00:00:00.000Z"
    storage.put("_started", Started("base", "bench", "local", segments, started, "").to_bytes())
    for segment in range(segments):
        encoder = GzipLines(1)
        writer = storage.writer(data_name(segment))
        for start in range(segment, items, segments * 1000):
            chunk = range(start, min(items, start + segments * 1000), segments)
            writer.write(encoder.encode(_item(n, 0) for n in chunk))
        writer.write(encoder.finish())
        size = writer.commit()
        manifest = Manifest("base", "bench", "local", segment, segments, encoder.items,
                            encoder.uncompressed, size, encoder.sha256, started,
                            "2026-05-01T00:00:10.000Z", "", DEFINITION, data_name(segment))  # fmt: skip
        storage.put(manifest_name(segment), manifest.to_bytes())


def make_log(folder: Path, items: int, records: int) -> None:
    arn = "arn:aws:dynamodb:local:0:table/bench/stream/2026-05-01T00:00:00.000"
    writer = ChangeLogWriter(FolderStorage(Location("folder", str(folder))), writer="follower")
    writer.ensure_descriptor(
        LogDescriptor("bench", None, arn, "s", (("pk", "HASH", "S"),), "NEW_IMAGE")
    )
    batch: list[ChangeRecord] = []
    previous: str | None = None
    for i in range(records):
        kind = i % 4
        n = (i * 7919) % items if kind < 2 else items + i if kind == 2 else (i * 104729) % items
        image = _item(n, i)
        name = "REMOVE" if kind == 3 else "MODIFY"
        batch.append(ChangeRecord(f"e{i}", str(10**20 + i), str(T0 + i // 1000), "s", name,
                                  {"pk": image["pk"]}, None if kind == 3 else image))  # fmt: skip
        if len(batch) == 5000:
            writer.write(batch, ShardPosition("shard-0", None, previous))
            previous, batch = batch[-1].sequence_number, []
    if batch:
        writer.write(batch, ShardPosition("shard-0", None, previous))
        previous = batch[-1].sequence_number
    end = T0 + records // 1000 + 10
    writer.heartbeat(Heartbeat("shard-0", None, previous, end))


def child(base: str, log: str, dest: str, to_time: int) -> None:
    from dynamodb_replicator.pitr.rollforward import roll_forward_backup

    began = time.perf_counter()
    done = roll_forward_backup(
        StorageSpec(Location("folder", base)),
        FolderStorage(Location("folder", log)),
        to_time,
        StorageSpec(Location("folder", dest)),
    )
    seconds = time.perf_counter() - began
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"items": done.items, "seconds": seconds, "rss_mb": rss}))


def run(items: int, records: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        make_base(root / "base", items)
        make_log(root / "log", items, records)
        to_time = T0 + records // 1000 + 5
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(root / "base"), str(root / "log"),
             str(root / "out"), str(to_time)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
        return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    small = run(args.items, args.records)
    large = run(2 * args.items, 2 * args.records)
    for label, r in (("N", small), ("2N", large)):
        print(f"{label}: {r['items']:.0f} items in {r['seconds']:.1f} s "
              f"({r['items'] / r['seconds']:.0f} items/s), peak RSS {r['rss_mb']:.0f} MB")  # fmt: skip
    print(f"peak RSS 2N / N: {large['rss_mb'] / small['rss_mb']:.2f}")


if __name__ == "__main__":
    main()
