"""Rich bars, the terminal side of :class:`~dynamodb_replicator.progress.ProgressListener`.

Each task a job starts becomes one line with a spinner, its count, the pages (progress reports)
received so far, rate, elapsed time and (when the job gave a total) a bar and an ETA. The
spinner and the elapsed time move while a page is in flight, so a slow page never looks hung.
A task is drawn complete only when the job says it finished (``finish``); a job that stops
early leaves its bars at their true counts. Commands reach it through
:func:`~dynamodb_replicator.cli.progress_ui.progress_display`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["RichProgress"]


class _CountColumn(ProgressColumn):
    """``done`` or ``done/total``, and the pages received so far."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        count = f"{done:,}" if task.total is None else f"{done:,}/{int(task.total):,}"
        pages = int(task.fields.get("pages", 0))
        return Text(f"{count} ({pages:,} page{'' if pages == 1 else 's'})")


class _RateColumn(ProgressColumn):
    """Units per second over rich's sliding window."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s")


class RichProgress:
    """A :class:`ProgressListener` drawing one rich progress line per task (thread-safe)."""

    def __init__(self, console: Console, *, get_time: Callable[[], float] | None = None):
        self._progress = Progress(
            SpinnerColumn(finished_text="done"),
            TextColumn("{task.description}"),
            BarColumn(),
            _CountColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            get_time=get_time,
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
                self._tasks[task] = self._progress.add_task(task, total=total, pages=0)
            return self._tasks[task]

    def start(self, task: str, total: int | None = None) -> None:
        self._progress.update(self._task(task, total), total=total)

    def advance(self, task: str, amount: int = 1) -> None:
        task_id = self._task(task)
        with self._lock:
            current = self._progress.tasks[task_id]
            done = current.completed + amount
            pages = int(current.fields.get("pages", 0)) + 1
            if current.total is not None and done >= current.total:
                # the total was an estimate (DescribeTable's count lags) that proved no upper
                # bound: drop it, so only finish() ever draws the task complete (rich's
                # update() cannot unset a total; its Task is a plain dataclass)
                current.total = None
            self._progress.update(task_id, advance=amount, pages=pages)

    def task(self, task: str) -> Task:
        """The rich task drawn for ``task`` (for tests)."""
        return self._progress.tasks[self._task(task)]

    def note(self, task: str, message: str) -> None:
        self._progress.update(self._task(task), description=f"{task}: {message}")

    def finish(self, task: str) -> None:
        """The job finished the task: draw it complete at its true count."""
        task_id = self._task(task)
        done = self._progress.tasks[task_id].completed
        self._progress.update(task_id, total=done, completed=done)
