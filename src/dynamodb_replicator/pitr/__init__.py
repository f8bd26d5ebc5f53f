"""Point-in-time: roll a scan backup forward with the change log to the end of any second.

``window`` holds the exactness rule, ``core`` the per-key roll-forward (both pure), ``spill``
the disk partitioning that keeps memory flat whatever the size of the base and the log.
"""

from __future__ import annotations

from .core import apply_records, roll_forward_items
from .window import (
    DEFAULT_MARGIN,
    Exactness,
    ScanWindow,
    assumed_window,
    check_exact,
    scan_window,
)

__all__ = [
    "DEFAULT_MARGIN",
    "Exactness",
    "ScanWindow",
    "apply_records",
    "assumed_window",
    "check_exact",
    "roll_forward_items",
    "scan_window",
]
