"""A deterministic fault hook for tests of segment retries (never active unless asked).

The coordinator reads ``DYNAMODB_REPLICATOR_TEST_FAULTS`` (``"once:3,always:5"``) when it
builds a cluster engine; the resulting :class:`FaultHook` is a small picklable object shipped
with each task, so worker processes need no environment of their own. ``once`` faults leave a
marker file in ``DYNAMODB_REPLICATOR_TEST_FAULTS_DIR`` (shared by the workers of one machine),
so the first attempt fails and every retry passes. ``once`` and ``always`` faults fire before
the segment does any work; ``after-repair`` faults fire (first attempt only, like ``once``)
when the segment has written its first batch of repairs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ReplicatorError, UsageError

__all__ = [
    "AFTER_REPAIR",
    "FAULTS_DIR_ENV",
    "FAULTS_ENV",
    "START",
    "FaultHook",
    "InjectedFault",
    "hook_from_environ",
]

FAULTS_ENV = "DYNAMODB_REPLICATOR_TEST_FAULTS"
FAULTS_DIR_ENV = "DYNAMODB_REPLICATOR_TEST_FAULTS_DIR"

#: The points of a segment's work where faults fire (see ``SegmentContext.checkpoint``).
START = "start"
AFTER_REPAIR = "after-repair"
_MODES = ("once", "always", AFTER_REPAIR)


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


def _segments(text: str, spec: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(
            f"{FAULTS_ENV}={spec!r}: {text!r} is not a segment number",
            hint="write e.g. once:3,always:5",
        ) from None


def hook_from_environ(environ: Mapping[str, str] | None = None) -> FaultHook | None:
    """The hook ``DYNAMODB_REPLICATOR_TEST_FAULTS`` asks for, ``None`` when it is unset."""
    env = os.environ if environ is None else environ
    spec = env.get(FAULTS_ENV, "").strip()
    if not spec:
        return None
    modes: dict[str, list[int]] = {mode: [] for mode in _MODES}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        mode, _, number = part.partition(":")
        if mode not in modes:
            raise UsageError(
                f"{FAULTS_ENV}={spec!r}: unknown mode {mode!r}", hint="once, always or after-repair"
            )
        modes[mode].append(_segments(number, spec))
    marker_dir = env.get(FAULTS_DIR_ENV)
    if (modes["once"] or modes[AFTER_REPAIR]) and not marker_dir:
        raise UsageError(
            f"{FAULTS_ENV} 'once' and 'after-repair' faults need {FAULTS_DIR_ENV} (a shared folder)"
        )
    return FaultHook(
        tuple(modes["once"]), tuple(modes["always"]), marker_dir, tuple(modes[AFTER_REPAIR])
    )
