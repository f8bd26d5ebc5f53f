"""Engines, secrets in tasks, the test fault hook and ``--segment auto`` (no servers)."""

from __future__ import annotations

import functools
import pickle
from pathlib import Path

import click
import pytest

from dynamodb_replicator.cli.options import (
    ClusterParams,
    Embedding,
    engine_from_options,
    parse_segment_options,
    table_spec,
)
from dynamodb_replicator.diff import DiffOptions
from dynamodb_replicator.diff.segment import SegmentJob
from dynamodb_replicator.dynamo import Auth, TableSpec, parse_table_address
from dynamodb_replicator.errors import SegmentFailedError, UsageError
from dynamodb_replicator.items import KeySchema
from dynamodb_replicator.segments import (
    LocalEngine,
    SegmentContext,
    SegmentRun,
    check_no_secrets,
    segment_from_environ,
)
from dynamodb_replicator.segments.dask import DaskEngine, TaskOutcome, run_segment_task
from segment_faults import FaultHook, InjectedFault


def _square(ctx: SegmentContext) -> int:
    ctx.advance("items", ctx.segment)
    return ctx.segment * ctx.segment


def test_segment_auto_reads_batch_then_kubernetes_index() -> None:
    assert segment_from_environ({"AWS_BATCH_JOB_ARRAY_INDEX": "3"}) == 3
    assert segment_from_environ({"JOB_COMPLETION_INDEX": "5"}) == 5
    with pytest.raises(UsageError, match="neither is set"):
        segment_from_environ({})
    with pytest.raises(UsageError, match="not a segment number"):
        segment_from_environ({"JOB_COMPLETION_INDEX": "x"})


def test_segment_options_keep_numbers_and_resolve_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_segment_options(2, 4, None)[:2] == ([2], 4)
    monkeypatch.delenv("AWS_BATCH_JOB_ARRAY_INDEX", raising=False)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    assert parse_segment_options("auto", 4, None)[:2] == ([1], 4)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "4")
    with pytest.raises(UsageError, match="out of range"):
        parse_segment_options("auto", 4, None)


def test_local_engine_is_the_pool() -> None:
    engine = LocalEngine()
    assert engine.run(SegmentRun(_square, [0, 1, 2], 3)) == {0: 0, 1: 1, 2: 4}
    assert engine.share(1, 4, 1) == 0.25


def test_the_commands_take_a_fault_hook_only_from_their_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No test hook in the environment: the local pool is the default engine, and a fault hook
    reaches an engine only from a program that invokes the commands with one."""
    monkeypatch.setenv("DYNAMODB_REPLICATOR_TEST_FAULTS", "always:0")
    assert engine_from_options(ClusterParams()) == LocalEngine()
    hook = FaultHook(always=(0,))
    with click.Context(click.Command("diff-tables"), obj=Embedding(fault=hook)):
        assert engine_from_options(ClusterParams()) == LocalEngine(fault=hook)
        cluster = engine_from_options(ClusterParams(dask_scheduler="tcp://h:8786", dask_retries=1))
        assert cluster == DaskEngine("tcp://h:8786", retries=1, hook=hook)


def test_a_local_engine_hands_its_fault_hook_to_every_segment() -> None:
    engine = LocalEngine(fault=FaultHook(always=(1,)))
    with pytest.raises(SegmentFailedError, match="segment 1 failed: injected fault"):
        engine.run(SegmentRun(_square, [0, 1], 2))


def test_task_wrapper_returns_counts() -> None:
    outcome = run_segment_task(_square, 3, 4)
    assert outcome == TaskOutcome(3, 9, {"items": 3})


def _job(auth: Auth) -> SegmentJob:
    spec = TableSpec(parse_table_address("us-east-1/table"), auth=auth)
    return SegmentJob(spec, spec, KeySchema("pk", "S"), DiffOptions())


def test_tasks_with_keys_are_refused() -> None:
    task = functools.partial(_square, _job(Auth(secret_access_key="s3cr3t")))
    with pytest.raises(UsageError, match=r"task\[0\]\.primary\.auth\.secret_access_key"):
        check_no_secrets(task)
    check_no_secrets(functools.partial(_square, _job(Auth(profile="p", role_arn="arn:r"))))


def test_a_cli_table_spec_pickles_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value-123")
    spec = table_spec("us-east-1/table", region=None, endpoint_url=None, profile="prod")
    data = pickle.dumps(functools.partial(_square, _job(spec.auth)))
    assert b"very-secret-value-123" not in data
    check_no_secrets(spec)


def test_fault_hook_once_and_always(tmp_path: Path) -> None:
    hook = FaultHook(once=(1,), always=(2,), marker_dir=str(tmp_path))
    hook(0)
    with pytest.raises(InjectedFault, match="first attempt"):
        hook(1)
    hook(1)  # the retry passes
    for _ in range(2):
        with pytest.raises(InjectedFault, match="always"):
            hook(2)
    assert pickle.loads(pickle.dumps(hook)) == hook


def test_fault_hook_after_repair_fires_once_at_its_point(tmp_path: Path) -> None:
    hook = FaultHook(after_repair=(1,), marker_dir=str(tmp_path))
    hook(1)  # the start of the segment: no fault
    hook(0, "after-repair")
    with pytest.raises(InjectedFault, match="after repair"):
        hook(1, "after-repair")
    hook(1, "after-repair")  # the retry passes


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object]] = []

    def start(self, task: str, total: int | None = None) -> None:
        self.calls.append(("start", task, total))

    def advance(self, task: str, amount: int = 1) -> None:
        self.calls.append(("advance", task, amount))

    def note(self, task: str, message: str) -> None:
        self.calls.append(("note", task, message))

    def finish(self, task: str) -> None:
        self.calls.append(("finish", task, None))


def test_cluster_progress_is_per_segment_with_item_counts() -> None:
    recorder = _Recorder()
    DaskEngine._report(TaskOutcome(4, None, {"backup": 120}), recorder)
    assert recorder.calls == [
        ("advance", "backup", 120),
        ("advance", "segments", 1),
        ("note", "segments", "segment 4 done (backup 120)"),
    ]
    error = DaskEngine(retries=1)._failure({7: InjectedFault("boom"), 3: InjectedFault("bang")})
    assert error.segments == (3, 7)
    assert error.message == "segments 3, 7 failed after 2 attempt(s): bang"
