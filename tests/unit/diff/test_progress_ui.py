"""The rich progress adapter: off when not a TTY or quiet; counts tasks on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from dynamodb_replicator.cli.progress_bars import RichProgress
from dynamodb_replicator.cli.progress_ui import progress_display
from dynamodb_replicator.progress import NullProgress


def test_off_when_not_a_tty_or_quiet() -> None:
    with progress_display(False, io.StringIO()) as listener:
        assert isinstance(listener, NullProgress)
    with progress_display(True) as listener:
        assert isinstance(listener, NullProgress)


def test_counts_and_stretches_an_estimated_total() -> None:
    out = io.StringIO()
    with RichProgress(Console(file=out, force_terminal=True, width=100)) as ui:
        ui.start("scan primary", 10)
        ui.advance("scan primary", 12)
        ui.note("scan primary", "3 found")
        ui.advance("discrepancies", 2)  # a task never started still counts
        ui.finish("scan primary")
    text = out.getvalue()
    assert "scan primary: 3 found" in text
    assert "12/12" in text


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ui(clock: FakeClock) -> RichProgress:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    return RichProgress(console, get_time=clock)


def _line(ui: RichProgress, task: str) -> str:
    """The task's line as rich would draw it now."""
    columns = ui._progress.columns
    current = ui.task(task)
    cells = [column(current) for column in columns]  # type: ignore[operator]
    return " ".join(getattr(cell, "plain", "") for cell in cells)


def test_a_slow_page_still_shows_movement_and_the_page_count() -> None:
    clock = FakeClock()
    ui = _ui(clock)
    ui.start("scan primary", 20_000)
    ui.advance("scan primary", 1_000)
    first = _line(ui, "scan primary")
    clock.now += 3  # the next page is in flight for 3 s
    later = _line(ui, "scan primary")
    assert "1,000/20,000 (1 page)" in first
    assert "0:00:00" in first
    assert "0:00:03" in later
    ui.advance("scan primary", 1_000)
    assert "2,000/20,000 (2 pages)" in _line(ui, "scan primary")


def test_a_task_stopped_early_is_never_drawn_complete() -> None:
    clock = FakeClock()
    ui = _ui(clock)
    ui.start("scan primary", 20_000)
    ui.advance("scan primary", 8_705)
    # the job stopped (interrupt or failure): it does not call finish
    task = ui.task("scan primary")
    assert (task.completed, task.total, task.finished) == (8_705, 20_000, False)
    assert "8,705/20,000" in _line(ui, "scan primary")


def test_an_estimate_that_proves_low_is_dropped_not_drawn_as_done() -> None:
    clock = FakeClock()
    ui = _ui(clock)
    ui.start("scan primary", 8_705)  # DescribeTable's count lags
    ui.advance("scan primary", 8_705)
    ui.advance("scan primary", 500)
    task = ui.task("scan primary")
    assert not task.finished
    assert task.total is None
    assert task.completed == 9_205
    ui.finish("scan primary")
    task = ui.task("scan primary")
    assert task.finished
    assert task.total == task.completed == 9_205
