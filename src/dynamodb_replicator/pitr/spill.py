"""Partitioning a base and its log records by key on local disk, so memory stays flat.

Base items and log records are spread by a hash of the key's canonical identity over
``partitions`` pairs of gzip JSON Lines files in a temporary folder; then one partition at a
time is read back and rolled forward (:func:`~dynamodb_replicator.pitr.core.roll_forward_items`).
Only one partition's keys are ever in memory; the partition count comes from the input sizes.

Each record line is prefixed with its stream position (shard rank, sequence number), so records
can be spilled in any order (hour by hour, object by object): a partition is sorted back into
stream order and de-duplicated by position when it is merged.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import tempfile
from collections.abc import Hashable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Final

from ..changelog.format import ChangeRecord, decode_line, encode_line
from ..errors import ChangeLogError
from ..items import Item, KeySchema, decode_item, encode_item, key_identity
from .core import roll_forward_items

__all__ = ["PARTITION_BYTES", "Spill", "partition_count", "partition_of"]

PARTITION_BYTES: Final = 8 * 1024 * 1024
"""Uncompressed input bytes aimed at per partition; one merge holds them as Python objects
(several times larger), so this stays small."""
MAX_PARTITIONS: Final = 400
"""Two files are open per partition while spilling; this keeps under common file limits."""


def partition_count(input_bytes: int, per_partition: int = PARTITION_BYTES) -> int:
    """How many partitions for ``input_bytes`` of base and log (uncompressed), at least 1."""
    wanted = -(-max(input_bytes, 0) // max(per_partition, 1))
    return max(1, min(MAX_PARTITIONS, wanted))


def partition_of(identity: Hashable, partitions: int) -> int:
    """The partition of a key identity: a stable hash (the same in every process and run)."""
    digest = hashlib.blake2b(repr(identity).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


class Spill:
    """Spill files for one roll-forward: add base items and records, then :meth:`merge`.

    A context manager: the temporary folder (under ``directory`` if given) is removed on exit.
    """

    def __init__(self, schema: KeySchema, partitions: int, directory: str | None = None):
        self.schema = schema
        self.partitions = max(1, partitions)
        self._root = Path(tempfile.mkdtemp(prefix="pitr-spill-", dir=directory))
        self._base: list[IO[str]] = []
        self._log: list[IO[str]] = []
        for n in range(self.partitions):
            self._base.append(self._open(f"base-{n}.jsonl.gz", "wt"))
            self._log.append(self._open(f"log-{n}.jsonl.gz", "wt"))
        self.items = 0
        self.records = 0

    def _open(self, name: str, mode: str) -> IO[str]:
        return gzip.open(self._root / name, mode, compresslevel=1, encoding="utf-8")  # type: ignore[return-value]

    def __enter__(self) -> Spill:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every file and remove the folder."""
        self._close_writers()
        shutil.rmtree(self._root, ignore_errors=True)

    def _close_writers(self) -> None:
        for handle in self._base + self._log:
            handle.close()

    def _partition(self, keys: Item) -> int:
        return partition_of(key_identity(keys, self.schema), self.partitions)

    def add_item(self, item: Item) -> None:
        """Spill one base item."""
        self._base[self._partition(item)].write(encode_item(item) + "\n")
        self.items += 1

    def add_record(self, shard_rank: int, record: ChangeRecord) -> None:
        """Spill one log record; ``shard_rank`` puts a parent shard before its children."""
        line = f"{shard_rank}\t{record.sequence_number}\t{encode_line(record)}\n"
        self._log[self._partition(record.keys)].write(line)
        self.records += 1

    def _base_of(self, n: int) -> Iterator[Item]:
        with self._open(f"base-{n}.jsonl.gz", "rt") as handle:
            for line in handle:
                yield decode_item(line)

    def _records_of(self, n: int) -> list[ChangeRecord]:
        kept: dict[tuple[int, int], ChangeRecord] = {}
        with self._open(f"log-{n}.jsonl.gz", "rt") as handle:
            for line in handle:
                rank, sequence, text = line.split("\t", 2)
                record = decode_line(text)
                position = (int(rank), int(sequence))
                held = kept.setdefault(position, record)
                if held != record:
                    raise ChangeLogError(
                        f"two different records under sequence number {sequence}",
                        hint="run verify-changes on the log",
                    )
        return [kept[position] for position in sorted(kept)]

    def merge(self, to_time: int) -> Iterator[Item]:
        """Every item present at the end of second ``to_time``, one partition at a time."""
        for part in self.partitions_merged(to_time):
            yield from part

    def partitions_merged(self, to_time: int) -> Iterator[list[Item]]:
        """Each partition's items present at the end of second ``to_time``, in partition order
        (one list in memory at a time); a partition's files are removed once it is merged."""
        self._close_writers()
        for n in range(self.partitions):
            records = self._records_of(n)
            yield list(roll_forward_items(self._base_of(n), records, self.schema, to_time))
            (self._root / f"base-{n}.jsonl.gz").unlink()
            (self._root / f"log-{n}.jsonl.gz").unlink()
