"""The segment pool: results, first-error cancellation, progress, and process workers."""

from __future__ import annotations

import threading
from functools import partial

import pytest

from dynamodb_replicator.dynamo import SegmentContext, run_segments
from dynamodb_replicator.errors import SegmentFailedError


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
