"""``--results-dir``: how every command records its segment's result, the one way.

::

    with recording(results_dir, failed) as record:
        summary = run_the_job(...)
        record(the_result_of(summary))

Without ``--results-dir`` nothing is written. A job that fails with a project error leaves a
result saying so (merge-results then exits 3 naming the segment); if even that cannot be written,
a warning says so and the job's own error is what the command reports. A segment that finished
but whose result cannot be written fails (exit 3): the array job shows which process to re-run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from ..backup import StorageSpec
from ..errors import ReplicatorError
from ..results import SegmentResult, write_result

__all__ = ["recording"]

#: Builds a failed segment's result from the error's message (``None``: none can be made).
Failed = Callable[[str], SegmentResult | None]


def _write_failure(directory: StorageSpec, result: SegmentResult | None) -> None:
    if result is None:
        return
    try:
        write_result(directory, result)
    except ReplicatorError as exc:
        click.echo(f"warning: segment result not written: {exc.message}", err=True)


@contextmanager
def recording(
    directory: StorageSpec | None, failed: Failed
) -> Iterator[Callable[[SegmentResult], None]]:
    """Run a segment's job inside; the function it gives records the finished result."""
    recorded = False

    def record(result: SegmentResult) -> None:
        nonlocal recorded
        recorded = True
        if directory is not None:
            write_result(directory, result)

    try:
        yield record
    except ReplicatorError as exc:
        if directory is not None and not recorded:
            _write_failure(directory, failed(exc.message))
        raise
