"""What a segment function gets besides its number: a cancel flag, progress, a fault hook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

__all__ = ["Fault", "Flag", "SegmentContext", "Sink"]

#: A fault hook: called with the segment and a named point of its work (``"start"``,
#: ``"after-repair"``); it may raise to make the segment fail there. Engines take one as a
#: parameter (tests use it); nothing in the library builds one.
Fault: TypeAlias = Callable[[int, str], None]


class Flag(Protocol):
    """A cancel flag shared by the segments of one job (a thread or process event)."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...


class Sink(Protocol):
    """Where a segment's progress messages go."""

    def put(self, item: Any) -> None: ...


@dataclass(frozen=True)
class SegmentContext:
    """What a segment function gets besides its number: a cancel flag, a progress sink and
    the engine's fault hook, called with the segment and a named point of its work."""

    segment: int
    total_segments: int
    _cancel: Flag
    _sink: Sink
    _fault: Fault | None = None

    def cancelled(self) -> bool:
        """True once the job is stopping; check between pages and stop early."""
        return self._cancel.is_set()

    def advance(self, task: str, amount: int = 1) -> None:
        """Report progress to the job's listener (from any thread or process)."""
        self._sink.put((task, amount))

    def checkpoint(self, point: str) -> None:
        """A named point of the segment's work (e.g. ``"after-repair"``) where the engine's
        fault hook may raise; does nothing without one."""
        if self._fault is not None:
            self._fault(self.segment, point)
