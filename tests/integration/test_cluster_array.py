"""Array-job mode: separate processes with ``--segment auto`` and ``--results-dir``, then
``merge-results``, report what one run reports, with the same exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dynamodb_replicator.cli.app import cli
from helpers import Endpoint, put_items, scan_all

INDEX = ("AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _items(n: int = 40) -> list[dict[str, Any]]:
    return [
        {"pk": {"S": f"k{i:03d}"}, "n": {"N": "9" * 37 + str(i % 10)}, "b": {"B": bytes([i, 0])}}
        for i in range(n)
    ]


@pytest.fixture
def pair(ddb_client: Any, make_table: Callable[..., str]) -> tuple[str, str]:
    primary, replica = make_table(), make_table()
    items = _items()
    put_items(ddb_client, primary, items)
    changed = [dict(i) for i in items[4:]]
    changed[0]["n"] = {"N": "1"}
    put_items(ddb_client, replica, [*changed, {"pk": {"S": "extra"}}])
    return primary, replica


def _summary(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("duration")]


def _segment_processes(args: list[str], count: int) -> list[subprocess.CompletedProcess[str]]:
    """``count`` processes at once, each told its index the way AWS Batch or Kubernetes does."""
    procs = []
    for index in range(count):
        env = {k: v for k, v in os.environ.items() if k not in INDEX}
        env[INDEX[index % 2]] = str(index)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "dynamodb_replicator.cli", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


@pytest.mark.slow
@pytest.mark.dynalite
def test_four_segment_processes_merge_to_one_runs_report(
    ddb: Endpoint, pair: tuple[str, str], tmp_path: Path
) -> None:
    base = [
        "diff-tables",
        f"us-east-1/{pair[0]}",
        f"us-east-1/{pair[1]}",
        "--endpoint-url",
        ddb.url,
        "--recheck-delay",
        "0",
        "--segments",
        "4",
    ]
    single = run(*base, "--workers", "1")
    assert single.exit_code == 1, single.output
    results = tmp_path / "results"
    done = _segment_processes([*base, "--segment", "auto", "--results-dir", str(results)], 4)
    assert all(p.returncode in (0, 1) for p in done), [p.stderr for p in done]
    assert sorted(p.name for p in results.iterdir()) == [f"segment-{i}.json" for i in range(4)]

    merged = run("merge-results", str(results))
    assert merged.exit_code == single.exit_code, merged.output
    assert sorted(merged.stdout.splitlines()) == sorted(single.stdout.splitlines())
    assert _summary(merged.stderr) == _summary(single.stderr)
    assert "discrepancies: missing 4, different 1, extraneous 1" in merged.stderr

    (results / "segment-2.json").unlink()
    partial = run("merge-results", str(results))
    assert partial.exit_code == 3, partial.output
    assert "1 of 4 segment(s) did not finish: segment 2: no result" in partial.stderr


def test_segment_auto_without_an_index_is_a_usage_error(
    ddb: Endpoint, pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in INDEX:
        monkeypatch.delenv(name, raising=False)
    result = run(
        "diff-tables",
        f"us-east-1/{pair[0]}",
        f"us-east-1/{pair[1]}",
        "--endpoint-url",
        ddb.url,
        "--segment",
        "auto",
        "--segments",
        "4",
    )
    assert result.exit_code == 2, result.output
    assert "AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX" in result.stderr


@pytest.mark.slow
def test_backup_and_restore_as_array_jobs_with_results_on_s3(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    make_bucket: Callable[..., str],
    s3_endpoint: Endpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = make_table()
    put_items(ddb_client, source, _items())
    bucket = make_bucket()
    common = ["--endpoint-url", ddb.url, "--s3-endpoint-url", s3_endpoint.url]
    backup = ["backup-table", f"us-east-1/{source}", f"s3://{bucket}/b", "--segments", "4"]
    no_jobid = run(*backup, "--segment", "auto", *common)
    assert no_jobid.exit_code == 2
    assert "--jobid" in no_jobid.stderr
    target = make_table()  # restore's array mode writes into a table made beforehand, once
    for step, args in (
        ("backup", [*backup, "--jobid", "nightly", "--segment", "auto"]),
        ("restore", ["restore-table", f"s3://{bucket}/b/nightly", f"us-east-1/{target}"]),
    ):
        for index in range(4):
            monkeypatch.setenv("JOB_COMPLETION_INDEX", str(index))
            results = f"s3://{bucket}/results/{step}"
            one = run(*args, "--segment", "auto", "--results-dir", results, *common)
            assert one.exit_code == 0, one.output
        merged = run("merge-results", results, "--s3-endpoint-url", s3_endpoint.url)
        assert merged.exit_code == 0, merged.output
        if step == "backup":
            assert (
                f"backup complete: jobid nightly at s3://{bucket}/b/nightly: 4 segment(s), 40 items"
                in merged.stdout
            )
        else:
            assert "restore complete: 40 items from 4 segment(s)" in merged.stdout
    assert sorted(scan_all(ddb_client, target), key=str) == sorted(
        scan_all(ddb_client, source), key=str
    )
