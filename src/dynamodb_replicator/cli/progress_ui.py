"""The terminal side of :class:`~dynamodb_replicator.progress.ProgressListener`: rich bars.

Any command can use it: ``with progress_display(quiet) as listener: job(progress=listener)``.
Each task a job starts becomes one line with its count, rate and (when the job gave a total)
a bar and an ETA. The display is off (a :class:`NullProgress`) with ``--quiet`` or when stderr
is not a terminal, so logs and pipes stay clean.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..progress import NullProgress, ProgressListener

__all__ = ["RichProgress", "progress_display"]


class _CountColumn(ProgressColumn):
    """``done`` or ``done/total``."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        if task.total is None:
            return Text(f"{done:,}")
        return Text(f"{done:,}/{int(task.total):,}")


class _RateColumn(ProgressColumn):
    """Units per second over rich's sliding window."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s")


class RichProgress:
    """A :class:`ProgressListener` drawing one rich progress line per task (thread-safe)."""

    def __init__(self, console: Console):
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _CountColumn(),
            _RateColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def _task(self, task: str, total: int | None = None) -> TaskID:
        with self._lock:
            if task not in self._tasks:
                self._tasks[task] = self._progress.add_task(task, total=total)
            return self._tasks[task]

    def start(self, task: str, total: int | None = None) -> None:
        self._progress.update(self._task(task, total), total=total)

    def advance(self, task: str, amount: int = 1) -> None:
        task_id = self._task(task)
        self._progress.advance(task_id, amount)
        current = self._progress.tasks[task_id]
        if current.total is not None and current.completed > current.total:
            # the total was an estimate (DescribeTable's count lags): stretch it
            self._progress.update(task_id, total=current.completed)

    def note(self, task: str, message: str) -> None:
        self._progress.update(self._task(task), description=f"{task}: {message}")

    def finish(self, task: str) -> None:
        task_id = self._task(task)
        done = self._progress.tasks[task_id].completed
        self._progress.update(task_id, total=done, completed=done)


@contextmanager
def progress_display(quiet: bool, stream: IO[str] | None = None) -> Iterator[ProgressListener]:
    """A listener for the job: rich bars on a terminal, nothing when quiet or not a TTY."""
    out = stream if stream is not None else sys.stderr
    if quiet or not out.isatty():
        yield NullProgress()
        return
    with RichProgress(Console(file=out)) as listener:
        yield listener
