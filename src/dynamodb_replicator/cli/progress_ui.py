"""Progress for any command: ``with progress_display(quiet) as listener: job(progress=listener)``.

Rich bars on a terminal (:mod:`.progress_bars`); nothing (a :class:`NullProgress`) with
``--quiet`` or when stderr is not a terminal, so logs and pipes stay clean.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from ..progress import NullProgress, ProgressListener

__all__ = ["progress_display"]


@contextmanager
def progress_display(quiet: bool, stream: IO[str] | None = None) -> Iterator[ProgressListener]:
    """A listener for the job: rich bars on a terminal, nothing when quiet or not a TTY."""
    out = stream if stream is not None else sys.stderr
    if quiet or not out.isatty():
        yield NullProgress()
        return
    # Imported here: rich is a fifth of a command's start-up, and quiet or piped runs never
    # draw a bar.
    from rich.console import Console

    from .progress_bars import RichProgress

    with RichProgress(Console(file=out)) as listener:
        yield listener
