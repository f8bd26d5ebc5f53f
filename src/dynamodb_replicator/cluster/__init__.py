"""Scale-out: a job's segments on a Dask cluster, or as array jobs whose results merge.

- :class:`Engine` / :class:`LocalEngine` - where segments run; the Dask engine lives in
  :mod:`.dask_engine` and is imported only when asked (``distributed`` is an optional extra).
- :func:`segment_from_environ` - ``--segment auto`` from an array job's index variable.
- :class:`SegmentResult`, :func:`write_result`, :func:`read_results` - ``DIR/segment-<N>.json``.
- :func:`merge_results` / :class:`MergedResults` - one job's results put together.
- :func:`hook_from_environ` / :class:`FaultHook` - deterministic faults for retry tests.
"""

from .arrayjob import AUTO, INDEX_VARIABLES, segment_from_environ
from .engine import Engine, LocalEngine, check_no_secrets, find_secrets
from .faults import FAULTS_DIR_ENV, FAULTS_ENV, FaultHook, InjectedFault, hook_from_environ
from .merge import MergedResults, merge_results
from .results import (
    SegmentResult,
    decode_discrepancy,
    decode_result,
    diff_segment_result,
    diff_stats,
    encode_discrepancy,
    encode_result,
    read_results,
    result_name,
    write_result,
)

__all__ = [
    "AUTO",
    "FAULTS_DIR_ENV",
    "FAULTS_ENV",
    "INDEX_VARIABLES",
    "Engine",
    "FaultHook",
    "InjectedFault",
    "LocalEngine",
    "MergedResults",
    "SegmentResult",
    "check_no_secrets",
    "decode_discrepancy",
    "decode_result",
    "diff_segment_result",
    "diff_stats",
    "encode_discrepancy",
    "encode_result",
    "find_secrets",
    "hook_from_environ",
    "merge_results",
    "read_results",
    "result_name",
    "segment_from_environ",
    "write_result",
]
