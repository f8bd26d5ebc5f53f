"""Job control with real processes and real signals: workers die with a killed parent, Ctrl-C
stops at once and says what was done, a failed repair still reports what it wrote."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.cli.options import Embedding
from helpers import Endpoint, put_items, scan_all
from segment_faults import FaultHook

ITEMS = 200
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def _moving(task: str) -> str:
    """A pattern for a progress line of ``task`` whose count is above zero."""
    return rf"{task} [^\d\n]*[1-9][\d,]*(/[\d,]+)? \("


def _items(count: int = ITEMS) -> list[dict[str, Any]]:
    return [{"pk": {"S": f"k{i:05d}"}, "v": {"N": str(i)}} for i in range(count)]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dynamodb_replicator.cli", *args]


class Terminal:
    """A command with stderr on a pseudo-terminal (so the progress display is on, read
    continuously) and stdout in a file (orphaned workers may hold both open)."""

    def __init__(self, cmd: Sequence[str], env: dict[str, str] | None = None):
        master, slave = pty.openpty()
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            list(cmd), stdout=self._stdout, stderr=slave, env=env or dict(os.environ)
        )
        os.close(slave)
        self._master = master
        self._err = bytearray()
        self._out: str | None = None
        self._reader = threading.Thread(target=self._read_pty, daemon=True)
        self._reader.start()

    def _read_pty(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            if not chunk:
                return
            self._err += chunk

    @property
    def err(self) -> str:
        return _ANSI.sub("\n", _COLOUR.sub("", self._err.decode(errors="replace")))

    @property
    def out(self) -> str:
        if self._out is None:
            self._stdout.seek(0)
            return self._stdout.read().decode(errors="replace")
        return self._out

    def wait_for(self, pattern: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.err):
                return
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.err}"
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not seen within {timeout:g} s: {self.err[-2000:]}")

    def kill(self) -> None:
        """Kill the command if it still runs; collect what it wrote."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self._reader.join(timeout=2)
        if self._out is None:
            self._out = self.out
            self._stdout.close()
            os.close(self._master)


def _children(pid: int) -> list[int]:
    """Worker processes (multiprocessing spawn children) of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _diff(ddb: Endpoint, primary: str, replica: str, *extra: str) -> list[str]:
    return _cli("diff-tables", f"{ddb.url}/{primary}", f"{ddb.url}/{replica}", *extra)


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and pty")


@pytest.mark.moto
def test_worker_processes_die_with_a_killed_parent_and_write_nothing(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, _items())
    # The workers find every item missing, then wait 20 s before re-checking and repairing:
    # killed during that wait, they must never write.
    cmd = _diff(ddb, primary, replica, "--repair", "--segments", "4", "--workers", "2")
    run = Terminal([*cmd, "--recheck-delay", "20"])
    try:
        run.wait_for(_moving("scan primary"))
        workers = _children(run.proc.pid)
        assert len(workers) == 2, workers
    finally:
        run.kill()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)], "workers outlived their parent"
    assert scan_all(ddb_client, replica) == []


@pytest.mark.moto
def test_ctrl_c_stops_a_segmented_diff_at_once_and_says_what_each_segment_did(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, _items())
    cmd = _diff(ddb, primary, replica, "--repair", "--segments", "4", "--workers", "2")
    run = Terminal([*cmd, "--recheck-delay", "30"])
    try:
        run.wait_for(_moving("scan primary"))
        time.sleep(0.5)
        run.proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        run.wait_for("stopping", timeout=2)
        code = run.proc.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        run.kill()
    err = run.err
    assert code == 130, err
    assert took < 3.0, f"exited {took:.1f} s after SIGINT"
    assert "Traceback" not in err
    assert re.search(r"segment [01]: stopped \(scan primary [1-9]", err), err
    assert "segment 3: not started" in err, err
    assert "a re-run with the same flags" in err, err
    assert scan_all(ddb_client, replica) == []  # killed before any repair: nothing reported
    assert "(repaired)" not in run.out


@pytest.mark.moto
def test_ctrl_c_on_an_unsegmented_diff_reports_without_segment_numbers(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, _items())
    run = Terminal([*_diff(ddb, primary, replica, "--repair"), "--recheck-delay", "30"])
    try:
        run.wait_for(rf"scan primary [^\d\n]*{ITEMS}\D")
        time.sleep(0.5)
        run.proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        code = run.proc.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        run.kill()
    err = run.err
    assert code == 130, err
    assert took < 3.0, f"exited {took:.1f} s after SIGINT"
    assert "stopping" in err
    assert f"interrupted (not finished): scan primary {ITEMS}" in err, err
    assert "segment" not in err.split("stopping", 1)[1], err


@pytest.mark.moto
def test_a_second_ctrl_c_exits_at_once(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, _items())
    cmd = _diff(ddb, primary, replica, "--repair", "--segments", "4", "--workers", "2")
    run = Terminal([*cmd, "--recheck-delay", "30"])
    try:
        run.wait_for(_moving("scan primary"))
        workers = _children(run.proc.pid)
        run.proc.send_signal(signal.SIGINT)
        run.wait_for("stopping", timeout=2)
        run.proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        code = run.proc.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        run.kill()
    assert code == 130
    assert took < 1.0, f"exited {took:.1f} s after the second SIGINT"
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]


@pytest.mark.moto
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_repair_that_fails_part_way_reports_every_repair_it_wrote(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    tmp_path: Path,
    workers: str,
) -> None:
    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, _items())
    hook = FaultHook(after_repair=(2,), marker_dir=str(tmp_path))
    cmd = _diff(ddb, primary, replica, "--repair", "--segments", "4", "--workers", workers)
    done = CliRunner().invoke(cli, [*cmd[3:], "--recheck-delay", "0"], obj=Embedding(fault=hook))
    assert done.exit_code == 3, done.stderr
    written = {item["pk"]["S"] for item in scan_all(ddb_client, replica)}
    assert written  # segment 2 (at least) repaired before it failed
    lines = [line for line in done.stdout.splitlines() if line]
    assert all(line.endswith("(repaired)") for line in lines), lines
    reported = {re.search(r'"S":"([^"]+)"', line).group(1) for line in lines}  # type: ignore[union-attr]
    assert reported == written
    assert "stopped early" in done.stderr
    assert f"repaired {len(written)}," in done.stderr, done.stderr
    assert "segment 2 failed" in done.stderr


class _Bars:
    """A listener recording what a job told it."""

    def __init__(self) -> None:
        self.done: dict[str, int] = {}
        self.finished: list[str] = []

    def start(self, task: str, total: int | None = None) -> None:
        self.done.setdefault(task, 0)

    def advance(self, task: str, amount: int = 1) -> None:
        self.done[task] = self.done.get(task, 0) + amount

    def note(self, task: str, message: str) -> None:
        return None

    def finish(self, task: str) -> None:
        self.finished.append(task)


@pytest.mark.moto
def test_a_failed_diff_never_tells_its_progress_it_finished(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    from dynamodb_replicator.diff import DiffOptions, run_diff
    from dynamodb_replicator.dynamo import TableSpec, parse_table_address
    from dynamodb_replicator.errors import SegmentFailedError
    from dynamodb_replicator.segments import LocalEngine

    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, _items())

    def spec(name: str) -> TableSpec:
        return TableSpec(parse_table_address(f"{ddb.url}/{name}"))

    bars = _Bars()
    stopped: list[Any] = []
    with pytest.raises(SegmentFailedError):
        run_diff(
            spec(primary),
            spec(replica),
            DiffOptions(recheck_delay=0),
            total_segments=2,
            progress=bars,
            on_stopped=stopped.append,
            engine=LocalEngine(fault=FaultHook(always=(1,))),
        )
    assert bars.finished == []
    assert 0 < bars.done["scan primary"] < ITEMS  # segment 0 only: its true count
    assert stopped[0].stats.scanned_primary == bars.done["scan primary"]


def _sigint_and_time(run: Terminal) -> tuple[int, float]:
    run.proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    run.wait_for("stopping", timeout=2)
    code = run.proc.wait(timeout=15)
    return code, time.monotonic() - sent


@pytest.mark.slow
@pytest.mark.moto
def test_ctrl_c_stops_a_backup_at_once_and_says_how_to_resume(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    table = make_table()
    wide = "x" * 3900  # ~4 KB items: each segment takes several 1 MB pages
    put_items(ddb_client, table, [{**item, "w": {"S": wide}} for item in _items(2000)])
    cmd = _cli(
        "backup-table", f"{ddb.url}/{table}", str(tmp_path / "b"), "--jobid", "j1",
        "--segments", "2", "--workers", "2", "--rate-read", "20",
    )  # fmt: skip
    run = Terminal(cmd)
    try:
        run.wait_for(_moving("backup"))
        code, took = _sigint_and_time(run)
    finally:
        run.kill()
    err = run.err
    assert code == 130, err
    assert took < 3.0, f"exited {took:.1f} s after SIGINT"
    # (servers that report no consumed capacity are not slowed by --rate-read)
    assert re.search(r"segment [01]: (stopped|finished) \(backup [1-9]", err), err
    assert "--jobid j1 --resume" in err, err
    assert "Traceback" not in err


@pytest.mark.slow
@pytest.mark.moto
def test_ctrl_c_stops_a_restore_at_once_and_says_what_a_rerun_does(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    table, target = make_table(), make_table()
    put_items(ddb_client, table, _items(2000))
    dest = str(tmp_path / "b")
    backup = _cli("backup-table", f"{ddb.url}/{table}", dest, "--jobid", "j1", "--segments", "2")
    subprocess.run(backup, check=True, capture_output=True, timeout=120)
    cmd = _cli(
        "restore-table", f"{dest}/j1", f"{ddb.url}/{target}", "--workers", "2",
        "--rate-write", "4",
    )  # fmt: skip
    run = Terminal(cmd)
    try:
        run.wait_for(_moving("restore"))
        code, took = _sigint_and_time(run)
    finally:
        run.kill()
    err = run.err
    assert code == 130, err
    assert took < 3.0, f"exited {took:.1f} s after SIGINT"
    # (servers that report no consumed capacity are not slowed by --rate-write)
    assert re.search(r"segment [01]: (stopped|finished) \(restore [1-9]", err), err
    assert "re-run with --force" in err, err
    assert "Traceback" not in err


@pytest.mark.moto
def test_ctrl_c_stops_the_follower_at_once(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    from helpers import wait_for_checkpoint

    primary, replica = make_table(stream="NEW_AND_OLD_IMAGES"), make_table()
    put_items(ddb_client, primary, _items(50))
    checkpoint = tmp_path / "cp.json"
    cmd = _cli(
        "replicate", f"{ddb.url}/{primary}", f"{ddb.url}/{replica}",
        "--checkpoint", str(checkpoint),
    )  # fmt: skip
    run = Terminal(cmd)
    try:
        wait_for_checkpoint(run.proc, checkpoint)
        code, took = _sigint_and_time(run)
    finally:
        run.kill()
    err = run.err
    assert code == 130, err
    assert took < 3.0, f"exited {took:.1f} s after SIGINT"
    assert "checkpoint saved" in err
