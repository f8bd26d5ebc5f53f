"""The segment pool: results, first-error cancellation, progress, and process workers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from dynamodb_replicator.errors import JobInterrupted, PartialSegmentError, SegmentFailedError
from dynamodb_replicator.segments import LocalEngine, SegmentContext, SegmentRun
from dynamodb_replicator.segments import lifeline as watch


def run_segments(fn: Any, segments: Any, total: int, **how: Any) -> dict[int, Any]:
    """Run one request on the local engine (keeps the calls below short)."""
    return LocalEngine().run(SegmentRun(fn, list(segments), total, **how))


class Recorder:
    def __init__(self) -> None:
        self.advanced: dict[str, int] = {}
        self.lock = threading.Lock()

    def start(self, task: str, total: int | None = None) -> None: ...

    def advance(self, task: str, amount: int = 1) -> None:
        with self.lock:
            self.advanced[task] = self.advanced.get(task, 0) + amount

    def note(self, task: str, message: str) -> None: ...

    def finish(self, task: str) -> None: ...


def square(ctx: SegmentContext) -> int:
    ctx.advance("items", ctx.segment)
    return ctx.segment * ctx.segment


def fail_on(bad: int, ctx: SegmentContext) -> int:
    if ctx.segment == bad:
        raise RuntimeError(f"boom in {ctx.segment}")
    return ctx.segment


@pytest.mark.parametrize("workers", [1, 3])
def test_threads_return_every_result_and_progress(workers: int) -> None:
    progress = Recorder()
    results = run_segments(square, range(6), 6, workers=workers, progress=progress)
    assert results == {s: s * s for s in range(6)}
    assert progress.advanced == {"items": 15}


def test_processes_return_every_result_and_progress() -> None:
    progress = Recorder()
    seen: list[int] = []
    results = run_segments(
        square,
        [0, 1, 2, 3],
        4,
        workers=2,
        processes=True,
        progress=progress,
        on_result=lambda s, _r: seen.append(s),
    )
    assert results == {0: 0, 1: 1, 2: 4, 3: 9}
    assert sorted(seen) == [0, 1, 2, 3]
    assert progress.advanced == {"items": 6}


def test_first_failure_names_the_segment_and_cancels_the_rest() -> None:
    started: list[int] = []
    gate = threading.Event()

    def slow(ctx: SegmentContext) -> int:
        started.append(ctx.segment)
        if ctx.segment == 0:
            raise RuntimeError("segment zero broke")
        gate.wait(0.5)
        return ctx.segment

    with pytest.raises(SegmentFailedError) as info:
        run_segments(slow, range(20), 20, workers=2)
    assert info.value.segments == (0,)
    assert "segment 0 failed" in str(info.value)
    assert len(started) < 20  # the queued segments never ran


def test_failure_in_a_process_worker() -> None:
    with pytest.raises(SegmentFailedError) as info:
        run_segments(partial(fail_on, 1), [0, 1], 2, workers=2, processes=True)
    assert info.value.segments == (1,)
    assert isinstance(info.value.cause, RuntimeError)


def _interrupt_in(segment: int, ctx: SegmentContext) -> int:
    ctx.advance("items", 10 + ctx.segment)
    if ctx.segment == segment:
        raise KeyboardInterrupt
    return ctx.segment


def test_ctrl_c_says_what_each_segment_did() -> None:
    with pytest.raises(JobInterrupted) as info:
        run_segments(partial(_interrupt_in, 1), [0, 1, 2], 3)
    message = info.value.message
    assert "segment 0: finished (items 10)" in message
    assert "segment 1: stopped (items 11)" in message
    assert "segment 2: not started" in message
    assert info.value.done == (0,)
    assert info.value.progress == {0: {"items": 10}, 1: {"items": 11}, 2: {}}


def test_ctrl_c_in_an_unsegmented_job_does_not_talk_of_segments() -> None:
    with pytest.raises(JobInterrupted) as info:
        run_segments(partial(_interrupt_in, 0), [0], 1)
    assert info.value.message == "interrupted (not finished): items 10"


def _partial_after_work(ctx: SegmentContext) -> int:
    if ctx.segment == 1:
        raise PartialSegmentError("boom after repairs", partial=["repaired k1"])
    return ctx.segment


@pytest.mark.parametrize(("workers", "processes"), [(1, False), (2, True)])
def test_a_failed_segment_hands_on_the_work_it_had_done(workers: int, processes: bool) -> None:
    partials: dict[int, object] = {}
    with pytest.raises(SegmentFailedError) as info:
        run_segments(
            _partial_after_work,
            [0, 1],
            2,
            workers=workers,
            processes=processes,
            on_partial=partials.__setitem__,
        )
    assert info.value.segments == (1,)
    assert partials == {1: ["repaired k1"]}


def _child_waiting_on_lifeline(lifeline: Any, pid_file: str) -> None:
    """A worker whose platform has no parent-death signal: the lifeline watchdog must act."""
    Path(pid_file).write_text(str(os.getpid()))
    watch._set_parent_death_signal = lambda: False  # type: ignore[attr-defined]
    watch.die_with_parent(os.getppid(), lifeline)
    time.sleep(60)


def _parent_of_watched_child(pid_file: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    lifeline, keep_alive = ctx.Pipe(duplex=False)
    ctx.Process(target=_child_waiting_on_lifeline, args=(lifeline, pid_file)).start()
    time.sleep(60)  # killed by the test; keep_alive closes with this process
    keep_alive.close()


def test_the_lifeline_watchdog_ends_a_worker_whose_parent_died(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    parent = multiprocessing.get_context("spawn").Process(
        target=_parent_of_watched_child, args=(str(pid_file),)
    )
    parent.start()
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    time.sleep(0.3)  # the watchdog thread is waiting
    os.kill(parent.pid, signal.SIGKILL)
    parent.join()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the worker outlived its parent"


def test_a_worker_whose_parent_is_already_gone_exits_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exits: list[str] = []
    monkeypatch.setattr(watch, "_exit_now", lambda: exits.append("exit"))
    monkeypatch.setattr(watch, "_set_parent_death_signal", lambda: True)
    watch.die_with_parent(os.getppid())
    assert exits == []
    watch.die_with_parent(os.getppid() + 100_000)  # the parent that started it is not ours
    assert exits == ["exit"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (reparented, not yet reaped) is gone for our purpose
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state != "Z"
