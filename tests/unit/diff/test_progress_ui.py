"""The rich progress adapter: off when not a TTY or quiet; counts tasks on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from dynamodb_replicator.cli.progress_ui import RichProgress, progress_display
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
