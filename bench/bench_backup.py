"""Backup and restore speed against the raw API ceiling, peak memory, and dynamodump.

    python bench/bench_backup.py                       # 20,000 items of ~1 KB, 2 segments
    python bench/bench_backup.py --items 50000 --segments 4
    python bench/bench_backup.py --memory              # + peak RSS for 200,000 items (~2 min)
    python bench/bench_backup.py --s3                  # back up to a moto S3 server

Starts its own dynalite (from the npm package, as the tests do) and, with ``--s3``, a moto
server for S3 (each in its own process). Prints items/s for:

- a bare parallel Scan loop (botocore, the same number of processes) vs ``backup-table``;
- a bare BatchWriteItem loop (same processes) vs ``restore-table``;
- dynamodump's backup and restore on the same table, when a ``dynamodump`` executable is
  found (``$DYNAMODUMP`` or on PATH; it pins an older boto3, so install it in its own venv);
- with ``--memory``, the peak RSS of a ``backup-table`` process (measured with wait4 on that
  process alone, not on this script, which hosts the servers) for 200,000 items of ~1 KB.

The peak RSS of a ``backup-table`` and a ``restore-table`` process at the bench size is always
measured (child processes, wait4). ``--json PATH`` writes the rows for ``bench/run``.
Client and server share this machine's cores: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
from common import Row
from dynamodb_replicator.backup import (
    BackupRequest,
    RestoreRequest,
    StorageSpec,
    parse_location,
    run_backup,
    run_restore,
)
from dynamodb_replicator.dynamo import TableSpec, parse_table_address
from helpers import (
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
    REGION,
    Endpoint,
    make_client,
)

Line = tuple[str, int, float, str]

#: Rates and peaks measured along the way, for the JSON rows.
MEASURED: dict[str, float] = {}


# --- data -------------------------------------------------------------------------------------


def _item(index: int, rng: random.Random) -> dict[str, Any]:
    """An item of about 1 KB: text that compresses like real data, numbers, binary, a map."""
    words = " ".join(rng.choice(("alpha", "beta", "gamma", "delta", "omega")) for _ in range(80))
    return {
        "pk": {"S": f"item-{index:09d}"},
        "n": {"N": str(rng.randint(-(10**30), 10**30))},
        "text": {"S": words[:500]},
        "hex": {"S": rng.randbytes(150).hex()},
        "bin": {"B": rng.randbytes(32)},
        "map": {"M": {"a": {"N": "1.5"}, "b": {"SS": ["x", "y"]}, "c": {"BOOL": True}}},
    }


def _write_range(endpoint: Endpoint, table: str, start: int, stop: int) -> int:
    """The bare write loop: BatchWriteItem, 25 at a time, leftovers retried."""
    client = make_client("dynamodb", endpoint)
    rng = random.Random(start)
    for base in range(start, stop, 25):
        requests = [
            {"PutRequest": {"Item": _item(i, rng)}} for i in range(base, min(base + 25, stop))
        ]
        for attempt in range(20):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
            if not requests:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise RuntimeError(f"{len(requests)} items unwritten")
    return stop - start


def _scan_segment(endpoint: Endpoint, table: str, total: int, segment: int) -> int:
    """The bare scan loop: one segment, page after page, items counted and dropped."""
    client = make_client("dynamodb", endpoint)
    args: dict[str, Any] = {"TableName": table}
    if total > 1:
        args.update(Segment=segment, TotalSegments=total)
    count = 0
    while True:
        page = client.scan(**args)
        count += len(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return count
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _parallel(fn: Callable[[int], int], parts: int) -> int:
    """``fn`` over ``parts`` in as many spawned processes (inline for one), like the jobs do."""
    return common.parallel(fn, parts)


def _write_part(endpoint: Endpoint, table: str, items: int, parts: int, part: int) -> int:
    share = (items + parts - 1) // parts
    return _write_range(endpoint, table, part * share, min(items, (part + 1) * share))


def _create_table(client: Any, name: str) -> str:
    return common.create_table(client, name=name)


def _timed(fn: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - started


# --- the measurements -------------------------------------------------------------------------


def bench_throughput(endpoint: Endpoint, args: argparse.Namespace, out: Path) -> list[Line]:
    client = make_client("dynamodb", endpoint)
    parts = args.segments
    source = _create_table(client, f"bench-{uuid.uuid4().hex[:6]}")
    raw_target = _create_table(client, f"bench-raw-{uuid.uuid4().hex[:6]}")
    _parallel(functools.partial(_write_part, endpoint, source, args.items, 4), 4)  # load
    rows: list[Line] = []

    n, t = _timed(
        lambda: _parallel(functools.partial(_scan_segment, endpoint, source, parts), parts)
    )
    rows.append((f"bare Scan loop ({parts} proc)", n, t, ""))
    scan_rate = n / t

    spec = TableSpec(parse_table_address(f"{endpoint.url}/{source}"))
    destination = StorageSpec(parse_location(args.s3_url or str(out)), args.s3_endpoint)
    request = BackupRequest(spec, destination, "bench", tuple(range(parts)), parts, workers=parts)
    summary = None

    def backup() -> int:
        nonlocal summary
        summary = run_backup(request)
        return summary.items

    n, t = _timed(backup)
    rows.append((f"backup-table ({parts} proc)", n, t, f"{n / t / scan_rate:.0%} of bare Scan"))
    assert summary is not None
    MEASURED.update(backup=n / t, scan=scan_rate)

    writer = functools.partial(_write_part, endpoint, raw_target, args.items, parts)
    n, t = _timed(lambda: _parallel(writer, parts))
    rows.append((f"bare BatchWriteItem loop ({parts} proc)", n, t, ""))
    write_rate = n / t

    target = TableSpec(parse_table_address(f"{endpoint.url}/bench-restore-{uuid.uuid4().hex[:6]}"))
    restore = RestoreRequest(
        destination.at(destination.location.child("bench")), target, workers=parts, create=True
    )
    n, t = _timed(lambda: run_restore(restore).items)
    rows.append(
        (f"restore-table ({parts} proc)", n, t, f"{n / t / write_rate:.0%} of bare BatchWrite")
    )
    MEASURED.update(restore=n / t, write=write_rate)
    rows.extend(_peaks(endpoint, source, parts, out, args.s3_endpoint))
    rows.extend(bench_dynamodump(endpoint, source, args.items, n / t, summary))
    return rows


def _peaks(
    endpoint: Endpoint, table: str, parts: int, out: Path, s3_endpoint: str | None
) -> list[Line]:
    """Peak RSS of a backup-table and a restore-table process on the same data (local folder)."""
    where = str(out / "peak")
    common_args = ["--segments", str(parts), "--workers", str(parts), "--quiet"]
    backup = common.run_child(
        common.cli("backup-table", f"{endpoint.url}/{table}", where, "--jobid", "p", *common_args)
    )
    copy = f"{endpoint.url}/bench-peak-{uuid.uuid4().hex[:6]}"
    restore = common.run_child(
        common.cli("restore-table", f"{where}/p", copy, "--create", "--workers", str(parts))
    )
    MEASURED.update(backup_rss=backup.peak_rss_mb, restore_rss=restore.peak_rss_mb)
    return [
        ("backup-table process", 0, backup.wall, f"peak RSS {backup.peak_rss_mb:.0f} MB"),
        ("restore-table process", 0, restore.wall, f"peak RSS {restore.peak_rss_mb:.0f} MB"),
    ]


def _dynamodump() -> str | None:
    return os.environ.get("DYNAMODUMP") or shutil.which("dynamodump")


def bench_dynamodump(
    endpoint: Endpoint, table: str, items: int, restore_rate: float, summary: Any
) -> list[Line]:
    exe = _dynamodump()
    if exe is None:
        print(
            "dynamodump: not run: no `dynamodump` executable (set $DYNAMODUMP or put it on "
            "PATH; it pins boto3==1.40.43, so install it in its own venv: "
            "python -m venv V && V/bin/pip install dynamodump)"
        )
        return []
    host, port = endpoint.url.removeprefix("http://").split(":")
    common = [
        exe, "-r", REGION, "--host", host, "--port", port,
        "--accessKey", DUMMY_ACCESS_KEY_ID, "--secretKey", DUMMY_SECRET_ACCESS_KEY,
    ]  # fmt: skip
    ours = summary.items / summary.seconds
    rows: list[Line] = []
    with tempfile.TemporaryDirectory() as dump:
        cmd = [*common, "-m", "backup", "-s", table, "--dumpPath", dump]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        t = time.perf_counter() - started
        rows.append(("dynamodump backup", items, t, f"backup-table is {ours / (items / t):.1f}x"))
        MEASURED.update(dd_backup=items / t)
        copy = f"{table}-dd"
        cmd = [*common, "-m", "restore", "-s", table, "-d", copy, "--dumpPath", dump, "--noConfirm"]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        t = time.perf_counter() - started
        rows.append(
            ("dynamodump restore", items, t, f"restore-table is {restore_rate / (items / t):.1f}x")
        )
        MEASURED.update(dd_restore=items / t)
    return rows


def bench_memory(endpoint: Endpoint, items: int, out: Path) -> Line:
    """Peak RSS of one ``backup-table`` process backing up ``items`` items of ~1 KB."""
    client = make_client("dynamodb", endpoint)
    table = _create_table(client, f"bench-mem-{uuid.uuid4().hex[:6]}")
    _parallel(functools.partial(_write_part, endpoint, table, items, 4), 4)
    run = common.run_child(
        common.cli(
            "backup-table",
            f"{endpoint.url}/{table}",
            str(out / "memory"),
            "--jobid",
            "m",
            "--quiet",
        )
    )
    took = run.wall
    peak_mb = run.peak_rss_mb
    verdict = "OK" if peak_mb < 150 else "OVER"
    return ("backup-table peak RSS", items, took, f"{peak_mb:.0f} MB ({verdict}: limit 150 MB)")


def _print(rows: list[Line]) -> None:
    print(f"{'operation':<36} {'items':>8} {'seconds':>8} {'items/s':>9}  note")
    for name, n, t, note in rows:
        rate = f"{n / t:>9.0f}" if n else f"{'-':>9}"
        print(f"{name:<36} {n:>8} {t:>8.2f} {rate}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--segments", type=int, default=2)
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS")
    parser.add_argument("--memory-items", type=int, default=200_000)
    parser.add_argument("--s3", action="store_true", help="back up to the embedded S3 server")
    common.add_json_option(parser)
    args = parser.parse_args()
    args.s3_url = None
    args.s3_endpoint = None
    with (
        tempfile.TemporaryDirectory() as scratch,
        common.dynalite() as endpoint,
        contextlib.ExitStack() as stack,
    ):
        work = Path(scratch)
        if args.s3:
            s3_server = stack.enter_context(common.moto())
            args.s3_endpoint = s3_server.url
            s3 = make_client("s3", s3_server)
            s3.create_bucket(Bucket="bench")
            args.s3_url = "s3://bench/backups"
        print(f"{args.items} items of ~1 KB, {args.segments} segment(s), dynalite")
        rows = bench_throughput(endpoint, args, work / "out")
        if args.memory:
            rows.append(bench_memory(endpoint, args.memory_items, work / "out"))
        _print(rows)
    _write_json(args)


def _write_json(args: argparse.Namespace) -> None:
    m = MEASURED
    where = "S3 (moto)" if args.s3 else "local folder"
    dd = "dynamodump: not measured (no executable)"
    rows = [
        Row.of(
            "backup",
            f"backup-table, {args.segments} processes, {args.items} items of ~1 KB -> {where}",
            m["backup"],
            ceiling=m["scan"],
            peak_rss_mb=m.get("backup_rss"),
            vs_dynamodump=m["backup"] / m["dd_backup"] if "dd_backup" in m else None,
            target=">= 0.80 of bare Scan" + ("" if "dd_backup" in m else f"; {dd}"),
        ),
        Row.of(
            "restore",
            f"restore-table, {args.segments} processes, {args.items} items of ~1 KB",
            m["restore"],
            ceiling=m["write"],
            peak_rss_mb=m.get("restore_rss"),
            vs_dynamodump=m["restore"] / m["dd_restore"] if "dd_restore" in m else None,
            target=">= 0.80 of bare BatchWriteItem" + ("" if "dd_restore" in m else f"; {dd}"),
        ),
    ]
    common.write_json(args.json, rows)


if __name__ == "__main__":
    main()
