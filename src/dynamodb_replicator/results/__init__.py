"""Per-segment result files of array jobs, and merging them into one job's report.

This package sits above the jobs whose results it records (it imports ``diff`` and
``backup``; they never import it).

- :class:`SegmentResult`, :func:`write_result`, :func:`read_results` - ``DIR/segment-<N>.json``;
  each command's result from its summary (``diff_segment_result``, ``backup_segment_result``,
  ``restore_segment_result``) or from its failure (``failed_segment_result``).
- :func:`merge_results` / :class:`MergedResults` - one job's results put together.
"""

from .files import (
    SegmentResult,
    backup_segment_result,
    decode_discrepancy,
    decode_result,
    diff_segment_result,
    diff_stats,
    encode_discrepancy,
    encode_result,
    failed_segment_result,
    read_results,
    restore_failed_result,
    restore_segment_result,
    result_name,
    write_result,
)
from .merge import MergedResults, merge_results

__all__ = [
    "MergedResults",
    "SegmentResult",
    "backup_segment_result",
    "decode_discrepancy",
    "decode_result",
    "diff_segment_result",
    "diff_stats",
    "encode_discrepancy",
    "encode_result",
    "failed_segment_result",
    "merge_results",
    "read_results",
    "restore_failed_result",
    "restore_segment_result",
    "result_name",
    "write_result",
]
