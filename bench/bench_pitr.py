#!/usr/bin/env python3
"""Point-in-time benchmark: peak memory of a roll-forward, and the rate of a restore to a time.

    python3 bench/bench_pitr.py [--items 100000] [--records ITEMS]
                                [--restore-items 20000] [--restore-records RESTORE_ITEMS]
                                [--rounds 2] [--no-restore] [--no-memory] [--json PATH]

1. Memory. Builds, in a temporary folder, a base backup of ``--items`` items (4 segments, the
   layout of backup-table) and a change log of ``--records`` MODIFY/REMOVE records on one shard
   (half on keys of the base, a quarter new keys, a quarter deletes; all within one hour, the
   densest case), then runs the ``roll-forward`` command at sizes N and 2N. The peak RSS is the
   largest sum over the command's process and every process it starts, sampled from /proc every
   20 ms. Targets (the point-in-time issue): under 200 MB at 200k + 200k, and at most 10 %
   above 100k + 100k (memory flat in the size of the base and the log).
2. Rate. On dynalite, ``restore-table --create --workers 2`` of a ``--restore-items`` base, and
   the same with ``--changes LOG --to-time T`` over a log of ``--restore-records`` records.
   Target: the restore to a time at least 80 % of the plain restore's rate (items written per
   second of the whole command, the roll-forward included). Each is run ``--rounds`` times,
   alternating, and the best run of each counts.

The machine is shared: the load average before and after each part is printed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import common
from dynamodb_replicator.backup.layout import Location, Manifest, Started, data_name, manifest_name
from dynamodb_replicator.backup.storage import FolderStorage
from dynamodb_replicator.backup.writer import GzipLines
from dynamodb_replicator.changelog.format import ChangeRecord
from dynamodb_replicator.changelog.layout import Heartbeat, LogDescriptor
from dynamodb_replicator.changelog.writer import ChangeLogWriter, ShardPosition

T0 = 1_780_000_000
DEFINITION = {
    "TableName": "bench",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
}
PAGE_KB = os.sysconf("SC_PAGE_SIZE") / 1024


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


def make_log(folder: Path, items: int, records: int) -> int:
    """The log; returns a T it proves (every record at or before it)."""
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
    return T0 + records // 1000 + 5


# --- peak RSS of a process tree ---------------------------------------------------------------


TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, int, float]]:
    """pid -> (parent pid, RSS in KB, CPU seconds) of every process, from /proc."""
    found: dict[int, tuple[int, int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        found[int(entry.name)] = (int(fields[1]), int(int(fields[21]) * PAGE_KB), cpu)
    return found


def _tree(root: int, table: dict[int, tuple[int, int, float]] | None = None) -> list[int]:
    """``root`` and every process below it."""
    table = _processes() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (parent, _rss, _cpu) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _tree_kb(root: int) -> int:
    table = _processes()
    return sum(table[pid][1] for pid in _tree(root, table) if pid in table)


def _servers_cpu() -> float:
    """CPU seconds so far of the servers this bench started (its other child processes)."""
    table = _processes()
    return sum(table[pid][2] for pid in _tree(os.getpid(), table)[1:] if pid in table)


@dataclass(frozen=True)
class Run:
    """A finished command: wall seconds, peak RSS of its tree and of its largest process, CPU
    seconds of its tree and of the servers it used meanwhile."""

    wall: float
    tree_mb: float
    largest_mb: float
    cpu: float = 0.0
    server_cpu: float = 0.0


def run_measured(cmd: Sequence[str]) -> Run:
    """Run ``cmd`` (output discarded; stderr shown on failure), sampling its tree's RSS."""
    env = {**os.environ, "PYTHONPATH": str(common.ROOT / "src")}
    servers = _servers_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_kb(proc.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    server_cpu = _servers_cpu() - servers
    if os.waitstatus_to_exitcode(status) != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(cmd[2:4])} failed: {' | '.join(tail)}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, peak[0] / 1024, usage.ru_maxrss / 1024, cpu, server_cpu)


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the two parts ----------------------------------------------------------------------------


def memory(items: int, records: int) -> dict[str, float]:
    """roll-forward of ``items`` + ``records``: its rate and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-pitr-") as work:
        root = Path(work)
        make_base(root / "base", items)
        to_time = make_log(root / "log", items, records)
        load = _load()
        run = run_measured(
            common.cli(
                "roll-forward",
                str(root / "base"),
                str(root / "out"),
                "--changes",
                str(root / "log"),
                "--to-time",
                str(to_time),
                "--quiet",
            )
        )
        written = sum(
            json.loads(p.read_text())["item_count"]
            for p in (root / "out" / "rolled-forward").glob("*.manifest.json")
        )
    print(f"  {items:>7} + {records:<7} {written:>8} {run.wall:>8.1f} {written / run.wall:>8.0f}"
          f" {run.tree_mb:>10.0f} {run.largest_mb:>12.0f}   ({load} at start)", flush=True)  # fmt: skip
    return {
        "items": written,
        "seconds": run.wall,
        "tree_mb": run.tree_mb,
        "largest_mb": run.largest_mb,
    }


def restore_rate(items: int, records: int, rounds: int) -> dict[str, float]:
    """Plain restore vs restore --to-time of the same base on dynalite (2 workers): each run
    ``rounds`` times, alternating, into new tables; the best of each (the machine is shared)."""
    with tempfile.TemporaryDirectory(prefix="bench-pitr-") as work, common.dynalite() as endpoint:
        root = Path(work)
        make_base(root / "base", items)
        to_time = make_log(root / "log", items, records)
        print(f"  ({_load()} at start)", flush=True)
        options = ["--create", "--workers", "2", "--quiet"]
        at_time = ["--changes", str(root / "log"), "--to-time", str(to_time)]
        plain: list[Run] = []
        timed: list[Run] = []
        for n in range(rounds):
            for runs, extra, name in ((plain, [], "plain"), (timed, at_time, "at-time")):
                table = f"{endpoint.url}/{name}-{n}"
                runs.append(
                    run_measured(
                        common.cli("restore-table", str(root / "base"), table, *options, *extra)
                    )
                )
        at_items = _count(common.make_client("dynamodb", endpoint), "at-time-0")
    best_plain = min(plain, key=lambda r: r.wall)
    best_timed = min(timed, key=lambda r: r.wall)
    plain_rate, timed_rate = items / best_plain.wall, at_items / best_timed.wall
    for label, count, run, runs in (
        ("plain restore", items, best_plain, plain),
        ("restore --to-time", at_items, best_timed, timed),
    ):
        each = ", ".join(f"{r.wall:.1f} s / {r.cpu:.1f} + {r.server_cpu:.1f} s" for r in runs)
        print(f"  {label:<20} {count:>8} items {run.wall:>7.1f} s {count / run.wall:>8.0f}/s  "
              f"peak RSS {run.tree_mb:.0f} MB (tree); runs (wall / CPU of the command + of "
              f"the server): {each}")  # fmt: skip
    ratio = timed_rate / plain_rate
    plain_cpu = min(r.cpu + r.server_cpu for r in plain)
    timed_cpu = min(r.cpu + r.server_cpu for r in timed)
    cpu_ratio = (at_items / timed_cpu) / (items / plain_cpu)
    verdict = "OK" if ratio >= 0.8 else "MISSED"
    print(f"  --to-time / plain rate: {ratio:.2f} ({verdict}: target >= 0.80); per CPU second "
          f"(client and server): {cpu_ratio:.2f}; {_load()} at end")  # fmt: skip
    return {"plain": plain_rate, "to_time": timed_rate, "ratio": ratio, "cpu_ratio": cpu_ratio}


def _count(client: object, table: str) -> int:
    paginator = client.get_paginator("scan")  # type: ignore[attr-defined]
    return sum(p["Count"] for p in paginator.paginate(TableName=table, Select="COUNT"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--records", type=int, help="log records (default: --items)")
    parser.add_argument("--restore-items", type=int, default=20_000)
    parser.add_argument("--restore-records", type=int, help="default: --restore-items")
    parser.add_argument("--rounds", type=int, default=2, help="restores of each kind")
    parser.add_argument("--no-restore", action="store_true", help="only the memory part")
    parser.add_argument("--no-memory", action="store_true", help="only the restore part")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures")
    args = parser.parse_args()
    records = args.records or args.items
    common.local_env()
    figures: dict[str, object] = {}
    if not args.no_memory:
        print("roll-forward command, one log shard, every record in one hour")
        print("    base + records   written  seconds  items/s  peak RSS MB  largest proc MB")
        small = memory(args.items, records)
        large = memory(2 * args.items, 2 * records)
        ratio = large["tree_mb"] / small["tree_mb"]
        under = "under" if large["tree_mb"] < 200 else "OVER"
        flat = "OK" if ratio <= 1.10 else "MISSED"
        print(f"  peak RSS 2N / N: {ratio:.2f} ({flat}: target <= 1.10); 2N {under} 200 MB")
        figures["memory"] = {"N": small, "2N": large, "ratio": ratio}
    if not args.no_restore:
        restore_records = args.restore_records or args.restore_items
        print(f"restore-table on dynalite, 2 workers: {args.restore_items} items, "
              f"--to-time over {restore_records} log records")  # fmt: skip
        figures["restore"] = restore_rate(args.restore_items, restore_records, args.rounds)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
