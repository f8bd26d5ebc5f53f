"""Point-in-time: roll a scan backup forward with the change log to the end of any second.

``window`` holds the exactness rule, ``core`` the per-key roll-forward (both pure), ``logscan``
the check of the change log over a window (one object at a time), ``spill`` the disk
partitioning that keeps memory flat whatever the size of the base and the log; ``rollforward``,
``restore``, ``one_key`` and ``bases`` build the commands on them.
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
