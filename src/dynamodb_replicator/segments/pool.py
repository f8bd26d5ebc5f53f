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
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_EXCEPTION,
    Executor,
    Future,
    InvalidStateError,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from ..errors import JobInterrupted, PartialSegmentError, ReplicatorError, SegmentFailedError
from ..progress import NullProgress, ProgressListener
from .context import Fault, Flag, SegmentContext, Sink
from .engine import SegmentRun
from .lifeline import die_with_parent
from .share import share_for

__all__ = ["GRACE_SECONDS", "LOCAL", "LocalEngine"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Counts:
    """Units each segment reported per task: what an interrupted job had done."""

    def __init__(self) -> None:
        self._by_segment: dict[int, dict[str, int]] = {}
        self._lock = threading.Lock()

    def add(self, segment: int, task: str, amount: int) -> None:
        with self._lock:
            tasks = self._by_segment.setdefault(segment, {})
            tasks[task] = tasks.get(task, 0) + int(amount)

    def of(self, segment: int) -> dict[str, int]:
        with self._lock:
            return dict(self._by_segment.get(segment, {}))


class _Tagged:
    """A segment's sink: tags each progress message with the segment it came from."""

    def __init__(self, segment: int, sink: Sink):
        self._segment = segment
        self._sink = sink

    def put(self, item: Any) -> None:
        task, amount = item
        self._sink.put((self._segment, task, amount))


class _ListenerSink:
    """Counts tagged progress per segment and passes it on to the listener."""

    def __init__(self, listener: ProgressListener, counts: _Counts):
        self._listener = listener
        self._counts = counts
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        segment, task, amount = item
        self._counts.add(segment, task, amount)
        with self._lock:
            self._listener.advance(task, amount)


# Set in each worker process by _init_worker; a worker process runs segments of one job only.
_worker_cancel: Any = None
_worker_queue: Any = None


def _init_worker(cancel: Any, progress_queue: Any, parent_pid: int, lifeline: Any) -> None:
    global _worker_cancel, _worker_queue
    die_with_parent(parent_pid, lifeline)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through the cancel flag
    if hasattr(signal, "pthread_sigmask"):  # held since spawn (see _sigint_held); now ignored
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _worker_cancel, _worker_queue = cancel, progress_queue


def _run_in_worker(
    fn: Callable[[SegmentContext], T],
    segment: int,
    total: int,
    fault: Fault | None,
) -> T:
    sink = _Tagged(segment, _worker_queue)
    return _begin(fn, SegmentContext(segment, total, _worker_cancel, sink, fault))


def _begin(fn: Callable[[SegmentContext], T], ctx: SegmentContext) -> T:
    ctx.checkpoint("start")
    return fn(ctx)


class _Drain(threading.Thread):
    """Moves progress messages from worker processes to the listener."""

    def __init__(self, source: Any, sink: _ListenerSink):
        super().__init__(daemon=True, name="progress-drain")
        self.source = source
        self.sink = sink
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            try:
                item = self.source.get(timeout=0.1)
            except queue.Empty:
                if self.stopping.is_set():
                    return
                continue
            self.sink.put(item)


@dataclass
class _Job(Generic[T]):
    futures: dict[Future[T], int]
    results: dict[int, T]
    counts: _Counts
    on_result: Callable[[int, T], None] | None
    on_partial: Callable[[int, object], None] | None
    partial_seen: set[int]
    never_ran: set[int] = field(default_factory=set)

    def keep(self, segment: int, result: T) -> None:
        self.results[segment] = result
        if self.on_result is not None:
            self.on_result(segment, result)

    def keep_partial(self, segment: int, exc: BaseException) -> None:
        """Hand on the work a failed or stopped segment had done (once per segment)."""
        if not isinstance(exc, PartialSegmentError) or segment in self.partial_seen:
            return
        self.partial_seen.add(segment)
        if self.on_partial is not None:
            self.on_partial(segment, exc.partial)


#: Seconds running segments get to stop on their own after Ctrl-C before their processes are
#: killed (their in-flight requests abandoned).
GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class LocalEngine:
    """The bounded pool in this process: segments inline, in threads or in worker processes.

    It does not retry segments (``merge_partial`` is never called); the work a failed or
    stopped segment had done reaches ``on_partial``. ``fault`` is passed to each segment's
    context (tests use it to make segments fail); ``grace`` is how long running segments get
    to stop on their own after Ctrl-C before their processes are killed.
    """

    fault: Fault | None = None
    grace: float = GRACE_SECONDS

    @property
    def here(self) -> bool:
        return True

    def share(self, segments_here: int, total_segments: int, workers: int) -> float:
        return share_for(segments_here, total_segments, workers)

    def run(self, request: SegmentRun[T]) -> dict[int, T]:
        """Run ``request.fn`` for every segment, at most ``request.workers`` at once.

        With ``processes=True``, ``fn`` must be picklable (a module-level function or a
        ``functools.partial`` of one); worker processes die with this one. Raises
        :class:`SegmentFailedError` naming the failed segment (the original error is its
        cause), or :class:`JobInterrupted` on Ctrl-C, saying what each segment had done.
        Either way the segments that finished reach ``on_result`` first, and the ``partial``
        of every :class:`PartialSegmentError` reaches ``on_partial``.
        """
        return _run(request, self.fault, self.grace)


#: The default engine of every job: the local pool, without a fault hook.
LOCAL: Final = LocalEngine()


@contextmanager
def _sigint_held(hold: bool) -> Iterator[None]:
    """Hold SIGINT in this thread while worker processes are spawned.

    A terminal's Ctrl-C reaches the whole process group. A worker spawned while SIGINT is held
    inherits the held mask, so a Ctrl-C during its start-up (before ``_init_worker`` ignores
    SIGINT) cannot print a traceback from it; here the signal is delivered on release.
    """
    if not hold or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _run(request: SegmentRun[T], fault: Fault | None, grace: float) -> dict[int, T]:
    fn, segments, total_segments = request.fn, list(request.segments), request.total_segments
    processes = request.processes
    listener = request.progress or NullProgress()
    job: _Job[T] = _Job({}, {}, _Counts(), request.on_result, request.on_partial, set())
    sink = _ListenerSink(listener, job.counts)
    workers = max(1, min(request.workers, len(segments) or 1))
    if workers == 1 and not processes:
        return _run_inline(fn, segments, total_segments, sink, job, fault)
    drain: _Drain | None = None
    keep_alive: Any = None
    if processes:
        ctx = multiprocessing.get_context("spawn")
        cancel: Any = ctx.Event()
        progress_queue: Any = ctx.Queue()
        lifeline, keep_alive = ctx.Pipe(duplex=False)  # workers see EOF once we are gone
        executor: Executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(cancel, progress_queue, os.getpid(), lifeline),
        )
        drain = _Drain(progress_queue, sink)
        drain.start()
    else:
        cancel = threading.Event()
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segment")
    try:
        with _sigint_held(processes):  # submit spawns the worker processes
            for segment in segments:
                if processes:
                    future = executor.submit(_run_in_worker, fn, segment, total_segments, fault)
                else:
                    context = SegmentContext(
                        segment, total_segments, cancel, _Tagged(segment, sink), fault
                    )
                    future = executor.submit(_begin, fn, context)
                job.futures[future] = segment
        _collect(job, cancel)
    except KeyboardInterrupt:
        cancel.set()
        _stop(executor, job, grace)
        _drained(drain)  # count the progress already sent before reporting it
        raise _interrupted(job, segments, total_segments) from None
    except SegmentFailedError:
        executor.shutdown(wait=True, cancel_futures=True)  # running segments stop at a page
        _harvest(job)
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        _drained(drain)
        if keep_alive is not None:
            keep_alive.close()
    return job.results


def _drained(drain: _Drain | None) -> None:
    """Pass on every progress message already sent, then stop the drain."""
    if drain is not None:
        drain.stopping.set()
        drain.join()


def _stop(executor: Executor, job: _Job[T], grace: float) -> None:
    """Give running segments ``grace`` seconds to stop, then kill worker processes (threads
    cannot be killed: they are left to stop at their next page)."""
    for future, segment in job.futures.items():
        if future.cancel():
            job.never_ran.add(segment)
    running = [f for f in job.futures if not f.done()]
    wait(running, timeout=grace)
    _harvest(job)
    processes = getattr(executor, "_processes", None) or {}
    with _quiet_broken_pool():
        for process in list(processes.values()):
            if process.is_alive():
                process.kill()
        executor.shutdown(wait=isinstance(executor, ProcessPoolExecutor), cancel_futures=True)


@contextmanager
def _quiet_broken_pool() -> Iterator[None]:
    """While we kill a process pool's workers: its manager thread, finding the pool broken, sets
    an exception on every pending future, cancelled ones too, and CPython 3.11 lets that raise
    ``InvalidStateError`` in the thread, printing a traceback. That one is expected here."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is InvalidStateError:
            log.debug("a cancelled segment's future was already settled: %s", args.exc_value)
            return
        previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous


def _run_inline(
    fn: Callable[[SegmentContext], T],
    segments: Sequence[int],
    total: int,
    sink: _ListenerSink,
    job: _Job[T],
    fault: Fault | None,
) -> dict[int, T]:
    cancel = threading.Event()
    for index, segment in enumerate(segments):
        try:
            result = _begin(
                fn, SegmentContext(segment, total, cancel, _Tagged(segment, sink), fault)
            )
        except KeyboardInterrupt:
            job.never_ran.update(segments[index + 1 :])
            raise _interrupted(job, segments, total) from None
        except Exception as exc:
            job.keep_partial(segment, exc)
            raise _failed(segment, exc) from exc
        job.keep(segment, result)
    return job.results


def _collect(job: _Job[T], cancel: Flag) -> None:
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
                job.keep_partial(segment, exc)
                raise _failed(segment, exc) from exc
            job.keep(segment, future.result())


def _harvest(job: _Job[T]) -> None:
    """Keep what segments that ended meanwhile did: results, or the partial work of failures."""
    for future, segment in job.futures.items():
        if segment in job.results or not future.done() or future.cancelled():
            continue
        exc = future.exception()
        if exc is None:
            job.keep(segment, future.result())
        else:
            job.keep_partial(segment, exc)


def _failed(segment: int, exc: BaseException) -> SegmentFailedError:
    detail = exc.message if isinstance(exc, ReplicatorError) else f"{type(exc).__name__}: {exc}"
    log.debug("segment %d failed", segment, exc_info=exc)
    return SegmentFailedError(f"segment {segment} failed: {detail}", segments=[segment], cause=exc)


def _tasks(counts: dict[str, int]) -> str:
    return ", ".join(f"{task} {n:,}" for task, n in counts.items() if n) or "nothing done"


def _interrupted(job: _Job[T], segments: Sequence[int], total: int) -> JobInterrupted:
    """What each segment had done when Ctrl-C stopped the job (no segment talk when unsegmented)."""
    done = {s: job.counts.of(s) for s in segments}
    if total <= 1 and len(segments) == 1:
        (only,) = segments
        state = "finished" if only in job.results else "not finished"
        message = f"interrupted ({state}): {_tasks(done[only])}"
    else:
        lines = ["interrupted; what each segment had done:"]
        for segment in segments:
            if segment in job.results:
                state = "finished"
            elif done[segment]:
                state = "stopped"
            elif segment in job.never_ran:
                state = "not started"
            else:
                state = "stopped before any progress"
            detail = f" ({_tasks(done[segment])})" if done[segment] else ""
            lines.append(f"  segment {segment}: {state}{detail}")
        message = "\n".join(lines)
    return JobInterrupted(message, done=sorted(job.results), progress=done)
