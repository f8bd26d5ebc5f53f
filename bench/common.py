"""What every benchmark shares: servers, tables, timing, a child's peak memory, machine details,
and the machine-readable rows ``bench/run`` collects (``--json PATH``).

Imported by the bench scripts as ``import common`` (they run from this folder); it puts
``tests/`` on ``sys.path`` so the tests' server code (``helpers.ServerProcess``) is reused:
dynalite (npm, Node.js 20+) for DynamoDB, moto (its own process) where Streams or S3 are needed.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "tests", ROOT / "src"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from helpers import (  # noqa: E402
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
    REGION,
    Endpoint,
    ServerProcess,
    ServerStartError,
    dynalite_command,
    find_dynalite,
    make_client,
    moto_command,
)

__all__ = [
    "DUMMY_ACCESS_KEY_ID",
    "DUMMY_SECRET_ACCESS_KEY",
    "REGION",
    "ROOT",
    "ChildRun",
    "Endpoint",
    "Finished",
    "Measured",
    "Row",
    "Timing",
    "add_json_option",
    "batch_write_all",
    "cache_dir",
    "child_env",
    "create_table",
    "dynalite",
    "local_env",
    "machine_details",
    "make_client",
    "moto",
    "parallel",
    "run_child",
    "run_commands",
    "server",
    "timed",
    "write_json",
]

JOBS = ("replicate", "follow", "diff", "backup", "restore", "changelog")


# --- environment and servers ------------------------------------------------------------------


def local_env() -> None:
    """Only dummy credentials and one region: no developer AWS setting leaks into a bench."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID=DUMMY_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=DUMMY_SECRET_ACCESS_KEY,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )


@contextmanager
def _process(name: str, command: Callable[[int, str], list[str]]) -> Iterator[Endpoint]:
    local_env()
    with (
        tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as scratch,
        ServerProcess(name, command, Path(scratch)) as endpoint,
    ):
        yield endpoint


@contextmanager
def dynalite() -> Iterator[Endpoint]:
    """A fresh in-memory dynalite (Node.js 20+ and ``npm ci``), stopped afterwards."""
    with _process("dynalite", dynalite_command) as endpoint:
        yield endpoint


@contextmanager
def moto() -> Iterator[Endpoint]:
    """A fresh moto server (DynamoDB, DynamoDB Streams, S3) in its own process."""
    with _process("moto", moto_command) as endpoint:
        yield endpoint


@contextmanager
def server(streams: bool = False) -> Iterator[tuple[Endpoint, str]]:
    """(endpoint, server name): dynalite, or moto when the bench needs DynamoDB Streams."""
    if streams:
        with moto() as endpoint:
            yield endpoint, "moto"
    else:
        with dynalite() as endpoint:
            yield endpoint, "dynalite"


def create_table(client: Any, *, name: str | None = None, stream_view: str | None = None) -> str:
    """An on-demand table keyed by string ``pk`` (with a stream when ``stream_view`` is set)."""
    name = name or f"bench-{uuid.uuid4().hex[:8]}"
    extra: dict[str, Any] = {}
    if stream_view:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream_view}
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    client.get_waiter("table_exists").wait(TableName=name)
    return name


def batch_write_all(client: Any, table: str, items: Iterable[Mapping[str, Any]]) -> int:
    """The bare write ceiling: BatchWriteItem, 25 a call, leftovers re-sent (bounded)."""
    written = 0
    batch: list[Mapping[str, Any]] = []

    def flush() -> None:
        requests: list[Any] = [{"PutRequest": {"Item": item}} for item in batch]
        for attempt in range(20):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
            if not requests:
                return
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError(f"{len(requests)} items unwritten to {table}")

    for item in items:
        batch.append(item)
        if len(batch) == 25:
            flush()
            written += len(batch)
            batch.clear()
    if batch:
        flush()
        written += len(batch)
    return written


def parallel(fn: Callable[[int], int], parts: int) -> int:
    """``fn(0..parts-1)`` in as many spawned processes (inline for one), summed; like the jobs."""
    if parts == 1:
        return fn(0)
    with multiprocessing.get_context("spawn").Pool(parts) as pool:
        return sum(pool.map(fn, range(parts)))


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Wall seconds, and CPU seconds of this process plus its finished children."""

    wall: float
    cpu: float


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], Any]) -> tuple[Any, Timing]:
    """``fn()``'s result and how long it took (worker processes count once they have ended)."""
    cpu, wall = _cpu(), time.perf_counter()
    result = fn()
    return result, Timing(time.perf_counter() - wall, _cpu() - cpu)


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: exit code, wall seconds, CPU seconds and peak RSS (MB) of the
    largest process in its tree (wait4 reports the max over the child and what it waited for)."""

    returncode: int
    wall: float
    cpu: float
    peak_rss_mb: float


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus ``env``, with this checkout's ``src`` and ``tests``
    first on ``PYTHONPATH`` (the project is measured from this tree, not an installed copy)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT / "tests"), full_env.get("PYTHONPATH", "")]
    )
    return full_env


def run_child(cmd: Sequence[str], env: Mapping[str, str] | None = None) -> ChildRun:
    """Run ``cmd`` (output discarded) and measure that process alone, not this one."""
    full_env = child_env(env)
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{cmd[0:4]} exited {proc.returncode}: {' | '.join(tail)}")
    return ChildRun(proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


@dataclass(frozen=True)
class Finished:
    """One command of :func:`run_commands`: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str

    def tail(self, lines: int = 3) -> str:
        return " | ".join(self.stderr.strip().splitlines()[-lines:])


@dataclass(frozen=True)
class Measured:
    """Commands run together: wall seconds from the first start to the last end; CPU seconds
    (user + system) of the commands and every process they started and waited for; with
    ``rss``, the sum over that process tree of each process's peak RSS in MB."""

    wall: float
    cpu: float
    peak_rss_mb: float | None
    runs: tuple[Finished, ...]


class _TreeMemory:
    """Samples the process trees under ``pids`` every ``every`` seconds and keeps each process's
    peak RSS (``VmHWM``, which the kernel keeps, so a sample missed between two polls loses
    nothing but the processes that lived less than ``every``). Needs psutil."""

    def __init__(self, pids: Sequence[int], every: float = 0.05) -> None:
        import psutil

        self.psutil = psutil
        self.roots = [psutil.Process(pid) for pid in pids]
        self.peaks: dict[int, float] = {}
        self.every = every
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            self._sample()
            self.done.wait(self.every)

    def _sample(self) -> None:
        procs = []
        for root in self.roots:
            try:
                procs += [root, *root.children(recursive=True)]
            except self.psutil.Error:
                continue
        for proc in procs:
            peak = _peak_rss_mb(proc, self.psutil)
            if peak is not None:
                self.peaks[proc.pid] = max(peak, self.peaks.get(proc.pid, 0.0))

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        return sum(self.peaks.values())


def _peak_rss_mb(proc: Any, psutil: Any) -> float | None:
    try:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float(proc.memory_info().rss) / 1024 / 1024
    except (OSError, ValueError, psutil.Error):
        return None


def run_commands(
    cmds: Sequence[Sequence[str]], *, env: Mapping[str, str] | None = None, rss: bool = False
) -> Measured:
    """Start every command at once (no shell, output to temporary files) and wait for all.

    CPU comes from ``getrusage(RUSAGE_CHILDREN)`` before and after, so it counts each command
    and every process it started and waited for (worker processes included); nothing else of
    this process may end meanwhile (the servers keep running). ``rss`` samples the peak memory
    of the process trees (psutil; ``None`` without it).
    """
    full_env = child_env(env)
    with tempfile.TemporaryDirectory(prefix="bench-out-") as scratch:
        outs = [(Path(scratch) / f"{i}.out", Path(scratch) / f"{i}.err") for i in range(len(cmds))]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        procs = []
        for cmd, (out, err) in zip(cmds, outs, strict=True):
            with out.open("wb") as stdout, err.open("wb") as stderr:
                procs.append(
                    subprocess.Popen(list(cmd), env=full_env, stdout=stdout, stderr=stderr)
                )
        memory = None
        if rss:
            try:
                memory = _TreeMemory([p.pid for p in procs])
            except ImportError:
                memory = None
        codes = [p.wait() for p in procs]
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak = memory.stop() if memory is not None else None
        runs = tuple(
            Finished(code, out.read_text(errors="replace"), err.read_text(errors="replace"))
            for code, (out, err) in zip(codes, outs, strict=True)
        )
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Measured(wall, cpu, peak, runs)


def cache_dir() -> Path:
    """Where the benches install what they measure against (the original JavaScript tool,
    dynamodump): never a dependency of the project, and outside the repository.
    ``$DYNAMODB_REPLICATOR_BENCH_CACHE``, else the user's cache folder."""
    explicit = os.environ.get("DYNAMODB_REPLICATOR_BENCH_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dynamodb-replicator-bench"


def cli(*args: str) -> list[str]:
    """The project's command line, run with this Python (its bytecode compiled first)."""
    compile_package()
    return [sys.executable, "-m", "dynamodb_replicator.cli", *args]


@functools.cache
def compile_package() -> None:
    """Compile the package's bytecode once, as installing it from a wheel does.

    An editable install has none, and with ``PYTHONDONTWRITEBYTECODE`` set no run ever caches
    it: every command would compile each module at start-up, which a user's install does not
    (nor does the pip-installed dynamodump the commands are compared with).
    """
    import compileall

    import dynamodb_replicator

    compileall.compile_dir(Path(dynamodb_replicator.__file__).parent, quiet=1)


# --- machine-readable rows ---------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One measured line, as ``bench/run`` reads it.

    ``job`` is one of replicate, follow, diff, backup, restore (``None``-free). ``ratio`` is
    ``items_per_s / ceiling_items_per_s``: the bare API loop on the same server and
    concurrency. ``vs_dynamodump``: our rate over dynamodump's (backup and restore only).
    """

    job: str
    what: str
    items_per_s: float
    ceiling_items_per_s: float | None
    ratio: float | None
    cpu_us_per_item: float | None
    peak_rss_mb: float | None
    vs_dynamodump: float | None
    target: str

    @staticmethod
    def of(
        job: str,
        what: str,
        rate: float,
        *,
        ceiling: float | None = None,
        cpu_us: float | None = None,
        peak_rss_mb: float | None = None,
        vs_dynamodump: float | None = None,
        target: str = "",
    ) -> Row:
        assert job in JOBS, job
        ratio = rate / ceiling if ceiling else None
        return Row(job, what, rate, ceiling, ratio, cpu_us, peak_rss_mb, vs_dynamodump, target)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write rows as JSON")


def write_json(
    path: Path | None, rows: Iterable[Row], extra: Mapping[str, Any] | None = None
) -> None:
    """``{"rows": [...], **extra}`` to ``path`` (nothing when ``path`` is ``None``)."""
    if path is None:
        return
    data = {"rows": [_rounded(asdict(row)) for row in rows], **(extra or {})}
    path.write_text(json.dumps(data, indent=1) + "\n")


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


# --- the machine ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _dynalite_version() -> str:
    try:
        package = find_dynalite().parent / "package.json"
        return str(json.loads(package.read_text()).get("version", "?"))
    except (ServerStartError, OSError, ValueError):
        return "not installed"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        return "not found"
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "?"


def _moto_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("moto")
    except PackageNotFoundError:
        return "not installed"


def machine_details() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, memory, versions, load, date."""
    import boto3
    import botocore

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "dynalite": _dynalite_version(),
        "node": _node(),
        "moto": _moto_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
