"""Benchmark: diff-tables side by side with the original JavaScript tool, against a bare scan
loop, its read capacity by method, and its peak memory as the tables grow.

    python bench/bench_diff.py [--items 50000] [--rss-items 200000] [--rounds 3]

Starts two dynalite servers (from the repo's npm package, like the tests; Node.js 20+): the
primary table on one, the replicas on the other. Fills a primary, an identical replica and a
damaged one (``--damage`` of the keys each missing, different and extra) with items of
~200 B, then runs every case below as separate commands on the same servers and cores, the
cases interleaved round after round (``--rounds``, medians reported):

- the original tool's ``diff-tables`` (``$ORIGINAL_DIFF_TABLES``, or the copy ``bench/run``
  installs into the bench cache; never a dependency), 1 process and 4 processes
  (``--segment i --segments 4``);
- ours, ``--segments 1 --workers 1``, 4 processes ``--segment i --segments 4``, and one
  process with ``--workers 4 --segments 4``;
- a bare boto3 loop (botocore as shipped) that scans both tables (segment ``i`` of ``n``),
  1 process and 4: the ceiling of a diff that reads each table once;
- on the identical replica, ours with ``--method lookup`` and botocore's own parser
  (``DYNAMODB_REPLICATOR_LEAN=0``): the algorithm and data path before the lean path, for CPU
  per item and read capacity per item (dynalite reports consumed capacity); first round only.

Items compared = distinct keys across both tables (what the tables hold, the same for every
tool). CPU = user + system time of the command and every process it started
(``RUSAGE_CHILDREN`` deltas). Then the peak RSS of ``--workers 4 --segments 4`` (the command
and its workers) at ``--items`` and, after the same two tables grow to ``--rss-items``, again.
``--json PATH`` writes the rows, the targets and a markdown section for ``bench/run``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import Endpoint, Measured, Row, make_client
from helpers import put_items

#: Where ``bench/run`` says the original tool's ``diff-tables`` is (or why it is not).
ORIGINAL_VAR = "ORIGINAL_DIFF_TABLES"
ORIGINAL_WHY_VAR = "ORIGINAL_DIFF_TABLES_MISSING"

#: Keeps botocore's own parsing and serializing: the data path before the lean one.
LEAN_OFF = {"DYNAMODB_REPLICATOR_LEAN": "0"}


# --- data ------------------------------------------------------------------------------------


def _item(i: int, variant: str = "x") -> dict[str, Any]:
    """An item of about 200 bytes (every common type; binary nested in a map)."""
    return {
        "pk": {"S": f"item-{i:08d}"},
        "n": {"N": str(i * 7919)},
        "s": {"S": variant * 100},
        "tags": {"SS": ["a", "b", "c"]},
        "m": {"M": {"k": {"N": "1.5"}, "b": {"B": b"\x00\x01"}}},
    }


def _extra(i: int) -> dict[str, Any]:
    return {**_item(i), "pk": {"S": f"extra-{i:08d}"}}


@dataclass(frozen=True)
class Damage:
    """Which keys the damaged replica lacks, changes and adds: every ``step``-th key."""

    step: int

    def items(self, start: int, stop: int, extra: int) -> list[dict[str, Any]]:
        out = []
        for i in range(start, stop):
            if i % self.step == 0:
                continue  # missing
            out.append(_item(i, "y" if i % self.step == 1 else "x"))
        out += [_extra(i) for i in range(start, min(stop, extra))]
        return out

    def expected(self, items: int) -> tuple[int, int, int]:
        """(missing, different, extraneous) for tables of ``items`` items."""
        missing = len(range(0, items, self.step))
        return missing, len(range(1, items, self.step)), missing


def _load_range(
    endpoint: Endpoint, table: str, start: int, stop: int, kind: str, damage: Damage, total: int
) -> int:
    client = make_client("dynamodb", endpoint)
    if kind == "damaged":
        items = damage.items(start, stop, extra=damage.expected(total)[2])
    else:
        items = [_item(i) for i in range(start, stop)]
    return put_items(client, table, items)


def _load(
    jobs: list[tuple[Endpoint, str, str]], start: int, stop: int, damage: Damage, total: int
) -> None:
    """Write items ``start..stop`` of each (endpoint, table, kind), 2 processes at a time."""
    chunk = 5_000
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        futures = [
            pool.submit(_load_range, ep, table, lo, min(lo + chunk, stop), kind, damage, total)
            for lo in range(start, stop, chunk)
            for ep, table, kind in jobs
        ]
        for future in futures:
            future.result()


# --- the bare loop (also run as this script with --bare) ---------------------------------------


def bare_scan(args: Sequence[str]) -> int:
    """Scan segment ``i`` of ``n`` of both tables with a plain boto3 client; print the count."""
    p_url, p_table, r_url, r_table, segment, total = args
    count = 0
    for url, table in ((p_url, p_table), (r_url, r_table)):
        client = make_client("dynamodb", Endpoint(url, common.REGION, "bare"))
        request: dict[str, Any] = {"TableName": table}
        if int(total) > 1:
            request.update(Segment=int(segment), TotalSegments=int(total))
        while True:
            page = client.scan(**request)
            count += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    print(count)
    return 0


# --- cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """A primary and one replica, with what a diff must find."""

    label: str
    primary: tuple[Endpoint, str]
    replica: tuple[Endpoint, str]
    distinct: int
    expected: tuple[int, int, int]
    stored: int
    """Items in both tables together (what a scan of both reads)."""


@dataclass(frozen=True)
class Case:
    """One way of diffing a pair: ``commands(pair)`` run together, then ``check``ed."""

    key: str
    label: str
    tool: str  # original | ours | bare
    processes: int
    commands: Callable[[Pair], list[list[str]]]
    env: dict[str, str] = field(default_factory=dict)
    identical_only: bool = False
    once: bool = False
    """Run in the first round only (a reference measured for its CPU and capacity)."""


def _host(endpoint: Endpoint) -> str:
    return endpoint.url.removeprefix("http://").removeprefix("https://")


def _original(exe: str, processes: int) -> Callable[[Pair], list[list[str]]]:
    def commands(pair: Pair) -> list[list[str]]:
        p = f"{_host(pair.primary[0])}/{pair.primary[1]}"
        r = f"{_host(pair.replica[0])}/{pair.replica[1]}"
        if processes == 1:
            return [[exe, p, r]]
        return [
            [exe, p, r, "--segment", str(i), "--segments", str(processes)] for i in range(processes)
        ]

    return commands


def _ours(processes: int, *extra: str) -> Callable[[Pair], list[list[str]]]:
    def commands(pair: Pair) -> list[list[str]]:
        p = f"{pair.primary[0].url}/{pair.primary[1]}"
        r = f"{pair.replica[0].url}/{pair.replica[1]}"
        base = common.cli("diff-tables", p, r, "--recheck-delay", "0", *extra)
        if processes == 1:
            return [base]
        return [
            [*base, "--segment", str(i), "--segments", str(processes)] for i in range(processes)
        ]

    return commands


def _bare(processes: int) -> Callable[[Pair], list[list[str]]]:
    def commands(pair: Pair) -> list[list[str]]:
        (pe, pt), (re_, rt) = pair.primary, pair.replica
        return [
            [sys.executable, __file__, "--bare", pe.url, pt, re_.url, rt, str(i), str(processes)]
            for i in range(processes)
        ]

    return commands


def cases(original: str | None) -> list[Case]:
    out = []
    if original:
        out += [
            Case(
                "orig1", "original JS diff-tables, 1 process", "original", 1, _original(original, 1)
            ),
            Case(
                "orig4",
                "original, 4 processes `--segment i --segments 4`",
                "original",
                4,
                _original(original, 4),
            ),
        ]
    out += [
        Case("ours1", "ours, `--segments 1 --workers 1`", "ours", 1, _ours(1, "--segments", "1", "--workers", "1")),
        Case("ours4p", "ours, 4 processes `--segment i --segments 4`", "ours", 4, _ours(4)),
        Case("ours4w", "ours, `--workers 4 --segments 4`", "ours", 4, _ours(1, "--workers", "4", "--segments", "4")),
        Case("bare1", "bare boto3 scan of both tables, 1 process", "bare", 1, _bare(1)),
        Case("bare4", "bare boto3 scan of both tables, 4 processes", "bare", 4, _bare(4)),
        Case(
            "before1",
            "ours before the lean path: `--method lookup`, botocore parser, 1 process "
            "(first round only)",
            "ours",
            1,
            _ours(1, "--segments", "1", "--workers", "1", "--method", "lookup"),
            env=LEAN_OFF,
            identical_only=True,
            once=True,
        ),
    ]  # fmt: skip
    return out


# --- results -----------------------------------------------------------------------------------

_FOUND = re.compile(r"discrepancies: missing (\d+), different (\d+), extraneous (\d+)")
_READ = re.compile(r"consumed capacity: read ([\d.]+)")
_ORIGINAL_LINE = re.compile(r"\[(missing|different|extraneous)\] (.*)$", re.MULTILINE)


@dataclass
class Sample:
    wall: float
    cpu: float
    found: tuple[int, int, int] | None
    read_units: float | None


def _found(case: Case, measured: Measured) -> tuple[int, int, int] | None:
    """(missing, different, extraneous) the commands reported; ``None`` for the bare loop."""
    if case.tool == "bare":
        return None
    totals = [0, 0, 0]
    seen: set[tuple[str, str]] = set()
    for run in measured.runs:
        if case.tool == "ours":
            match = _FOUND.search(run.stderr)
            if match is None:
                raise RuntimeError(f"{case.key}: no summary: {run.tail()}")
            for i in range(3):
                totals[i] += int(match.group(i + 1))
        else:  # the original logs a different item once per pass: count keys
            seen.update(_ORIGINAL_LINE.findall(run.stdout + run.stderr))
    for kind, _ in seen:
        totals[("missing", "different", "extraneous").index(kind)] += 1
    return (totals[0], totals[1], totals[2])


def _read_units(case: Case, measured: Measured) -> float | None:
    if case.tool != "ours":
        return None
    return sum(float(m.group(1)) for r in measured.runs if (m := _READ.search(r.stderr)))


def run_case(case: Case, pair: Pair, *, rss: bool = False) -> tuple[Sample, Measured]:
    measured = common.run_commands(case.commands(pair), env=case.env, rss=rss)
    ok = {0} if case.tool != "ours" else {0, 1}
    for run in measured.runs:
        if run.returncode not in ok:
            raise RuntimeError(f"{case.key} on {pair.label} exited {run.returncode}: {run.tail()}")
    if case.tool == "bare":
        read = sum(int(r.stdout.split()[-1]) for r in measured.runs)
        if read != pair.stored:
            raise RuntimeError(f"{case.key} on {pair.label}: read {read} items, not {pair.stored}")
    sample = Sample(
        measured.wall, measured.cpu, _found(case, measured), _read_units(case, measured)
    )
    return sample, measured


@dataclass
class Stats:
    """The medians of a case's samples on one pair."""

    rate: float
    cpu_us: float
    found: tuple[int, int, int] | None
    read_per_item: float | None
    rounds: int


def _stats(samples: list[Sample], distinct: int) -> Stats:
    wall = statistics.median(s.wall for s in samples)
    cpu = statistics.median(s.cpu for s in samples)
    reads = [s.read_units for s in samples if s.read_units is not None]
    return Stats(
        distinct / wall,
        cpu / distinct * 1e6,
        samples[-1].found,
        statistics.median(reads) / distinct if reads else None,
        len(samples),
    )


# --- report ------------------------------------------------------------------------------------


def _x(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}x"


def _found_text(found: tuple[int, int, int] | None, expected: tuple[int, int, int]) -> str:
    if found is None:
        return "-"
    text = "/".join(str(n) for n in found)
    return text if found == expected else f"{text} (expected {'/'.join(map(str, expected))})"


def section(
    results: dict[tuple[str, str], Stats],
    all_cases: list[Case],
    pairs: list[Pair],
    original_note: str,
    args: argparse.Namespace,
) -> list[str]:
    lines = [
        f"Two dynalite servers (primary on one, replicas on the other), {args.items:,} items "
        f"of ~200 B per table; the damaged replica lacks, changes and adds every "
        f"{args.step}-th key. Medians of {args.rounds} interleaved rounds. Items compared = "
        "distinct keys across both tables; CPU = user + system of the command and all its "
        "child processes. `x original` and `x bare` compare with the same number of processes. "
        f"Original tool: {original_note}.",
        "",
    ]
    by_key = {c.key: c for c in all_cases}
    for pair in pairs:
        lines += [
            f"**{pair.label} replica** ({pair.distinct:,} distinct keys; found = "
            "missing/different/extraneous)",
            "",
            "| run | items compared/s | CPU us per item | x original | x bare loop | found "
            "| read units per key |",
            "|---|---:|---:|---:|---:|---|---:|",
        ]
        for case in all_cases:
            got = results.get((case.key, pair.label))
            if got is None:
                continue
            ref_key = "orig1" if case.processes == 1 else "orig4"
            bare_key = "bare1" if case.processes == 1 else "bare4"
            ref = results.get((ref_key, pair.label)) if case.tool != "original" else None
            bare = results.get((bare_key, pair.label)) if case.tool != "bare" else None
            lines.append(
                f"| {case.label} | {got.rate:,.0f} | {got.cpu_us:,.0f} | "
                f"{_x(got.rate / ref.rate if ref else None)} | "
                f"{_x(got.rate / bare.rate if bare else None)} | "
                f"{_found_text(got.found, pair.expected)} | "
                f"{'-' if got.read_per_item is None else format(got.read_per_item, '.3f')} |"
            )
        if "orig1" not in by_key:
            lines.append(f"| original JS diff-tables | not measured: {original_note} | | | | | |")
        lines.append("")
    return lines


def _target(name: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"target": name, "measured": measured, "met": met}


def targets(
    results: dict[tuple[str, str], Stats],
    rss: tuple[float | None, float | None],
    items: tuple[int, int],
) -> list[dict[str, Any]]:
    out = []
    for label in ("identical", "damaged"):
        ours, orig = results.get(("ours1", label)), results.get(("orig1", label))
        ratio = ours.rate / orig.rate if ours and orig else None
        out.append(
            _target(
                f"diff-tables >= 3x the original at 1 process ({label})",
                _x(ratio) if ratio else "original not measured",
                None if ratio is None else ratio >= 3,
            )
        )
        orig4, bare4 = results.get(("orig4", label)), results.get(("bare4", label))
        for key, how in (("ours4p", "4 processes"), ("ours4w", "--workers 4")):
            got = results.get((key, label))
            if got is None:
                continue
            vs_orig = got.rate / orig4.rate if orig4 else None
            vs_bare = got.rate / bare4.rate if bare4 else None
            met = (vs_orig is not None and vs_orig >= 3) or (vs_bare is not None and vs_bare >= 0.8)
            out.append(
                _target(
                    f"diff-tables at 4 processes ({how}, {label}) >= 3x the original or >= 0.8 "
                    "of the bare scan loop",
                    f"{_x(vs_orig)} the original, {_x(vs_bare)} the bare loop",
                    met,
                )
            )
    ours, before = results.get(("ours1", "identical")), results.get(("before1", "identical"))
    if ours and before:
        share = ours.cpu_us / before.cpu_us
        out.append(
            _target(
                "CPU per item compared <= 1/3 of today's (today's = `--method lookup` with "
                "botocore's parser, the path before the lean one, same run)",
                f"{ours.cpu_us:.0f} / {before.cpu_us:.0f} us = {share:.2f}",
                share <= 1 / 3,
            )
        )
        if ours.read_per_item is not None and before.read_per_item:
            share = ours.read_per_item / before.read_per_item
            out.append(
                _target(
                    "read capacity per item compared, identical tables: scan-both <= 0.15 of lookup",
                    f"{ours.read_per_item:.3f} / {before.read_per_item:.3f} units = {share:.3f}",
                    share <= 0.15,
                )
            )
    small, large = rss
    if small is not None and large is not None:
        limit = 1.1 * small + 10
        out.append(
            _target(
                f"peak RSS of diff-tables `--workers 4` flat from {items[0]:,} to {items[1]:,} "
                "items per table (<= 1.1x + 10 MB)",
                f"{small:.0f} MB -> {large:.0f} MB (limit {limit:.0f} MB)",
                large <= limit,
            )
        )
    return out


# --- main --------------------------------------------------------------------------------------


def _original_exe() -> tuple[str | None, str]:
    exe = os.environ.get(ORIGINAL_VAR)
    if exe and Path(exe).exists():
        return exe, "version 10.1.3, from the bench cache"
    if os.environ.get(ORIGINAL_WHY_VAR):  # bench/run could not install it, or was told not to
        return None, os.environ[ORIGINAL_WHY_VAR]
    default = common.cache_dir() / "mapbox" / "node_modules" / ".bin" / "diff-tables"
    if default.exists():
        return str(default), "version 10.1.3, from the bench cache"
    why = os.environ.get(ORIGINAL_WHY_VAR) or "not installed (bench/run installs it)"
    return None, why


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--bare":
        common.local_env()
        sys.exit(bare_scan(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000, help="items per table")
    parser.add_argument("--rss-items", type=int, default=200_000, help="second RSS size")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--damage", type=float, default=0.002, help="share of keys damaged")
    common.add_json_option(parser)
    args = parser.parse_args()
    args.step = max(3, round(1 / args.damage))
    original, original_note = _original_exe()
    all_cases = cases(original)
    damage = Damage(args.step)
    rows: list[Row] = []
    with common.dynalite() as a, common.dynalite() as b:
        primary = (a, "bench-primary")
        same, damaged = (b, "bench-identical"), (b, "bench-damaged")
        for endpoint, name in (primary, same, damaged):
            common.create_table(make_client("dynamodb", endpoint), name=name)
        started = time.perf_counter()
        tables = [(a, primary[1], "same"), (b, same[1], "same"), (b, damaged[1], "damaged")]
        _load(tables, 0, args.items, damage, args.items)
        print(f"loaded 3 tables of ~{args.items} items in {time.perf_counter() - started:.0f} s")
        expected = damage.expected(args.items)
        pairs = [
            Pair("identical", primary, same, args.items, (0, 0, 0), 2 * args.items),
            Pair(
                "damaged",
                primary,
                damaged,
                args.items + expected[2],
                expected,
                2 * args.items - expected[0] + expected[2],
            ),
        ]
        samples: dict[tuple[str, str], list[Sample]] = {}
        for round_ in range(args.rounds):
            for pair in pairs:
                for case in all_cases:
                    if case.identical_only and pair.label != "identical":
                        continue
                    if case.once and round_ > 0:
                        continue
                    sample, _ = run_case(case, pair)
                    samples.setdefault((case.key, pair.label), []).append(sample)
                    print(
                        f"round {round_ + 1} {pair.label:9} {case.key:7} {sample.wall:7.2f} s "
                        f"{pair.distinct / sample.wall:9,.0f} items/s "
                        f"{sample.cpu / pair.distinct * 1e6:6.0f} us/item",
                        flush=True,
                    )
        results = {
            k: _stats(v, next(p.distinct for p in pairs if p.label == k[1]))
            for k, v in samples.items()
        }
        by_key = {c.key: c for c in all_cases}
        small = run_case(by_key["ours4w"], pairs[0], rss=True)[1].peak_rss_mb
        print(f"peak RSS, --workers 4, {args.items} items per table: {small} MB", flush=True)
        large = None
        if args.rss_items > args.items:
            started = time.perf_counter()
            _load(tables[:2], args.items, args.rss_items, damage, args.rss_items)
            print(
                f"grew 2 tables to {args.rss_items} items in {time.perf_counter() - started:.0f} s"
            )
            grown = Pair("identical", primary, same, args.rss_items, (0, 0, 0), 2 * args.rss_items)
            large = run_case(by_key["ours4w"], grown, rss=True)[1].peak_rss_mb
            print(f"peak RSS, --workers 4, {args.rss_items} items per table: {large} MB")
    lines = section(results, all_cases, pairs, original_note, args)
    if small is not None:
        lines += [
            "**Peak RSS** of `diff-tables --workers 4 --segments 4` (the sum over the command "
            "and its worker processes of each one's peak RSS):",
            "",
            "| items per table | peak RSS MB |",
            "|---:|---:|",
            f"| {args.items:,} | {small:.0f} |",
        ]
        if large is not None:
            lines.append(f"| {args.rss_items:,} | {large:.0f} |")
        lines.append("")
    goals = targets(results, (small, large), (args.items, args.rss_items))
    for key, label in (("ours1", "1 process"), ("ours4w", "--workers 4 --segments 4")):
        got, bare = results.get((key, "identical")), results.get((f"bare{key[4]}", "identical"))
        if got is None:
            continue
        rows.append(
            Row.of(
                "diff",
                f"diff-tables, {label}, identical tables, items compared",
                got.rate,
                ceiling=bare.rate if bare else None,
                cpu_us=got.cpu_us,
                peak_rss_mb=small if key == "ours4w" else None,
                target="issue 14 (targets above)",
            )
        )
    print("\n".join(lines))
    common.write_json(
        args.json,
        rows,
        {
            "section": lines,
            "targets": goals,
            "title": "diff-tables side by side with the original tool (bench_diff.py)",
        },
    )


if __name__ == "__main__":
    main()
