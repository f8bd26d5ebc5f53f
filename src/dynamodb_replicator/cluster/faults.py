"""A deterministic fault hook for tests of segment retries (never active unless asked).

The coordinator reads ``DYNAMODB_REPLICATOR_TEST_FAULTS`` (``"once:3,always:5"``) when it
builds a cluster engine; the resulting :class:`FaultHook` is a small picklable object shipped
with each task, so worker processes need no environment of their own. ``once`` faults leave a
marker file in ``DYNAMODB_REPLICATOR_TEST_FAULTS_DIR`` (shared by the workers of one machine),
so the first attempt fails and every retry passes. Faults fire before the segment does any
work.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ReplicatorError, UsageError

__all__ = ["FAULTS_DIR_ENV", "FAULTS_ENV", "FaultHook", "InjectedFault", "hook_from_environ"]

FAULTS_ENV = "DYNAMODB_REPLICATOR_TEST_FAULTS"
FAULTS_DIR_ENV = "DYNAMODB_REPLICATOR_TEST_FAULTS_DIR"


class InjectedFault(ReplicatorError):
    """The failure a test asked for."""


@dataclass(frozen=True)
class FaultHook:
    """Segments to fail: ``once`` (first attempt only, via marker files) or ``always``."""

    once: tuple[int, ...] = ()
    always: tuple[int, ...] = ()
    marker_dir: str | None = None

    def __call__(self, segment: int) -> None:
        if segment in self.always:
            raise InjectedFault(f"injected fault in segment {segment} (always)")
        if segment in self.once and self.marker_dir is not None:
            marker = Path(self.marker_dir) / f"failed-once-{segment}"
            try:
                marker.touch(exist_ok=False)
            except FileExistsError:
                return
            raise InjectedFault(f"injected fault in segment {segment} (first attempt)")


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
    once: list[int] = []
    always: list[int] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        mode, _, number = part.partition(":")
        if mode not in ("once", "always"):
            raise UsageError(f"{FAULTS_ENV}={spec!r}: unknown mode {mode!r}", hint="once or always")
        (once if mode == "once" else always).append(_segments(number, spec))
    marker_dir = env.get(FAULTS_DIR_ENV)
    if once and not marker_dir:
        raise UsageError(f"{FAULTS_ENV} 'once' faults need {FAULTS_DIR_ENV} (a shared folder)")
    return FaultHook(tuple(once), tuple(always), marker_dir)
