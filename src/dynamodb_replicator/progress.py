"""A small progress-listener protocol, so library code reports progress without any UI.

Jobs call a :class:`ProgressListener`; the CLI adapts it to a terminal progress bar or to
periodic log lines, and the Lambda path uses :class:`NullProgress`.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NullProgress", "ProgressListener"]


class ProgressListener(Protocol):
    """Receives progress of named tasks (for example ``"scan primary"``)."""

    def start(self, task: str, total: int | None = None) -> None:
        """A task begins; ``total`` is its expected size when known."""

    def advance(self, task: str, amount: int = 1) -> None:
        """``amount`` more units of ``task`` are done."""

    def note(self, task: str, message: str) -> None:
        """A short status line for ``task`` (discrepancies so far, lag, ...)."""

    def finish(self, task: str) -> None:
        """The task is over, done in full. A job that stops early (a failure, Ctrl-C) does not
        call it, so a display keeps the task at its true count instead of drawing it complete."""


class NullProgress:
    """A listener that ignores everything."""

    def start(self, task: str, total: int | None = None) -> None:
        return None

    def advance(self, task: str, amount: int = 1) -> None:
        return None

    def note(self, task: str, message: str) -> None:
        return None

    def finish(self, task: str) -> None:
        return None
