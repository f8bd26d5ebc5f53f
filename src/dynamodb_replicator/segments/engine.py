"""Where a job's segments run: one request (:class:`SegmentRun`), one protocol (:class:`Engine`).

A job hands an engine one :class:`SegmentRun`: a picklable segment function (a module-level
function, or a ``functools.partial`` of one over frozen dataclasses), the segment numbers and
how to report; the engine runs them wherever it runs them and returns the results by segment.
Every job takes an engine, the local pool (:class:`~.pool.LocalEngine`) by default.

Tasks shipped to another machine must carry no secret: :func:`check_no_secrets` refuses a
payload holding an :class:`~dynamodb_replicator.dynamo.Auth` with keys in it, since workers
take their credentials from their own environment.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ..dynamo import Auth
from ..errors import UsageError
from ..progress import ProgressListener
from .context import SegmentContext

__all__ = ["Engine", "SegmentRun", "check_no_secrets", "find_secrets"]

T = TypeVar("T")


@dataclass(frozen=True)
class SegmentRun(Generic[T]):
    """One job's request to an engine: run ``fn`` for each of ``segments`` (of
    ``total_segments``), at most ``workers`` at once (in worker processes with ``processes``).

    ``on_result`` receives each finished segment's result as it comes. The work a failed or
    stopped segment had done (the ``partial`` of a :class:`PartialSegmentError`) reaches
    ``on_partial`` in an engine that does not retry segments; an engine that retries passes
    the partials of a segment's failed attempts (oldest first) to ``merge_partial`` to fold
    into its final result. Either callback may be left out.
    """

    fn: Callable[[SegmentContext], T]
    segments: Sequence[int]
    total_segments: int
    workers: int = 1
    processes: bool = False
    progress: ProgressListener | None = None
    on_result: Callable[[int, T], None] | None = None
    on_partial: Callable[[int, object], None] | None = None
    merge_partial: Callable[[T, Sequence[Any]], T] | None = None


class Engine(Protocol):
    """Runs the segments of one job and returns their results by segment number."""

    @property
    def here(self) -> bool:
        """True when segments run on this machine (they spool and write to its disk)."""
        ...

    def run(self, request: SegmentRun[T]) -> dict[int, T]:
        """Run the request's segments; raises :class:`SegmentFailedError` naming the
        segments that failed, :class:`JobInterrupted` on Ctrl-C (the segments that finished
        reach ``on_result`` first either way)."""
        ...

    def share(self, segments_here: int, total_segments: int, workers: int) -> float:
        """The fraction of a job's rate budget each running segment worker enforces."""
        ...


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
