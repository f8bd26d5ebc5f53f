"""Where a job's segments run: the engine abstraction, the local pool engine, and task safety.

A job hands an :class:`Engine` one picklable segment function (a module-level function, or a
``functools.partial`` of one over frozen dataclasses) and the segment numbers; the engine runs
them wherever it runs them and returns the results by segment. ``None`` in a job means the
local pool (:func:`dynamo.run_segments`), which :class:`LocalEngine` wraps for callers that
want an explicit object.

Tasks shipped to another machine must carry no secret: :func:`check_no_secrets` refuses a
payload holding an :class:`~dynamodb_replicator.dynamo.Auth` with keys in it, since workers
take their credentials from their own environment.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..dynamo import Auth, SegmentContext, run_segments, share_for
from ..errors import UsageError
from ..progress import ProgressListener

__all__ = ["Engine", "LocalEngine", "check_no_secrets", "find_secrets"]

T = TypeVar("T")


class Engine(Protocol):
    """Runs the segments of one job and returns their results by segment number."""

    def run(
        self,
        fn: Callable[[SegmentContext], T],
        segments: Sequence[int],
        total_segments: int,
        *,
        workers: int = 1,
        processes: bool = False,
        progress: ProgressListener | None = None,
        on_result: Callable[[int, T], None] | None = None,
        merge_partial: Callable[[T, Sequence[Any]], T] | None = None,
    ) -> dict[int, T]:
        """Like :func:`dynamo.run_segments`; raises :class:`SegmentFailedError` naming the
        segments that failed.

        An engine that retries a failed segment passes ``merge_partial`` the ``partial`` of
        every :class:`PartialSegmentError` its earlier attempts raised, to fold into the final
        result; an engine that does not retry never calls it."""
        ...

    def share(self, segments_here: int, total_segments: int, workers: int) -> float:
        """The fraction of a job's rate budget each running segment worker enforces."""
        ...


@dataclass(frozen=True)
class LocalEngine:
    """The foundation's bounded pool in this process (threads or worker processes); it does
    not retry segments, so ``merge_partial`` is never called."""

    def run(
        self,
        fn: Callable[[SegmentContext], T],
        segments: Sequence[int],
        total_segments: int,
        *,
        workers: int = 1,
        processes: bool = False,
        progress: ProgressListener | None = None,
        on_result: Callable[[int, T], None] | None = None,
        merge_partial: Callable[[T, Sequence[Any]], T] | None = None,
    ) -> dict[int, T]:
        return run_segments(
            fn,
            segments,
            total_segments,
            workers=workers,
            processes=processes,
            progress=progress,
            on_result=on_result,
        )

    def share(self, segments_here: int, total_segments: int, workers: int) -> float:
        return share_for(segments_here, total_segments, workers)


_SECRET_FIELDS = ("access_key_id", "secret_access_key", "session_token")


def find_secrets(obj: Any, path: str = "task", depth: int = 0) -> list[str]:
    """Where in ``obj`` (a partial, dataclass, tuple, dict...) an :class:`Auth` holds keys."""
    if depth > 12:
        return []
    if isinstance(obj, Auth):
        return [f"{path}.{name}" for name in _SECRET_FIELDS if getattr(obj, name)]
    found: list[str] = []
    if isinstance(obj, functools.partial):
        for i, arg in enumerate(obj.args):
            found += find_secrets(arg, f"{path}[{i}]", depth + 1)
        for name, value in obj.keywords.items():
            found += find_secrets(value, f"{path}.{name}", depth + 1)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            found += find_secrets(getattr(obj, f.name), f"{path}.{f.name}", depth + 1)
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            found += find_secrets(value, f"{path}[{i}]", depth + 1)
    elif isinstance(obj, Mapping):
        for name, value in obj.items():
            found += find_secrets(value, f"{path}[{name!r}]", depth + 1)
    return found


def check_no_secrets(fn: Any) -> None:
    """Refuse (a usage error) to ship a task that carries credentials to other machines."""
    found = find_secrets(fn)
    if found:
        raise UsageError(
            f"refusing to send credentials to cluster workers ({', '.join(found)})",
            hint="give workers their own credentials (instance role, profile or environment) "
            "and name only a profile or role here",
        )
