"""Running a job's segments on a Dask distributed cluster: one task per segment.

``distributed`` is an optional extra and is imported only when a cluster job starts. Each task
runs the job's picklable segment function in a worker process with the worker's own
credentials. A failed task is retried here, on the coordinator, a bounded number of times (Dask
itself never re-runs a task), and a segment that still fails is named at the end (the other
segments finish first). A failure carrying a :class:`PartialSegmentError` (work that stays
done, such as repairs) is kept, and the job's ``merge_partial`` folds it into the segment's
final result, so that work is reported once. Results are collected in this process (the
coordinator) as tasks finish, each segment's once. Progress is per segment: when a task
finishes, its item counts and one ``segments`` step reach the listener.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from ..errors import (
    ConfigError,
    JobInterrupted,
    PartialSegmentError,
    ReplicatorError,
    SegmentFailedError,
)
from ..progress import NullProgress, ProgressListener
from .context import Fault, SegmentContext
from .engine import SegmentRun, check_no_secrets

__all__ = ["TASK_SEGMENTS", "DaskEngine", "TaskOutcome", "run_segment_task"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The progress task counting finished segments.
TASK_SEGMENTS: Final = "segments"

DEFAULT_RETRIES: Final = 2


@dataclass(frozen=True)
class TaskOutcome(Generic[T]):
    """What one task sends back: the segment function's result and its progress counts."""

    segment: int
    value: T
    counts: dict[str, int] = field(default_factory=dict)


class _CountingSink:
    """Adds up a segment's progress in the worker; it travels back with the result."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        task, amount = item
        with self._lock:
            self.counts[task] = self.counts.get(task, 0) + int(amount)


def run_segment_task(
    fn: Callable[[SegmentContext], T],
    segment: int,
    total_segments: int,
    hook: Fault | None = None,
) -> TaskOutcome[T]:
    """One cluster task: (the fault hook, then) the segment function; module-level for pickling.

    The hook also reaches the segment through its context (``ctx.checkpoint``)."""
    if hook is not None:
        hook(segment, "start")
    sink = _CountingSink()
    value = fn(SegmentContext(segment, total_segments, threading.Event(), sink, hook))
    return TaskOutcome(segment, value, dict(sink.counts))


def _connect(address: str | None, timeout: float) -> Any:
    try:
        import distributed  # optional extra: imported only when a cluster job runs
    except ImportError as exc:
        raise ConfigError(
            "--dask-scheduler needs the optional 'distributed' package",
            hint="pip install 'dynamodb-replicator[dask]'",
            cause=exc,
        ) from exc
    # distributed sets its loggers to INFO when imported; follow the caller's level instead.
    logging.getLogger("distributed").setLevel(logging.getLogger().getEffectiveLevel())
    if not address:
        raise ConfigError(
            "no Dask scheduler address",
            hint="pass --dask-scheduler tcp://HOST:8786 or set DASK_SCHEDULER_ADDRESS",
        )
    try:
        client_class: Any = distributed.Client
        return client_class(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {address} ({exc})",
            hint="check the address (tcp://HOST:8786) and that the scheduler is running",
            cause=exc,
        ) from exc


def _detail(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ReplicatorError) else f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class DaskEngine:
    """Segments as Dask tasks on the scheduler at ``address`` (or an existing ``client``).

    ``retries`` bounds the re-runs of a failed task (submitted again from here); ``hook`` is a
    picklable fault hook run before each segment and at its named checkpoints (tests use it to
    make segments fail); it travels to the workers with each task.
    """

    address: str | None = None
    retries: int = DEFAULT_RETRIES
    hook: Fault | None = None
    client: Any = field(default=None, compare=False, repr=False)
    connect_timeout: float = 10.0

    def share(self, segments_here: int, total_segments: int, workers: int) -> float:
        """Each task runs one segment, anywhere: it enforces 1/M of the job's budget."""
        return 1.0 / max(total_segments, 1)

    @property
    def here(self) -> bool:
        return False

    def run(self, request: SegmentRun[T]) -> dict[int, T]:
        """Submit one task per segment, collect results as they finish, re-submit a failed
        one up to ``retries`` times; raise :class:`SegmentFailedError` naming every segment
        that failed after its retries.

        ``request.merge_partial(result, partials)`` folds the ``partial`` of each
        :class:`PartialSegmentError` a segment's earlier attempts raised (oldest first) into
        its final result; without it those partials are dropped (``on_partial``, ``workers``
        and ``processes`` do not apply: each task runs one segment on a worker)."""
        if self.retries < 0:
            raise ConfigError("the number of task retries must be 0 or more")
        check_no_secrets(request.fn)
        listener = request.progress or NullProgress()
        owned = self.client is None
        client = _connect(self.address, self.connect_timeout) if owned else self.client
        try:
            return self._run(client, request, listener)
        finally:
            if owned:
                client.close()

    def _run(self, client: Any, request: SegmentRun[T], listener: ProgressListener) -> dict[int, T]:
        import distributed  # optional extra: imported only when a cluster job runs

        fn, segments, total = request.fn, request.segments, request.total_segments
        on_result, merge_partial = request.on_result, request.merge_partial

        as_completed: Any = distributed.as_completed
        token = uuid.uuid4().hex[:12]
        by_key: dict[str, int] = {}
        attempts: dict[int, int] = {}
        futures: list[Any] = []

        def submit(segment: int) -> Any:
            attempts[segment] = attempts.get(segment, 0) + 1
            key = f"dynamodb-replicator-{token}-segment-{segment}-attempt-{attempts[segment]}"
            future = client.submit(
                run_segment_task, fn, segment, total, self.hook, key=key, retries=0, pure=False
            )
            by_key[key] = segment
            futures.append(future)
            return future

        for segment in segments:
            submit(segment)
        pending: Any = as_completed(list(futures), loop=client.loop)
        results: dict[int, T] = {}
        failed: dict[int, BaseException] = {}
        partials: dict[int, list[Any]] = {}
        listener.start(TASK_SEGMENTS, len(segments))
        try:
            for future in pending:
                segment = by_key[future.key]
                if segment in results or segment in failed:
                    continue
                if future.status == "error":
                    exc = future.exception()
                    if isinstance(exc, PartialSegmentError):
                        partials.setdefault(segment, []).append(exc.partial)
                    if attempts[segment] <= self.retries:
                        log.info("segment %d failed, retrying: %s", segment, _detail(exc))
                        pending.add(submit(segment))
                        continue
                    failed[segment] = exc
                    listener.note(TASK_SEGMENTS, f"segment {segment} failed")
                    log.warning("segment %d failed: %s", segment, _detail(exc))
                    continue
                outcome: TaskOutcome[T] = future.result()
                self._report(outcome, listener)
                value = outcome.value
                if merge_partial is not None and segment in partials:
                    value = merge_partial(value, partials[segment])
                results[segment] = value
                if on_result is not None:
                    on_result(segment, value)
        except KeyboardInterrupt:
            client.cancel(futures)
            done = ", ".join(str(s) for s in sorted(results)) or "none"
            raise JobInterrupted(
                f"interrupted; segments finished: {done}", done=sorted(results)
            ) from None
        finally:
            listener.finish(TASK_SEGMENTS)
        if failed:
            raise self._failure(failed)
        return results

    @staticmethod
    def _report(outcome: TaskOutcome[Any], listener: ProgressListener) -> None:
        for task, amount in outcome.counts.items():
            listener.advance(task, amount)
        listener.advance(TASK_SEGMENTS, 1)
        items = ", ".join(f"{task} {n}" for task, n in sorted(outcome.counts.items()))
        listener.note(TASK_SEGMENTS, f"segment {outcome.segment} done ({items or 'no items'})")

    def _failure(self, failed: dict[int, BaseException]) -> SegmentFailedError:
        names = sorted(failed)
        first = failed[names[0]]
        label = "segment" if len(names) == 1 else "segments"
        attempts = self.retries + 1
        return SegmentFailedError(
            f"{label} {', '.join(map(str, names))} failed after {attempts} attempt(s): "
            f"{_detail(first)}",
            segments=names,
            hint="fix the cause and run the job again (or just those segments with --segment)",
            cause=first,
        )
