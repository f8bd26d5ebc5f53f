"""Backup and restore against a bare boto3 loop and against dynamodump, at 1 process.

    python bench/bench_backup.py                       # 20,000 items of ~1 KB, 3 rounds
    python bench/bench_backup.py --items 5000 --rounds 1
    python bench/bench_backup.py --segments 2          # 2 processes for ours and the loops
    python bench/bench_backup.py --memory              # + peak RSS for 200,000 items (slow)
    python bench/bench_backup.py --s3                  # back up to a moto S3 server

Starts its own dynalite (from the npm package, as the tests do) and, with ``--s3``, a moto
server for S3 (each in its own process); fills a table with ``--items`` items of ~1 KB; then,
round after round (medians of ``--rounds``), at ``--segments`` processes (dynamodump: 1):

- backup: a bare Scan loop (boto3 as shipped, this process) against ``run_backup`` in this
  process (the same work without interpreter start-up), the ``backup-table`` command, and
  ``dynamodump -m backup``;
- restore: a bare BatchWriteItem loop (boto3, 25 items a call, one call at a time, the items
  already in memory; with ``--segments`` above 1 each process makes its share in the timing) against ``run_restore`` in this process, the ``restore-table --create``
  command and ``dynamodump -m restore``; each into a new table, deleted afterwards.
  dynamodump's backup runs in the first round only: it starts its 25 worker threads one second
  apart before it scans, so most of its time is fixed.

Ours against the bare loop compares the in-process runs; ours against dynamodump compares the
commands (both pay their start-up). CPU is user + system time of this process (in-process
runs) or of the command and its children; peak RSS is the command's process tree. dynamodump
(``$DYNAMODUMP`` or on PATH; it pins an old boto3, so ``bench/run`` installs it into a private
virtualenv in the bench cache, never into the project) is skipped, with the reason, when
missing. ``--json PATH`` writes the rows, the targets and a markdown section for
``bench/run``. Client and server share this machine's cores: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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

#: Targets of issue 14 (1 process, same server, same run).
BACKUP_VS_DYNAMODUMP = 5.0
RESTORE_VS_DYNAMODUMP = 1.5
VS_BARE = 0.9


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


def _items(start: int, stop: int) -> list[dict[str, Any]]:
    rng = random.Random(start)
    return [_item(i, rng) for i in range(start, stop)]


def _write_items(endpoint: Endpoint, table: str, items: list[dict[str, Any]]) -> int:
    """The bare write loop: BatchWriteItem, 25 at a time, one call at a time, leftovers
    retried."""
    client = make_client("dynamodb", endpoint)
    for base in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[base : base + 25]]
        for attempt in range(20):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
            if not requests:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise RuntimeError(f"{len(requests)} items unwritten")
    return len(items)


def _share(items: int, parts: int, part: int) -> tuple[int, int]:
    size = (items + parts - 1) // parts
    return part * size, min(items, (part + 1) * size)


def _write_part(endpoint: Endpoint, table: str, items: int, parts: int, part: int) -> int:
    """Part ``part`` of ``parts`` of the items (generated before the clock starts when the
    caller times it: see :func:`_bare_write`)."""
    return _write_items(endpoint, table, _items(*_share(items, parts, part)))


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


def _create_table(client: Any, name: str) -> str:
    return common.create_table(client, name=name)


# --- one round ---------------------------------------------------------------------------------


@dataclass
class Sample:
    items: int
    wall: float
    cpu: float
    rss_mb: float | None = None


class Bench:
    """The table, the servers and what each case needs; every case returns a :class:`Sample`."""

    def __init__(self, endpoint: Endpoint, args: argparse.Namespace, work: Path) -> None:
        self.endpoint = endpoint
        self.args = args
        self.parts = args.segments
        self.work = work
        self.client = make_client("dynamodb", endpoint)
        self.source = _create_table(self.client, f"bench-{uuid.uuid4().hex[:6]}")
        common.parallel(functools.partial(_write_part, endpoint, self.source, args.items, 2), 2)
        self.dynamodump = os.environ.get("DYNAMODUMP") or shutil.which("dynamodump")
        self.round = 0
        self.last_dump: Path | None = None
        self.last_backup: StorageSpec | None = None

    def url(self, table: str) -> str:
        return f"{self.endpoint.url}/{table}"

    def fresh(self, what: str) -> str:
        return f"bench-{what}-{uuid.uuid4().hex[:6]}"

    def drop(self, table: str) -> None:
        """Delete a restored table, so the server's memory stays the same round after round."""
        with contextlib.suppress(Exception):
            self.client.delete_table(TableName=table)

    def storage(self, name: str) -> StorageSpec:
        location = self.args.s3_url + f"/{name}" if self.args.s3_url else str(self.work / name)
        return StorageSpec(parse_location(location), self.args.s3_endpoint)

    # -- backup

    def bare_scan(self) -> Sample:
        scan = functools.partial(_scan_segment, self.endpoint, self.source, self.parts)
        n, t = common.timed(lambda: common.parallel(scan, self.parts))
        return Sample(n, t.wall, t.cpu)

    def backup_in_process(self) -> Sample:
        spec = TableSpec(parse_table_address(self.url(self.source)))
        destination = self.storage(f"inproc-{uuid.uuid4().hex[:6]}")
        request = BackupRequest(
            spec, destination, "bench", tuple(range(self.parts)), self.parts, workers=self.parts
        )
        summary, t = common.timed(lambda: run_backup(request))
        self.last_backup = destination.at(destination.location.child("bench"))
        return Sample(summary.items, t.wall, t.cpu)

    def backup_command(self) -> Sample:
        where = self.storage(f"cli-{uuid.uuid4().hex[:6]}")
        extra = ["--s3-endpoint-url", self.args.s3_endpoint] if self.args.s3_endpoint else []
        cmd = common.cli(
            "backup-table", self.url(self.source), where.location.url(), "--jobid", "bench",
            "--segments", str(self.parts), "--workers", str(self.parts), "--quiet", *extra,
        )  # fmt: skip
        return self._command([cmd], self.args.items, rss=True)

    def dynamodump_backup(self) -> Sample:
        assert self.dynamodump is not None
        self.last_dump = self.work / f"dump-{uuid.uuid4().hex[:6]}"
        cmd = [*self._dd(), "-m", "backup", "-s", self.source, "--dumpPath", str(self.last_dump)]
        return self._command([cmd], self.args.items)

    # -- restore

    def bare_write(self) -> Sample:
        table = _create_table(self.client, self.fresh("raw"))
        parts = [_items(*_share(self.args.items, self.parts, p)) for p in range(self.parts)]
        if self.parts == 1:
            n, t = common.timed(lambda: _write_items(self.endpoint, table, parts[0]))
        else:
            writer = functools.partial(
                _write_part, self.endpoint, table, self.args.items, self.parts
            )
            n, t = common.timed(lambda: common.parallel(writer, self.parts))
        self.drop(table)
        return Sample(n, t.wall, t.cpu)

    def restore_in_process(self) -> Sample:
        assert self.last_backup is not None
        table = self.fresh("restore")
        target = TableSpec(parse_table_address(self.url(table)))
        request = RestoreRequest(self.last_backup, target, workers=self.parts, create=True)
        summary, t = common.timed(lambda: run_restore(request))
        self.drop(table)
        return Sample(sum(s.items for s in summary.segments.values()), t.wall, t.cpu)

    def restore_command(self) -> Sample:
        assert self.last_backup is not None
        table = self.fresh("cli")
        extra = ["--s3-endpoint-url", self.args.s3_endpoint] if self.args.s3_endpoint else []
        cmd = common.cli(
            "restore-table", self.last_backup.location.url(), self.url(table), "--create",
            "--workers", str(self.parts), "--quiet", *extra,
        )  # fmt: skip
        sample = self._command([cmd], self.args.items, rss=True)
        self.drop(table)
        return sample

    def dynamodump_restore(self) -> Sample:
        assert self.dynamodump is not None
        assert self.last_dump is not None
        table = self.fresh("dd")
        cmd = [
            *self._dd(), "-m", "restore", "-s", self.source, "-d", table,
            "--dumpPath", str(self.last_dump), "--noConfirm",
        ]  # fmt: skip
        sample = self._command([cmd], self.args.items)
        self.drop(table)
        return sample

    # -- helpers

    def _dd(self) -> list[str]:
        host, port = self.endpoint.url.removeprefix("http://").split(":")
        return [
            str(self.dynamodump), "-r", REGION, "--host", host, "--port", port,
            "--accessKey", DUMMY_ACCESS_KEY_ID, "--secretKey", DUMMY_SECRET_ACCESS_KEY,
        ]  # fmt: skip

    def _command(self, cmds: list[list[str]], items: int, *, rss: bool = False) -> Sample:
        measured = common.run_commands(cmds, rss=rss)
        for run in measured.runs:
            if run.returncode != 0:
                raise RuntimeError(f"{cmds[0][:4]} exited {run.returncode}: {run.tail()}")
        return Sample(items, measured.wall, measured.cpu, measured.peak_rss_mb)


#: (key, label, method, needs dynamodump), in the order each round runs them.
CASES: list[tuple[str, str, Callable[[Bench], Sample], bool]] = [
    ("scan", "bare Scan loop (boto3)", Bench.bare_scan, False),
    ("backup", "backup-table, in process", Bench.backup_in_process, False),
    ("backup_cmd", "`backup-table` command", Bench.backup_command, False),
    ("dd_backup", "dynamodump backup (first round only)", Bench.dynamodump_backup, True),
    ("write", "bare BatchWriteItem loop (boto3, one call at a time)", Bench.bare_write, False),
    ("restore", "restore-table, in process", Bench.restore_in_process, False),
    ("restore_cmd", "`restore-table --create` command", Bench.restore_command, False),
    ("dd_restore", "dynamodump restore", Bench.dynamodump_restore, True),
]


@dataclass
class Stats:
    rate: float
    cpu_us: float
    rss_mb: float | None


def _stats(samples: list[Sample]) -> Stats:
    items = samples[0].items
    wall = statistics.median(s.wall for s in samples)
    cpu = statistics.median(s.cpu for s in samples)
    peaks = [s.rss_mb for s in samples if s.rss_mb is not None]
    return Stats(items / wall, cpu / items * 1e6, max(peaks) if peaks else None)


# --- memory -------------------------------------------------------------------------------------


def bench_memory(endpoint: Endpoint, items: int, out: Path) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one ``backup-table`` process backing up ``items`` items."""
    client = make_client("dynamodb", endpoint)
    table = _create_table(client, f"bench-mem-{uuid.uuid4().hex[:6]}")
    common.parallel(functools.partial(_write_part, endpoint, table, items, 2), 2)
    cmd = common.cli(
        "backup-table", f"{endpoint.url}/{table}", str(out / "memory"), "--jobid", "m", "--quiet"
    )
    measured = common.run_commands([cmd], rss=True)
    if measured.runs[0].returncode != 0:
        raise RuntimeError(f"backup-table exited {measured.runs[0].returncode}")
    return measured.wall, measured.peak_rss_mb or 0.0


# --- report --------------------------------------------------------------------------------------


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def report(
    stats: dict[str, Stats], args: argparse.Namespace, dd_note: str
) -> tuple[list[str], list[dict[str, Any]], list[Row]]:
    """(markdown section, targets, rows)."""
    procs = f"{args.segments} process" + ("es" if args.segments > 1 else "")
    where = "S3 (moto)" if args.s3 else "a local folder"
    lines = [
        f"One dynalite server, {args.items:,} items of ~1 KB, {procs} for ours and the bare "
        f"loops (dynamodump: 1, its own way), backups to {where}; medians of {args.rounds} "
        "interleaved rounds. `x bare` compares the in-process run with the bare boto3 loop of "
        "the same operation (neither pays interpreter start-up); `x dynamodump` compares the "
        "commands (both do). restore-table sends up to 4 batch writes at once from its one "
        "process; the bare loop one at a time. dynamodump's backup starts its 25 worker "
        "threads one second apart before it scans (so it runs in the first round only). "
        f"dynamodump: {dd_note}.",
        "",
        "| operation | items/s | CPU us per item | x bare loop | x dynamodump | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    ratios: dict[str, tuple[float | None, float | None]] = {}
    for key, label, _, _ in CASES:
        got = stats.get(key)
        if got is None:
            if key.startswith("dd_"):
                lines.append(f"| {label} | not measured: {dd_note} | | | | |")
            continue
        op = "backup" if "backup" in key or key == "scan" else "restore"
        bare = stats.get("scan" if op == "backup" else "write")
        dump = stats.get(f"dd_{op}")
        vs_bare = got.rate / bare.rate if bare and key in ("backup", "restore") else None
        vs_dump = got.rate / dump.rate if dump and key in (op, f"{op}_cmd") else None
        ratios[key] = (vs_bare, vs_dump)
        rss = f"{got.rss_mb:.0f}" if got.rss_mb is not None else "-"
        lines.append(
            f"| {label} | {got.rate:,.0f} | {got.cpu_us:,.0f} | {_x(vs_bare)} | "
            f"{_x(vs_dump)} | {rss} |"
        )
    lines.append("")
    goals = []
    for op, vs_dd in (("backup", BACKUP_VS_DYNAMODUMP), ("restore", RESTORE_VS_DYNAMODUMP)):
        vs_dump = ratios.get(f"{op}_cmd", (None, None))[1]
        in_process = ratios.get(op, (None, None))[1]
        measured = f"dynamodump {dd_note}"
        if vs_dump is not None:
            measured = f"{_x(vs_dump)} (the commands; in process {_x(in_process)})"
        goals.append(
            {
                "target": f"{op}-table >= {vs_dd:g}x dynamodump's {op} ({procs}, same server "
                "and run)",
                "measured": measured,
                "met": None if vs_dump is None else vs_dump >= vs_dd,
            }
        )
        vs_bare = ratios.get(op, (None, None))[0]
        loop = "Scan" if op == "backup" else "BatchWriteItem"
        goals.append(
            {
                "target": f"{op}-table >= {VS_BARE} of the bare boto3 {loop} loop ({procs})",
                "measured": _x(vs_bare),
                "met": None if vs_bare is None else vs_bare >= VS_BARE,
            }
        )
    rows = []
    for op, bare_key in (("backup", "scan"), ("restore", "write")):
        got, bare = stats.get(op), stats.get(bare_key)
        command = stats.get(f"{op}_cmd")
        if got is None:
            continue
        vs_dump = ratios.get(f"{op}_cmd", (None, None))[1]
        rows.append(
            Row.of(
                op,
                f"{op}-table, {procs}, {args.items} items of ~1 KB"
                + (f" -> {where}" if op == "backup" else ""),
                got.rate,
                ceiling=bare.rate if bare else None,
                cpu_us=got.cpu_us,
                peak_rss_mb=command.rss_mb if command else None,
                vs_dynamodump=vs_dump,
                target="issue 14 (targets above)",
            )
        )
    return lines, goals, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--segments", type=int, default=1, help="processes for ours and loops")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS")
    parser.add_argument("--memory-items", type=int, default=200_000)
    parser.add_argument("--s3", action="store_true", help="back up to a moto S3 server")
    common.add_json_option(parser)
    args = parser.parse_args()
    args.s3_url = None
    args.s3_endpoint = None
    samples: dict[str, list[Sample]] = {}
    memory: tuple[float, float] | None = None
    with (
        tempfile.TemporaryDirectory() as scratch,
        common.dynalite() as endpoint,
        contextlib.ExitStack() as stack,
    ):
        work = Path(scratch)
        if args.s3:
            s3_server = stack.enter_context(common.moto())
            args.s3_endpoint = s3_server.url
            make_client("s3", s3_server).create_bucket(Bucket="bench")
            args.s3_url = "s3://bench/backups"
        bench = Bench(endpoint, args, work)
        dd_note = "found" if bench.dynamodump else "not run: no `dynamodump` executable"
        if bench.dynamodump:
            dd_note = os.environ.get("DYNAMODUMP_NOTE", "found")
        print(f"{args.items} items of ~1 KB, {args.segments} process(es), dynalite")
        print(f"{'round':>5} {'case':12} {'seconds':>8} {'items/s':>9} {'CPU us/item':>12}")
        for round_ in range(args.rounds):
            for key, _, method, needs_dd in CASES:
                if needs_dd and not bench.dynamodump:
                    continue
                if key == "dd_backup" and round_ > 0:
                    continue  # its time is mostly 25 one-second pauses: once is enough
                sample = method(bench)
                samples.setdefault(key, []).append(sample)
                print(
                    f"{round_ + 1:>5} {key:12} {sample.wall:8.2f} "
                    f"{sample.items / sample.wall:9,.0f} {sample.cpu / sample.items * 1e6:12,.0f}",
                    flush=True,
                )
        if args.memory:
            memory = bench_memory(endpoint, args.memory_items, work)
    stats = {key: _stats(got) for key, got in samples.items()}
    lines, goals, rows = report(stats, args, dd_note)
    if memory is not None:
        verdict = "OK" if memory[1] < 150 else "OVER"
        lines += [
            f"`backup-table` of {args.memory_items:,} items of ~1 KB (1 process): peak RSS "
            f"{memory[1]:.0f} MB ({verdict}: limit 150 MB), {memory[0]:.0f} s.",
            "",
        ]
    print("\n".join(lines))
    common.write_json(
        args.json,
        rows,
        {"section": lines, "targets": goals, "title": "Backup and restore (bench_backup.py)"},
    )


if __name__ == "__main__":
    main()
