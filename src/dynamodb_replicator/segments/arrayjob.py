"""``--segment auto``: the segment number of an array job, from the scheduler's environment.

AWS Batch array jobs set ``AWS_BATCH_JOB_ARRAY_INDEX``; Kubernetes indexed Jobs set
``JOB_COMPLETION_INDEX``. Nothing reads them unless a command is given ``--segment auto``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..errors import UsageError

__all__ = ["AUTO", "INDEX_VARIABLES", "segment_from_environ"]

AUTO: Final = "auto"
INDEX_VARIABLES: Final = ("AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX")


def segment_from_environ(environ: Mapping[str, str]) -> int:
    """The array index as a segment number; a :class:`UsageError` when none is set or bad."""
    for name in INDEX_VARIABLES:
        text = environ.get(name)
        if text is None or not text.strip():
            continue
        value = text.strip()
        if not value.isdigit():
            raise UsageError(
                f"--segment auto: {name}={text!r} is not a segment number",
                hint="the array index must be a whole number 0..M-1",
            )
        return int(value)
    raise UsageError(
        f"--segment auto needs {' or '.join(INDEX_VARIABLES)} (neither is set)",
        hint="run it as an AWS Batch array job or a Kubernetes indexed Job, "
        "or give the segment number",
    )
