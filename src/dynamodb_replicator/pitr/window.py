"""The exactness rule of a point-in-time result (pure).

A base backup's scan ran between client clock times S (earliest segment start) and E (latest
segment finish), job-wide: every segment's manifest records the start and finish of the run
that wrote its data, so a ``--resume`` run counts with the times of the segments it redid.
The state at T (the end of second T, UTC) is exact when the log is complete over [S - m, T] and
E + m <= T. The margin m covers clock skew between this machine and DynamoDB, the one-second
floor of stream times and, for eventually consistent scans, replication lag.

S is rounded down and E up to whole seconds, so the rule never grows more lenient by rounding.
A backup of the original tool records no scan times: it serves as a base only with a window
the operator states (``--assume-window S E``, :func:`assumed_window`), rounded the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ..backup.layout import Manifest
from ..changelog.times import format_instant
from ..errors import BackupError, NotExactError, UsageError

__all__ = [
    "DEFAULT_MARGIN",
    "Exactness",
    "ScanWindow",
    "assumed_window",
    "check_exact",
    "scan_window",
]

DEFAULT_MARGIN: Final = 5
"""Seconds of margin m when none is given (``--margin``)."""


@dataclass(frozen=True)
class ScanWindow:
    """The scan window of one base backup, in whole epoch seconds: ``start`` = floor(S),
    ``end`` = ceil(E)."""

    start: int
    end: int
    assumed: bool = False
    """Stated by the operator (``--assume-window``), not read from the base's manifests."""


@dataclass(frozen=True)
class Exactness:
    """What a point-in-time result at ``to_time`` needs: the log complete over
    [``log_from``, ``to_time``]; recorded in the output with the margin used."""

    window: ScanWindow
    to_time: int
    margin: int
    log_from: int
    earliest: int
    """The first T this base serves exactly: E + m."""


def _instant(text: str, what: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BackupError(f"{what} is not an ISO 8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        raise BackupError(f"{what} has no time zone: {text!r}")
    return moment


def _epoch(moment: dt.datetime) -> tuple[int, int]:
    """(floor, ceil) of ``moment`` in epoch seconds, exactly (integer microseconds)."""
    micros = (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    return micros // 1_000_000, -(-micros // 1_000_000)


def scan_window(manifests: Iterable[Manifest]) -> ScanWindow:
    """The job-wide scan window of a backup from its segments' manifests.

    Raises :class:`BackupError` when there is no manifest (a backup of the original tool
    records no scan times: it can serve as a base only with an assumed window).
    """
    starts: list[int] = []
    ends: list[int] = []
    for manifest in manifests:
        where = f"segment {manifest.segment}'s manifest"
        starts.append(_epoch(_instant(manifest.started_at, f"{where} started_at"))[0])
        ends.append(_epoch(_instant(manifest.finished_at, f"{where} finished_at"))[1])
    if not starts:
        raise BackupError(
            "the backup has no manifests, so its scan window is not known",
            hint="give the window the scan ran in with --assume-window S E",
        )
    return ScanWindow(start=min(starts), end=max(ends))


def _given(text: str, what: str) -> tuple[int, int]:
    """(floor, ceil) in epoch seconds of a time given as epoch seconds or ISO 8601 with a zone."""
    value = text.strip()
    try:
        if value.isascii() and value.isdigit():
            return int(value), int(value)
        return _epoch(_instant(value, what))
    except BackupError as exc:
        raise UsageError(
            f"--assume-window: {exc.message}",
            hint="give S and E as ISO 8601 with a zone (2026-05-01T14:04:59Z) or epoch seconds",
        ) from exc


def assumed_window(start: str, end: str) -> ScanWindow:
    """The scan window an operator states for a base that records none (``--assume-window S
    E``): S rounded down, E up. A :class:`UsageError` when a time is malformed or E < S."""
    low = _given(start, "S")[0]
    high = _given(end, "E")[1]
    if high < low:
        raise UsageError(
            f"--assume-window: E ({end}) is before S ({start})",
            hint="give the time the base's scan started, then the time it finished",
        )
    return ScanWindow(start=low, end=high, assumed=True)


def check_exact(window: ScanWindow, to_time: int, margin: int = DEFAULT_MARGIN) -> Exactness:
    """The exactness requirements for ``to_time``; :class:`NotExactError` when T < E + m."""
    if margin < 0:
        raise NotExactError(f"margin {margin} is negative", hint="give --margin 0 or more")
    earliest = window.end + margin
    if to_time < earliest:
        raise NotExactError(
            f"{format_instant(to_time)} is before this base backup's scan finished plus the "
            f"margin ({format_instant(window.end)} + {margin} s = {format_instant(earliest)})",
            hint="restore to a later time, or use an older base backup whose scan ended at "
            "least the margin before it",
        )
    return Exactness(
        window=window,
        to_time=to_time,
        margin=margin,
        log_from=window.start - margin,
        earliest=earliest,
    )
