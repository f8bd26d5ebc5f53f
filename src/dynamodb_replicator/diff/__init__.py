"""diff-tables: prove a replica agrees with its primary, repair it, or backfill it.

Public API:

- :func:`run_diff` - both passes (or the backfill) over some or all segments, with repairs.
- :func:`verify_against` - pages of reference items (e.g. from a backup) against a live table.
- :func:`compare_record`, :func:`copy_record` - one item on both sides (diff-record,
  replicate-record).
- :class:`DiffOptions`, :class:`DiffResult`, :class:`DiffStats`, :class:`Discrepancy`,
  :class:`Kind`, :class:`Action`, :class:`RepairLimitError`.
- :func:`format_discrepancy`, :func:`summary_lines` - the report lines (no printing).
"""

from ..errors import RepairLimitError
from .job import check_options, run_diff, verify_against
from .model import (
    Action,
    DiffOptions,
    DiffResult,
    DiffStats,
    Discrepancy,
    Kind,
)
from .record import (
    RecordComparison,
    RecordCopy,
    compare_record,
    copy_record,
)
from .report import FORMATS, format_discrepancy, format_human, format_jsonl, summary_lines

__all__ = [
    "FORMATS",
    "Action",
    "DiffOptions",
    "DiffResult",
    "DiffStats",
    "Discrepancy",
    "Kind",
    "RecordComparison",
    "RecordCopy",
    "RepairLimitError",
    "check_options",
    "compare_record",
    "copy_record",
    "format_discrepancy",
    "format_human",
    "format_jsonl",
    "run_diff",
    "summary_lines",
    "verify_against",
]
