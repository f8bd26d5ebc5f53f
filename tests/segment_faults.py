"""A deterministic fault hook for tests of segment failures and retries.

A test builds a :class:`FaultHook` and hands it to an engine (``LocalEngine(fault=...)``,
``DaskEngine(hook=...)``), or to the commands in-process (``obj=Embedding(fault=...)``); it is
a small picklable object shipped with each task, so worker processes need no environment of
their own. ``once`` faults leave a marker file in ``marker_dir`` (shared by the workers of one
machine), so the first attempt fails and every retry passes. ``once`` and ``always`` faults fire before
the segment does any work; ``after-repair`` faults fire (first attempt only, like ``once``)
when the segment has written its first batch of repairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dynamodb_replicator.errors import ReplicatorError

__all__ = [
    "AFTER_REPAIR",
    "START",
    "FaultHook",
    "InjectedFault",
]

#: The points of a segment's work where faults fire (see ``SegmentContext.checkpoint``).
START = "start"
AFTER_REPAIR = "after-repair"


class InjectedFault(ReplicatorError):
    """The failure a test asked for."""


@dataclass(frozen=True)
class FaultHook:
    """Segments to fail: ``once`` (first attempt only, via marker files), ``always``, or
    ``after_repair`` (first attempt only, once the segment has written repairs)."""

    once: tuple[int, ...] = ()
    always: tuple[int, ...] = ()
    marker_dir: str | None = None
    after_repair: tuple[int, ...] = ()

    def __call__(self, segment: int, point: str = START) -> None:
        if point == START:
            if segment in self.always:
                raise InjectedFault(f"injected fault in segment {segment} (always)")
            if segment in self.once and self._first(f"failed-once-{segment}"):
                raise InjectedFault(f"injected fault in segment {segment} (first attempt)")
        elif (
            point == AFTER_REPAIR
            and segment in self.after_repair
            and self._first(f"failed-after-repair-{segment}")
        ):
            raise InjectedFault(f"injected fault in segment {segment} (after repair)")

    def _first(self, name: str) -> bool:
        """True the first time ``name`` is asked for (it leaves a marker file)."""
        if self.marker_dir is None:
            return False
        try:
            (Path(self.marker_dir) / name).touch(exist_ok=False)
        except FileExistsError:
            return False
        return True
