"""Per-segment result files of array jobs, and merging them into one job's report.

This package sits above the jobs whose results it records (it imports ``diff`` and
``backup``; they never import it).

- :class:`SegmentResult`, :func:`write_result`, :func:`read_results` - ``DIR/segment-<N>.json``.
- :func:`merge_results` / :class:`MergedResults` - one job's results put together.
"""

from .files import (
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
from .merge import MergedResults, merge_results

__all__ = [
    "MergedResults",
    "SegmentResult",
    "decode_discrepancy",
    "decode_result",
    "diff_segment_result",
    "diff_stats",
    "encode_discrepancy",
    "encode_result",
    "merge_results",
    "read_results",
    "result_name",
    "write_result",
]
