"""Verify-while-spooling: a segment's items reach a table only after its object is proven.

Restore reads each data object once from storage into an anonymous temporary file, hashing,
gunzipping and counting its lines on the way (no line is decoded yet). Only when the object's
size, SHA-256, item count and uncompressed size all match its manifest are its items read back
from the spool and written. A damaged object therefore writes nothing.

Why a spool rather than verify-then-stream: the object is downloaded once (a second read of a
large S3 object costs as much time and money as the first), and the spool holds the object
*compressed*, so it needs no more disk than the object's size, which the manifest states before
anything is read; reading stops as soon as the object grows past it. Memory stays at one read
chunk. The temporary folder is ``TMPDIR`` (or the system's); :func:`spool_space_needed` lets a
job check it has room before its first write.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO

from ..errors import BackupIntegrityError, ConfigError
from ..items import Item
from .reader import SegmentSource, count_lines, items_from_chunks
from .storage import READ_CHUNK, Storage

__all__ = ["check_spool_space", "proven_items", "spool_space_needed"]

log = logging.getLogger(__name__)


def _bounded(chunks: Iterable[bytes], limit: int, source: SegmentSource) -> Iterator[bytes]:
    """``chunks`` unchanged, but stop with damage once they exceed ``limit`` bytes."""
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise BackupIntegrityError(
                f"segment {source.segment}: object is larger than the {limit} bytes its "
                "manifest says (replaced or appended to)",
                before_write=True,
                hint="the backup is damaged: restore another backup, or re-run backup-table",
            )
        yield chunk


def _tee(chunks: Iterable[bytes], sink: BinaryIO) -> Iterator[bytes]:
    for chunk in chunks:
        sink.write(chunk)
        yield chunk


def _file_chunks(spool: BinaryIO) -> Iterator[bytes]:
    spool.seek(0)
    while chunk := spool.read(READ_CHUNK):
        yield chunk


@contextmanager
def proven_items(
    storage: Storage, source: SegmentSource, *, spool_dir: str | None = None
) -> Iterator[Iterator[Item]]:
    """The items of ``source``, available only once its object is proven against its manifest.

    Raises :class:`BackupIntegrityError` (``before_write=True``: nothing of the segment has
    been handed out) when the object is damaged. An object without a manifest (the original
    tool's backups) cannot be proven: its items stream straight from storage, checked only
    line by line, as before.
    """
    manifest = source.manifest
    if manifest is None:
        log.warning(
            "segment %d has no manifest: its items are written as they are read, without a "
            "checksum proven first",
            source.segment,
        )
        yield items_from_chunks(storage.read(source.name), source)
        return
    with tempfile.TemporaryFile(prefix="restore-spool-", dir=spool_dir) as spool:
        chunks = _bounded(storage.read(source.name), manifest.compressed_bytes, source)
        count_lines(_tee(chunks, spool), source, before_write=True)
        spool.flush()
        log.debug("segment %d proven: %d items", source.segment, manifest.item_count)
        yield items_from_chunks(_file_chunks(spool), source)


def spool_space_needed(segments: Sequence[SegmentSource], workers: int) -> int:
    """Bytes of temporary space a restore of ``segments`` needs with ``workers`` at once: the
    ``workers`` largest objects (each running segment spools one object)."""
    sizes = sorted((s.manifest.compressed_bytes for s in segments if s.manifest), reverse=True)
    return sum(sizes[: max(workers, 1)])


def check_spool_space(needed: int, spool_dir: str | None = None) -> None:
    """A :class:`ConfigError` (exit 2, before any write) when the temporary folder lacks
    ``needed`` bytes."""
    folder = spool_dir or tempfile.gettempdir()
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise ConfigError(
            f"restore spools each segment to {folder} before writing it and needs "
            f"{needed:,} bytes there; {free:,} are free",
            hint="set TMPDIR to a folder with room, or restore fewer segments at once "
            "(--workers, --segment)",
        )
