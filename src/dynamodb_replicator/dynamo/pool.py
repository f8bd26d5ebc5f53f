"""A bounded pool for the segments of a job.

At most ``workers`` segments run at once, in threads or in worker processes (scans are bound by
botocore's parsing, which holds the GIL, so processes scale and threads do not). The first
failure cancels the segments not started and asks the running ones to stop; Ctrl-C does the same
and says what had finished. Progress from worker processes travels to the caller's listener
over a queue.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_EXCEPTION,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ..errors import JobInterrupted, ReplicatorError, SegmentFailedError
from ..progress import NullProgress, ProgressListener

__all__ = ["SegmentContext", "run_segments"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Flag(Protocol):
    def is_set(self) -> bool: ...

    def set(self) -> None: ...


class _Sink(Protocol):
    def put(self, item: Any) -> None: ...


@dataclass(frozen=True)
class SegmentContext:
    """What a segment function gets besides its number: a cancel flag, a progress sink and
    (tests only) a fault hook called with the segment and a named point of its work."""

    segment: int
    total_segments: int
    _cancel: _Flag
    _sink: _Sink
    _fault: Callable[[int, str], None] | None = None

    def cancelled(self) -> bool:
        """True once the job is stopping; check between pages and stop early."""
        return self._cancel.is_set()

    def advance(self, task: str, amount: int = 1) -> None:
        """Report progress to the job's listener (from any thread or process)."""
        self._sink.put((task, amount))

    def checkpoint(self, point: str) -> None:
        """A named point of the segment's work (e.g. ``"after-repair"``) where a test fault
        hook may raise; does nothing otherwise."""
        if self._fault is not None:
            self._fault(self.segment, point)


class _ListenerSink:
    def __init__(self, listener: ProgressListener):
        self._listener = listener
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        with self._lock:
            self._listener.advance(*item)


# Set in each worker process by _init_worker; a worker process runs segments of one job only.
_worker_cancel: Any = None
_worker_queue: Any = None


def _init_worker(cancel: Any, progress_queue: Any) -> None:
    global _worker_cancel, _worker_queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through the cancel flag
    _worker_cancel, _worker_queue = cancel, progress_queue


def _run_in_worker(fn: Callable[[SegmentContext], T], segment: int, total: int) -> T:
    return fn(SegmentContext(segment, total, _worker_cancel, _worker_queue))


class _Drain(threading.Thread):
    """Moves progress messages from worker processes to the listener."""

    def __init__(self, source: Any, listener: ProgressListener):
        super().__init__(daemon=True, name="progress-drain")
        self.source = source
        self.listener = listener
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            try:
                item = self.source.get(timeout=0.1)
            except queue.Empty:
                if self.stopping.is_set():
                    return
                continue
            self.listener.advance(*item)


@dataclass
class _Job(Generic[T]):
    futures: dict[Future[T], int]
    results: dict[int, T]


def run_segments(
    fn: Callable[[SegmentContext], T],
    segments: Sequence[int],
    total_segments: int,
    *,
    workers: int = 1,
    processes: bool = False,
    progress: ProgressListener | None = None,
    on_result: Callable[[int, T], None] | None = None,
) -> dict[int, T]:
    """Run ``fn`` for every segment, at most ``workers`` at once; results by segment.

    With ``processes=True``, ``fn`` must be picklable (a module-level function or a
    ``functools.partial`` of one). Raises :class:`SegmentFailedError` naming the failed segment
    (the original error is its cause), or :class:`JobInterrupted` on Ctrl-C.
    """
    listener = progress or NullProgress()
    workers = max(1, min(workers, len(segments) or 1))
    if workers == 1 and not processes:
        return _run_inline(fn, segments, total_segments, listener, on_result)
    drain: _Drain | None = None
    if processes:
        ctx = multiprocessing.get_context("spawn")
        cancel: Any = ctx.Event()
        progress_queue: Any = ctx.Queue()
        executor: Executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(cancel, progress_queue),
        )
        drain = _Drain(progress_queue, listener)
        drain.start()
    else:
        cancel = threading.Event()
        sink = _ListenerSink(listener)
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segment")
    job: _Job[T] = _Job({}, {})
    try:
        for segment in segments:
            if processes:
                future = executor.submit(_run_in_worker, fn, segment, total_segments)
            else:
                future = executor.submit(fn, SegmentContext(segment, total_segments, cancel, sink))
            job.futures[future] = segment
        _collect(job, cancel, on_result)
    except KeyboardInterrupt:
        cancel.set()
        executor.shutdown(wait=True, cancel_futures=True)
        _harvest(job, on_result)
        raise JobInterrupted(
            f"interrupted; segments finished: {_names(job.results)}", done=sorted(job.results)
        ) from None
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        if drain is not None:
            drain.stopping.set()
            drain.join()
    return job.results


def _run_inline(
    fn: Callable[[SegmentContext], T],
    segments: Sequence[int],
    total: int,
    listener: ProgressListener,
    on_result: Callable[[int, T], None] | None,
) -> dict[int, T]:
    cancel = threading.Event()
    sink = _ListenerSink(listener)
    results: dict[int, T] = {}
    for segment in segments:
        try:
            result = fn(SegmentContext(segment, total, cancel, sink))
        except KeyboardInterrupt:
            raise JobInterrupted(
                f"interrupted in segment {segment}; segments finished: {_names(results)}",
                done=sorted(results),
            ) from None
        except Exception as exc:
            raise _failed(segment, exc) from exc
        results[segment] = result
        if on_result is not None:
            on_result(segment, result)
    return results


def _collect(job: _Job[T], cancel: _Flag, on_result: Callable[[int, T], None] | None) -> None:
    pending = set(job.futures)
    while pending:
        done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
        for future in done:
            segment = job.futures[future]
            exc = future.exception()
            if exc is not None:
                cancel.set()
                for other in pending:
                    other.cancel()
                raise _failed(segment, exc) from exc
            job.results[segment] = future.result()
            if on_result is not None:
                on_result(segment, job.results[segment])


def _harvest(job: _Job[T], on_result: Callable[[int, T], None] | None) -> None:
    for future, segment in job.futures.items():
        if segment in job.results or not future.done() or future.cancelled():
            continue
        if future.exception() is None:
            job.results[segment] = future.result()
            if on_result is not None:
                on_result(segment, job.results[segment])


def _failed(segment: int, exc: BaseException) -> SegmentFailedError:
    detail = exc.message if isinstance(exc, ReplicatorError) else f"{type(exc).__name__}: {exc}"
    log.debug("segment %d failed", segment, exc_info=exc)
    return SegmentFailedError(f"segment {segment} failed: {detail}", segments=[segment], cause=exc)


def _names(done: dict[int, Any]) -> str:
    return ", ".join(str(s) for s in sorted(done)) or "none"
