"""Backup and restore speed against the raw API ceiling, peak memory, and dynamodump.

    python bench/bench_backup.py                       # 20,000 items of ~1 KB, 2 segments
    python bench/bench_backup.py --items 50000 --segments 4
    python bench/bench_backup.py --memory              # + peak RSS for 200,000 items (~2 min)
    python bench/bench_backup.py --s3                  # back up to the embedded S3 server

Starts its own DynamoDB Local (from the npm package, as the tests do) and, with ``--s3``, the
embedded moto S3 server. Prints items/s for:

- a bare parallel Scan loop (botocore, the same number of processes) vs ``backup-table``;
- a bare BatchWriteItem loop (same processes) vs ``restore-table``;
- dynamodump's backup and restore on the same table, when a ``dynamodump`` executable is
  found (``$DYNAMODUMP`` or on PATH; it pins an older boto3, so install it in its own venv);
- with ``--memory``, the peak RSS of a ``backup-table`` process (measured with wait4 on that
  process alone, not on this script, which hosts the servers) for 200,000 items of ~1 KB.

Client and server share this machine's cores: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

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
    DynamoDBLocal,
    Endpoint,
    find_dynamodb_local,
    free_port,
    make_client,
)

Row = tuple[str, int, float, str]


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
    if parts == 1:
        return fn(0)
    with multiprocessing.get_context("spawn").Pool(parts) as pool:
        return sum(pool.map(fn, range(parts)))


def _write_part(endpoint: Endpoint, table: str, items: int, parts: int, part: int) -> int:
    share = (items + parts - 1) // parts
    return _write_range(endpoint, table, part * share, min(items, (part + 1) * share))


def _create_table(client: Any, name: str) -> str:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name)
    return name


def _timed(fn: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - started


# --- the measurements -------------------------------------------------------------------------


def bench_throughput(endpoint: Endpoint, args: argparse.Namespace, out: Path) -> list[Row]:
    client = make_client("dynamodb", endpoint)
    parts = args.segments
    source = _create_table(client, f"bench-{uuid.uuid4().hex[:6]}")
    raw_target = _create_table(client, f"bench-raw-{uuid.uuid4().hex[:6]}")
    _parallel(functools.partial(_write_part, endpoint, source, args.items, 4), 4)  # load
    rows: list[Row] = []

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
    rows.extend(bench_dynamodump(endpoint, source, args.items, n / t, summary))
    return rows


def _dynamodump() -> str | None:
    return os.environ.get("DYNAMODUMP") or shutil.which("dynamodump")


def bench_dynamodump(
    endpoint: Endpoint, table: str, items: int, restore_rate: float, summary: Any
) -> list[Row]:
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
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as dump:
        cmd = [*common, "-m", "backup", "-s", table, "--dumpPath", dump]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        t = time.perf_counter() - started
        rows.append(("dynamodump backup", items, t, f"backup-table is {ours / (items / t):.1f}x"))
        copy = f"{table}-dd"
        cmd = [*common, "-m", "restore", "-s", table, "-d", copy, "--dumpPath", dump, "--noConfirm"]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        t = time.perf_counter() - started
        rows.append(
            ("dynamodump restore", items, t, f"restore-table is {restore_rate / (items / t):.1f}x")
        )
    return rows


def bench_memory(endpoint: Endpoint, items: int, out: Path) -> Row:
    """Peak RSS of one ``backup-table`` process backing up ``items`` items of ~1 KB."""
    client = make_client("dynamodb", endpoint)
    table = _create_table(client, f"bench-mem-{uuid.uuid4().hex[:6]}")
    _parallel(functools.partial(_write_part, endpoint, table, items, 4), 4)
    cmd = [
        sys.executable, "-m", "dynamodb_replicator.cli", "backup-table",
        f"{endpoint.url}/{table}", str(out / "memory"), "--jobid", "m", "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"backup-table exited {proc.returncode}")
    peak_mb = usage.ru_maxrss / 1024
    verdict = "OK" if peak_mb < 150 else "OVER"
    return ("backup-table peak RSS", items, took, f"{peak_mb:.0f} MB ({verdict}: limit 150 MB)")


class _BigDynamoDBLocal(DynamoDBLocal):
    """DynamoDB Local with a larger heap: 200,000 items of 1 KB do not fit in the tests' 256 MB."""

    def __init__(self, workdir: Path, heap: str):
        super().__init__(workdir)
        self.heap = heap

    def start(self) -> Endpoint:
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("DynamoDB Local needs Java 17+ on PATH")
        folder = find_dynamodb_local()
        port = free_port()
        self.proc = subprocess.Popen(
            [
                java, f"-Xmx{self.heap}", "-XX:+UseSerialGC",
                f"-Djava.library.path={folder / 'DynamoDBLocal_lib'}",
                "-jar", str(folder / "DynamoDBLocal.jar"),
                "-inMemory", "-port", str(port), "-disableTelemetry",
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        endpoint = Endpoint(f"http://127.0.0.1:{port}", REGION, "dynamodb-local")
        probe = make_client("dynamodb", endpoint)
        for _ in range(300):
            try:
                probe.list_tables(Limit=1)
                return endpoint
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("DynamoDB Local did not start")


def _print(rows: list[Row]) -> None:
    print(f"{'operation':<36} {'items':>8} {'seconds':>8} {'items/s':>9}  note")
    for name, n, t, note in rows:
        print(f"{name:<36} {n:>8} {t:>8.2f} {n / t:>9.0f}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--segments", type=int, default=2)
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS")
    parser.add_argument("--memory-items", type=int, default=200_000)
    parser.add_argument("--s3", action="store_true", help="back up to the embedded S3 server")
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID=DUMMY_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=DUMMY_SECRET_ACCESS_KEY,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
    )
    args.s3_url = None
    args.s3_endpoint = None
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        server = _BigDynamoDBLocal(work, "1500m") if args.memory else DynamoDBLocal(work)
        endpoint = server.start()
        s3_server = None
        try:
            if args.s3:
                from dynamodb_replicator.local import LocalServer

                s3_server = LocalServer().start()
                args.s3_endpoint = s3_server.endpoint_url
                s3 = make_client("s3", Endpoint(s3_server.endpoint_url, REGION, "moto"))
                s3.create_bucket(Bucket="bench")
                args.s3_url = "s3://bench/backups"
            print(f"{args.items} items of ~1 KB, {args.segments} segment(s), DynamoDB Local")
            rows = bench_throughput(endpoint, args, work / "out")
            if args.memory:
                rows.append(bench_memory(endpoint, args.memory_items, work / "out"))
            _print(rows)
        finally:
            if s3_server is not None:
                s3_server.stop()
            server.stop()


if __name__ == "__main__":
    main()
