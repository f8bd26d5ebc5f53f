"""Durable file replacement, shared by checkpoints and local-folder backups."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["replace_durably"]


def replace_durably(temp: str | Path, path: str | Path) -> None:
    """Rename ``temp`` (already written and fsynced) over ``path``, then fsync the folder.

    Without the folder's fsync a power loss can forget the rename, leaving the old file.
    """
    os.replace(temp, path)
    folder = os.open(Path(path).parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
