"""``restore-table --changes LOG --to-time T``: a restore of the table as it was at T.

The base is rolled forward into a local temporary backup (every refusal happens there, before
the table is touched; its partitions are merged by ``request.workers`` worker processes), which is then restored like any backup: the same checks, workers and
progress. The temporary backup is removed afterwards.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from ..backup.extraneous import ExtraAction
from ..backup.jobs import RestoreRequest, RestoreSummary, run_restore
from ..backup.layout import Location
from ..backup.storage import Storage, StorageSpec
from ..items import Key
from ..progress import ProgressListener
from ..segments import LOCAL, Engine
from .rollforward import RollForward, roll_forward_backup
from .window import DEFAULT_MARGIN, ScanWindow

__all__ = ["PointInTimeRestore", "restore_to_time"]


@dataclass(frozen=True)
class PointInTimeRestore:
    """The roll-forward that was restored, and the restore (``None`` for a dry run)."""

    rolled: RollForward
    restore: RestoreSummary | None


def restore_to_time(
    request: RestoreRequest,
    changes: Storage,
    to_time: int,
    *,
    margin: int = DEFAULT_MARGIN,
    dry_run: bool = False,
    progress: ProgressListener | None = None,
    engine: Engine = LOCAL,
    on_extraneous: Callable[[Key, ExtraAction], None] | None = None,
    assumed: ScanWindow | None = None,
) -> PointInTimeRestore:
    """Restore ``request.source`` rolled forward with ``changes`` to the end of second
    ``to_time`` into ``request.table``; with ``dry_run`` only roll forward and check.
    ``assumed``: the scan window of a base that records none (a backup of the original
    tool)."""
    with tempfile.TemporaryDirectory(prefix="pitr-") as work:
        staged = StorageSpec(Location("folder", f"{work}/backup"))
        rolled = roll_forward_backup(
            request.source,
            changes,
            to_time,
            staged,
            margin=margin,
            spill_dir=work,
            assumed=assumed,
            workers=request.workers,
        )
        if dry_run:
            return PointInTimeRestore(rolled, None)
        summary = run_restore(
            dataclasses.replace(request, source=staged),
            progress=progress,
            engine=engine,
            on_extraneous=on_extraneous,
        )
        return PointInTimeRestore(rolled, summary)
