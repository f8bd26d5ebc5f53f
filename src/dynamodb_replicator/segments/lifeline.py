"""Worker processes that die with their parent: a parent-death signal, or a lifeline pipe."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from contextlib import suppress
from typing import Any

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _exit_now() -> None:
    """Leave at once: no cleanup, no buffered output, nothing more sent anywhere."""
    os._exit(1)


def _set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(lifeline: Any) -> None:
    """Exit at once when ``lifeline`` (the read end of a pipe only the parent writes) closes:
    the parent is gone. Runs on a daemon thread where no parent-death signal exists."""
    with suppress(EOFError, OSError):
        lifeline.recv()
    _exit_now()


def die_with_parent(parent_pid: int, lifeline: Any = None) -> None:
    """Make this worker process stop within moments of losing ``parent_pid``, writing nothing.

    On Linux a parent-death signal (SIGKILL) does it; the check after it closes the race of a
    parent that died before the signal was set. Elsewhere a watchdog thread waits on the
    ``lifeline`` pipe, whose write end only the parent holds.
    """
    if _set_parent_death_signal() or lifeline is None:
        if os.getppid() != parent_pid:
            _exit_now()
        return
    threading.Thread(target=_watch_parent, args=(lifeline,), daemon=True, name="lifeline").start()
