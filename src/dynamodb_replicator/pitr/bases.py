"""Choosing a base backup under a prefix: the newest whose scan ended at least the margin
before T (``--latest-backup``, and the suggestion when a base is too recent)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..backup.reader import open_source
from ..backup.storage import StorageSpec
from ..changelog.store import subfolders
from ..errors import NotExactError, ReplicatorError
from .window import ScanWindow, scan_window

__all__ = ["Candidate", "latest_base", "serving_base"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A backup job under a prefix and its scan window."""

    spec: StorageSpec
    window: ScanWindow


def _candidates(prefix: StorageSpec) -> list[Candidate]:
    found: list[Candidate] = []
    for name in subfolders(prefix.open()):
        spec = prefix.at(prefix.location.child(name))
        try:
            source = open_source(spec)
            manifests = [s.manifest for s in source.segments if s.manifest is not None]
            if source.problems or source.kind != "ours" or len(manifests) != len(source.segments):
                continue
            found.append(Candidate(spec, scan_window(manifests)))
        except ReplicatorError as exc:
            log.debug("%s is not a usable base: %s", spec.location.url(), exc)
    return found


def latest_base(prefix: StorageSpec, to_time: int, margin: int) -> Candidate | None:
    """The intact backup job under ``prefix`` with the latest scan end E such that
    E + ``margin`` <= ``to_time``; ``None`` when there is none."""
    serving = [c for c in _candidates(prefix) if c.window.end + margin <= to_time]
    return max(serving, key=lambda c: (c.window.end, c.spec.location.url()), default=None)


def serving_base(base: StorageSpec, to_time: int, margin: int) -> str | None:
    """For a base too recent for ``to_time``: the URL of a job beside it that would serve."""
    parent, _name = base.location.parent_and_name()
    try:
        found = latest_base(base.at(parent), to_time, margin)
    except ReplicatorError:
        return None
    return None if found is None else found.spec.location.url()


def require_latest(prefix: StorageSpec, to_time: int, margin: int) -> StorageSpec:
    """``--latest-backup``: the base to use, or a :class:`NotExactError` saying none serves."""
    found = latest_base(prefix, to_time, margin)
    if found is None:
        raise NotExactError(
            f"no intact backup under {prefix.location.url()} finished its scan at least "
            f"{margin} s before the time asked for",
            hint="restore to a later time, or name a prefix holding older backups",
        )
    return found.spec
