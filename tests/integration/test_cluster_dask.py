"""diff-tables, backup-table and restore-table on a Dask LocalCluster: same results as here.

One small cluster (2 worker processes, 1 thread each) serves the whole module. Workers build
their own clients from their own environment (the hermetic test credentials).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import distributed  # the dev extra installs it: a missing engine must fail, not skip
import pytest
from click.testing import CliRunner, Result

from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.cli.options import Embedding
from helpers import Endpoint, put_items, scan_all
from segment_faults import FaultHook

SEGMENTS = "8"

pytestmark = pytest.mark.slow  # a Dask cluster of worker processes


@pytest.fixture(scope="module")
def scheduler(_hermetic_aws_env: None) -> Iterator[str]:
    """A LocalCluster started once for the module; its scheduler address."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def run(*args: str, fault: FaultHook | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), obj=Embedding(fault=fault))


def _items(n: int = 40) -> list[dict[str, Any]]:
    return [
        {
            "pk": {"S": f"k{i:03d}"},
            "n": {"N": "1234567890123456789012345678901234567" + str(i % 10)},
            "b": {"B": bytes([i, 0, 255])},
        }
        for i in range(n)
    ]


def _pair(ddb_client: Any, make_table: Callable[..., str]) -> tuple[str, str]:
    """Primary with 40 items; the replica misses 3, differs in 3 and has 2 extra."""
    primary, replica = make_table(), make_table()
    items = _items()
    put_items(ddb_client, primary, items)
    replica_items = [dict(i) for i in items[3:]]
    for item in replica_items[:3]:
        item["n"] = {"N": "7"}
    replica_items += [{"pk": {"S": "extra-1"}}, {"pk": {"S": "extra-2"}}]
    put_items(ddb_client, replica, replica_items)
    return primary, replica


def _diff(
    ddb: Endpoint, pair: tuple[str, str], *extra: str, fault: FaultHook | None = None
) -> Result:
    return run(
        "diff-tables",
        f"us-east-1/{pair[0]}",
        f"us-east-1/{pair[1]}",
        "--endpoint-url",
        ddb.url,
        "--recheck-delay",
        "0",
        "--segments",
        SEGMENTS,
        "--workers",
        "1",
        *extra,
        fault=fault,
    )


def _summary(result: Result) -> list[str]:
    """The summary lines but for time, request counts and read units (a segment's failed
    attempts add the requests they sent and the capacity they read)."""
    varying = ("requests failed and were retried", "read units per key compared")
    return [
        line
        for line in result.stderr.splitlines()
        if not line.startswith("duration") and not any(part in line for part in varying)
    ]


def _same(local: Result, cluster: Result) -> None:
    assert cluster.exit_code == local.exit_code, cluster.output
    assert sorted(cluster.stdout.splitlines()) == sorted(local.stdout.splitlines())
    assert _summary(cluster) == _summary(local)


def test_diff_repair_on_the_cluster_equals_a_local_run(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], scheduler: str
) -> None:
    here, there = _pair(ddb_client, make_table), _pair(ddb_client, make_table)
    local = _diff(ddb, here, "--repair")
    cluster = _diff(ddb, there, "--repair", "--dask-scheduler", scheduler)
    assert local.exit_code == 0, local.output
    assert "repaired 8, skipped 0, failed 0" in local.stderr
    _same(local, cluster)
    key = sorted
    assert key(scan_all(ddb_client, there[1]), key=str) == key(
        scan_all(ddb_client, there[0]), key=str
    )


def test_a_segment_failing_once_is_retried(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    scheduler: str,
    tmp_path: Path,
) -> None:
    pair = _pair(ddb_client, make_table)
    local = _diff(ddb, pair)
    hook = FaultHook(once=(2, 6), marker_dir=str(tmp_path))
    cluster = _diff(ddb, pair, "--dask-scheduler", scheduler, fault=hook)
    assert local.exit_code == 1
    _same(local, cluster)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failed-once-2", "failed-once-6"]


def test_repairs_of_a_failed_attempt_are_reported_once(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    scheduler: str,
    tmp_path: Path,
) -> None:
    """Every segment with damage fails right after its first repairs; the retries find those
    keys agreeing, yet the report and summary list each of them once, as repaired."""
    here, there = _pair(ddb_client, make_table), _pair(ddb_client, make_table)
    local = _diff(ddb, here, "--repair")
    every = FaultHook(after_repair=tuple(range(int(SEGMENTS))), marker_dir=str(tmp_path))
    cluster = _diff(ddb, there, "--repair", "--dask-scheduler", scheduler, fault=every)
    failed_once = [p.name for p in tmp_path.iterdir()]
    assert failed_once, "no segment failed after its repairs"
    assert all(name.startswith("failed-after-repair-") for name in failed_once)
    assert cluster.exit_code == 0, cluster.output
    assert sorted(cluster.stdout.splitlines()) == sorted(local.stdout.splitlines())
    assert len(cluster.stdout.splitlines()) == 8
    assert "repaired 8, skipped 0, failed 0" in cluster.stderr
    # The same summary, but for the scan counts: the retries scanned the repaired replica.
    assert _summary(cluster)[1:] == _summary(local)[1:]
    assert sorted(scan_all(ddb_client, there[1]), key=str) == sorted(
        scan_all(ddb_client, there[0]), key=str
    )


def test_a_segment_always_failing_is_exit_3_naming_it(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    scheduler: str,
) -> None:
    pair = _pair(ddb_client, make_table)
    hook = FaultHook(always=(5,))
    result = _diff(ddb, pair, "--dask-scheduler", scheduler, "--dask-retries", "1", fault=hook)
    assert result.exit_code == 3, result.output
    assert "segment 5 failed after 2 attempt(s): injected fault in segment 5" in result.stderr


def test_backup_and_restore_on_the_cluster(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    make_bucket: Callable[..., str],
    s3_endpoint: Endpoint,
    new_table: Callable[[], str],
    scheduler: str,
) -> None:
    source = make_table()
    put_items(ddb_client, source, _items())
    bucket = make_bucket()
    common = ["--endpoint-url", ddb.url, "--s3-endpoint-url", s3_endpoint.url]
    backups = {}
    for jobid, extra in (("here", ["--workers", "1"]), ("there", ["--dask-scheduler", scheduler])):
        result = run(
            "backup-table",
            f"us-east-1/{source}",
            f"s3://{bucket}/b",
            "--jobid",
            jobid,
            "--segments",
            SEGMENTS,
            *common,
            *extra,
        )
        assert result.exit_code == 0, result.output
        backups[jobid] = result.stdout
    assert "8 segment(s), 40 items" in backups["there"]
    assert (
        backups["there"].split(", 40 items")[1].rsplit(",", 1)[0]
        == (backups["here"].split(", 40 items")[1].rsplit(",", 1)[0])
    )
    target = new_table()
    restored = run(
        "restore-table",
        f"s3://{bucket}/b/there",
        f"us-east-1/{target}",
        "--create",
        "--dask-scheduler",
        scheduler,
        *common,
    )
    assert restored.exit_code == 0, restored.output
    assert "restore complete: 40 items from 8 segment(s)" in restored.stdout
    assert "(created)" in restored.stdout
    assert sorted(scan_all(ddb_client, target), key=str) == sorted(
        scan_all(ddb_client, source), key=str
    )
    verified = run(
        "verify-backup", f"s3://{bucket}/b/there", "--dask-scheduler", scheduler, *common
    )
    assert verified.exit_code == 0, verified.output
    assert "backup intact: 40 items in 8 segment(s)" in verified.stdout
