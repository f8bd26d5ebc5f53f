"""diff-tables: prove a replica agrees with its primary, repair it, or backfill it.

Public API:

- :func:`run_diff` - both passes (or the backfill) over some or all segments, with repairs.
- :func:`verify_against` - pages of reference items (e.g. from a backup) against a live table.
- :class:`DiffOptions`, :class:`DiffResult`, :class:`DiffStats`, :class:`Discrepancy`,
  :class:`Kind`, :class:`Action`, :class:`RepairLimitError`.
- :func:`format_discrepancy`, :func:`summary_lines` - the report lines (no printing).
"""

from ..errors import RepairLimitError
from .job import check_options, check_sides, run_diff, verify_against
from .model import (
    Action,
    DiffOptions,
    DiffResult,
    DiffStats,
    Discrepancy,
    Kind,
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
    "RepairLimitError",
    "check_options",
    "check_sides",
    "format_discrepancy",
    "format_human",
    "format_jsonl",
    "run_diff",
    "summary_lines",
    "verify_against",
]
