"""Where a job's segments run: one request, one engine protocol, the local pool by default.

- :class:`SegmentRun` / :class:`Engine` - what a job asks for, and what runs it.
- :class:`LocalEngine` - the bounded pool in this process (threads or worker processes that
  die with it; Ctrl-C stops them); every job's default.
- :class:`~.dask.DaskEngine` (in :mod:`.dask`) - one task per segment on a Dask cluster;
  ``distributed`` is an optional extra, imported only when a cluster job runs.
- :class:`SegmentContext` - what a segment function gets: cancel flag, progress, fault hook.
- :func:`share_for` - the fraction of a job's rate budget each worker enforces.
- :func:`segment_from_environ` - ``--segment auto`` from an array job's index variable.
"""

from .arrayjob import AUTO, INDEX_VARIABLES, segment_from_environ
from .context import Fault, SegmentContext
from .engine import Engine, SegmentRun, check_no_secrets, find_secrets
from .pool import GRACE_SECONDS, LOCAL, LocalEngine
from .share import share_for

__all__ = [
    "AUTO",
    "GRACE_SECONDS",
    "INDEX_VARIABLES",
    "LOCAL",
    "Engine",
    "Fault",
    "LocalEngine",
    "SegmentContext",
    "SegmentRun",
    "check_no_secrets",
    "find_secrets",
    "segment_from_environ",
    "share_for",
]
