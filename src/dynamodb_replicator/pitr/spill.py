"""Partitioning a base and its log records by key on local disk, so memory stays flat.

Base lines and log records are spread by a hash of the key's canonical identity over
``partitions`` gzip files each (in a temporary folder), written through small buffers whose
total is bounded (:data:`BUFFER_BYTES`), whatever the number of partitions. Lines are spilled
as they were read (a base item's line, a record's line as logged), never decoded and encoded
again: only a key's identity is computed, and a record's stream position and time put before
its line.

Then, partition by partition:

1. :meth:`Spill.resolve`: a partition's records are read back, de-duplicated by position
   (two different records under one position are damage), sorted into stream order and
   grouped by key; each key's state at T (the new image of the last record of its prefix
   within T, or a delete) is written to the partition's state file. On ``NEW_AND_OLD_IMAGES``
   logs each record is also checked to follow from the key's previous one (``missing-change``).
   Every problem of every partition is returned before anything is written.
2. :func:`merged_partition` (through :meth:`Spill.partitions_merged`, or in worker processes
   given :meth:`Spill.ready`'s folder): the partition's states are loaded (one line per key that
   changed) and its base lines streamed past them: a line whose key changed gives way to its
   state, the others are kept byte for byte, and keys new since the base follow.

Memory holds one partition's records (step 1) or one partition's changed keys (step 2); never
the base. The partition count comes from the size of the log (:func:`partition_count`).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import tempfile
import zlib
from collections.abc import Hashable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Final

import orjson

from ..changelog.format import ChangeRecord, decode_line, encode_line
from ..errors import BackupIntegrityError, ChangeLogError, ItemFormatError
from ..items import (
    Item,
    KeySchema,
    decode_item,
    encode_item,
    item_from_text,
    items_equal,
    key_identity,
)
from .core import apply_records
from .logscan import LogEntry, text_identity

__all__ = [
    "BUFFER_BYTES",
    "MAX_PARTITIONS",
    "PARTITION_BYTES",
    "Spill",
    "entries_in_order",
    "key_state",
    "merged_partition",
    "partition_count",
    "partition_of",
]

PARTITION_BYTES: Final = 8 * 1024 * 1024
"""Log bytes aimed at per partition: resolving a partition holds its records in memory."""
MAX_PARTITIONS: Final = 4096
"""Files are opened only to append a buffer, so the count is not bound by open-file limits."""
BUFFER_BYTES: Final = 8 * 1024 * 1024
"""Spill buffers in memory, all partitions together; each is compressed and appended to its
file as one gzip member when full."""
_READ_BYTES: Final = 1 << 20


def partition_count(input_bytes: int, per_partition: int = PARTITION_BYTES) -> int:
    """How many partitions for ``input_bytes`` of log records, at least 1."""
    wanted = -(-max(input_bytes, 0) // max(per_partition, 1))
    return max(1, min(MAX_PARTITIONS, wanted))


def _token(identity: Hashable) -> bytes:
    """A key identity as bytes without tab or newline (``repr`` escapes them): equal exactly
    when the identities are."""
    return repr(identity).encode("utf-8")


def _partition(token: bytes, partitions: int) -> int:
    digest = hashlib.blake2b(token, digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def partition_of(identity: Hashable, partitions: int) -> int:
    """The partition of a key identity: a stable hash (the same in every process and run)."""
    return _partition(_token(identity), partitions)


class _Files:
    """One gzip file per partition, appended to through buffers of bounded total size."""

    def __init__(self, root: Path, kind: str, count: int, budget: int):
        self._root = root
        self._kind = kind
        self._buffers = [bytearray() for _ in range(count)]
        self._limit = max(1, budget // max(count, 1))

    def path(self, n: int) -> Path:
        return _spill_path(self._root, self._kind, n)

    def add(self, n: int, data: bytes) -> None:
        buffer = self._buffers[n]
        buffer += data
        if len(buffer) >= self._limit:
            self._flush(n)

    def _flush(self, n: int) -> None:
        buffer = self._buffers[n]
        if buffer:
            with self.path(n).open("ab") as out:
                out.write(gzip.compress(bytes(buffer), compresslevel=1, mtime=0))
            buffer.clear()

    def lines(self, n: int) -> Iterator[bytes]:
        """The partition's lines, without their newlines, read in chunks (the file is a
        series of gzip members)."""
        self._flush(n)
        return _file_lines(self.path(n))

    def flush(self) -> None:
        """Append every partition's buffer to its file (before other processes read them)."""
        for n in range(len(self._buffers)):
            self._flush(n)

    def remove(self, n: int) -> None:
        self.path(n).unlink(missing_ok=True)


def _spill_path(root: Path, kind: str, n: int) -> Path:
    return root / f"{kind}-{n}.gz"


def _file_lines(path: Path) -> Iterator[bytes]:
    """The lines of a spill file (a series of gzip members), without their newlines; none
    when it does not exist."""
    if not path.exists():
        return
    inflater = zlib.decompressobj(31)
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_BYTES):
            data = [inflater.decompress(chunk)]
            while inflater.eof and inflater.unused_data:
                rest = inflater.unused_data
                inflater = zlib.decompressobj(31)
                data.append(inflater.decompress(rest))
            lines = (tail + b"".join(data)).split(b"\n")
            tail = lines.pop()
            yield from lines
    if tail or not inflater.eof:
        raise OSError(f"spill file {path} ends inside a line or a gzip member")


def merged_partition(root: str | Path, n: int) -> Iterator[bytes]:
    """Partition ``n``'s lines of the items present at the resolved time, read from the
    spill folder ``root`` (see :meth:`Spill.ready`; any process on this machine may read
    it): the partition's changed keys are loaded and its base lines streamed past them. Its
    files are removed once it is merged."""
    folder = Path(root)
    state_path = _spill_path(folder, "state", n)
    base_path = _spill_path(folder, "base", n)
    states: dict[bytes, bytes] = {}
    for raw in _file_lines(state_path):
        key_token, key_state = raw.split(b"\t", 1)
        states[key_token] = key_state
    applied: set[bytes] = set()
    for raw in _file_lines(base_path):
        token, line = raw.split(b"\t", 1)
        state = states.pop(token, None)
        if state is not None:
            applied.add(token)
            if state:
                yield state
        elif token not in applied:
            yield line
    for state in states.values():
        if state:
            yield state
    state_path.unlink(missing_ok=True)
    base_path.unlink(missing_ok=True)


class Spill:
    """Spill files for one roll-forward: add base lines and log records, :meth:`resolve`,
    then :meth:`partitions_merged` (or :meth:`merge`).

    A context manager: the temporary folder (under ``directory`` if given) is removed on exit.
    """

    def __init__(
        self,
        schema: KeySchema,
        partitions: int,
        directory: str | None = None,
        *,
        buffer_bytes: int = BUFFER_BYTES,
    ):
        self.schema = schema
        self.partitions = max(1, partitions)
        self._root = Path(tempfile.mkdtemp(prefix="pitr-spill-", dir=directory))
        budget = buffer_bytes // 2
        self._base = _Files(self._root, "base", self.partitions, budget)
        self._log = _Files(self._root, "log", self.partitions, budget)
        self._states = _Files(self._root, "state", self.partitions, budget)
        self._resolved_at: int | None = None
        self.items = 0
        self.records = 0

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
        """Remove the folder and everything in it."""
        shutil.rmtree(self._root, ignore_errors=True)

    # -- adding ------------------------------------------------------------------------------

    def _base_identity(self, line: bytes, validate: bool) -> Hashable:
        if not validate:
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                return text_identity(obj, self.schema)
        return key_identity(decode_item(line), self.schema)

    def add_line(self, line: bytes, *, validate: bool = False) -> None:
        """Spill one base item's line as it is. Only its key is decoded, unless ``validate``
        (a backup that no manifest vouches for): then the whole line. An undecodable line is
        an :class:`ItemFormatError`."""
        token = _token(self._base_identity(line, validate))
        self._base.add(_partition(token, self.partitions), token + b"\t" + line + b"\n")
        self.items += 1

    def add_item(self, item: Item) -> None:
        """Spill one base item from memory."""
        self.add_line(encode_item(item).encode("utf-8"))

    def add_entry(self, entry: LogEntry) -> None:
        """Spill one log record as logged, with its stream position and time."""
        token = _token(entry.identity)
        head = b"%d\t%d\t%d\t" % (entry.rank, entry.order, entry.seconds)
        self._log.add(_partition(token, self.partitions), head + token + b"\t" + entry.line + b"\n")
        self.records += 1

    def add_record(self, shard_rank: int, record: ChangeRecord) -> None:
        """Spill one log record from memory; ``shard_rank`` puts a parent shard before its
        children."""
        identity = key_identity(record.keys, self.schema)
        line = encode_line(record).encode("utf-8")
        self.add_entry(LogEntry(shard_rank, record.order, record.seconds, identity, line))

    # -- step 1: each key's state at T --------------------------------------------------------

    def resolve(self, to_time: int, *, check_changes: bool = False) -> list[str]:
        """Write every partition's key states at the end of second ``to_time``; the problems
        found (empty when the log's records are consistent). Holds one partition's records."""
        problems: list[str] = []
        for n in range(self.partitions):
            problems += self._resolve_partition(n, to_time, check_changes)
            self._log.remove(n)
        self._resolved_at = to_time
        return problems

    def _resolve_partition(self, n: int, to_time: int, check_changes: bool) -> list[str]:
        positioned = _Positioned()
        for raw in self._log.lines(n):
            rank, order, seconds, token, line = raw.split(b"\t", 4)
            positioned.add((int(rank), int(order)), int(seconds), token, line)
        problems = positioned.problems
        for token, records in positioned.by_key().items():
            state, found = key_state(records, to_time, check_changes=check_changes)
            problems += found
            if state is not None:
                self._states.add(n, token + b"\t" + state + b"\n")
        return problems

    # -- step 2: the merge --------------------------------------------------------------------

    def ready(self, to_time: int) -> Path:
        """The spill folder, every partition resolved at the end of second ``to_time`` and
        written out, for :func:`merged_partition` (in this process or a worker process).
        :meth:`resolve` first, or it is run here and any problem it finds raised as a
        :class:`ChangeLogError`."""
        if self._resolved_at != to_time:
            problems = self.resolve(to_time)
            if problems:
                raise ChangeLogError("; ".join(problems), hint="run verify-changes on the log")
        self._base.flush()
        self._states.flush()
        return self._root

    def partitions_merged(self, to_time: int) -> Iterator[Iterator[bytes]]:
        """Each partition's lines of the items present at the end of second ``to_time``, in
        partition order (consume one before asking for the next); a partition's files are
        removed once it is merged (see :meth:`ready`)."""
        root = self.ready(to_time)
        for n in range(self.partitions):
            yield merged_partition(root, n)

    def merge(self, to_time: int) -> Iterator[Item]:
        """Every item present at the end of second ``to_time``, decoded, one partition at a
        time."""
        for part in self.partitions_merged(to_time):
            for line in part:
                try:
                    yield decode_item(line)
                except ItemFormatError as exc:
                    raise BackupIntegrityError(exc.message, before_write=False) from exc


class _Positioned:
    """Records by stream position: duplicates dropped (two different records under one
    position are a problem), then grouped by key in stream order."""

    def __init__(self) -> None:
        self._kept: dict[tuple[int, int], tuple[int, bytes, bytes]] = {}
        self.problems: list[str] = []

    def add(self, position: tuple[int, int], seconds: int, token: bytes, line: bytes) -> None:
        held = self._kept.get(position)
        if held is None:
            self._kept[position] = (seconds, token, line)
        elif held[2] != line and decode_line(held[2]) != decode_line(line):
            self.problems.append(
                f"damaged sequence number {position[1]}: two different records hold it"
            )

    def by_key(self) -> dict[bytes, list[tuple[int, bytes]]]:
        """Each key's (seconds, line) in stream order; empties this."""
        grouped: dict[bytes, list[tuple[int, bytes]]] = {}
        for position in sorted(self._kept):
            seconds, token, line = self._kept.pop(position)
            grouped.setdefault(token, []).append((seconds, line))
        return grouped


def entries_in_order(entries: Iterable[LogEntry]) -> tuple[list[tuple[int, bytes]], list[str]]:
    """One key's log entries as (seconds, line) in stream order, duplicates dropped; and the
    problems found (two different records under one position)."""
    positioned = _Positioned()
    for entry in entries:
        positioned.add((entry.rank, entry.order), entry.seconds, b"", entry.line)
    records = positioned.by_key().get(b"", [])
    return records, positioned.problems


def key_state(
    records: list[tuple[int, bytes]], to_time: int, *, check_changes: bool = False
) -> tuple[bytes | None, list[str]]:
    """One key's state at the end of second ``to_time`` from its records (seconds, line) in
    stream order: the line of its item, empty when deleted, ``None`` when no record applies
    (the base's item stands); and the problems found (a record that does not decode, or, with
    ``check_changes``, one that does not follow from the previous)."""
    prefix: list[bytes] = []
    for seconds, line in records:
        if seconds > to_time:
            break
        prefix.append(line)
    if not prefix:
        return None, []
    try:
        problems = _missing_changes(prefix) if check_changes else []
        return _state(prefix[-1]), problems
    except (ChangeLogError, ItemFormatError) as exc:
        return None, [f"damaged record: {exc.message}"]


def _state(line: bytes) -> bytes:
    """A key's state after the record ``line``: the new image's line, or empty (deleted).
    The image is checked as wire format; it is written as logged, re-encoded only when the
    fast parser cannot read it."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and obj.get("eventName") in ("INSERT", "MODIFY", "REMOVE"):
        if obj["eventName"] == "REMOVE":
            return b""
        image = obj.get("newImage")
        if isinstance(image, dict):
            item_from_text(image)
            return orjson.dumps(image)
    state = apply_records(None, [decode_line(line)], 2**63)
    return b"" if state is None else encode_item(state).encode("utf-8")


def _missing_changes(lines: list[bytes]) -> list[str]:
    """``missing-change`` problems of one key's records (in stream order): each must follow
    from the previous one's new image (an INSERT from a delete)."""
    problems: list[str] = []
    previous: ChangeRecord | None = None
    for line in lines:
        record = decode_line(line)
        if previous is not None:
            image = previous.new_image if previous.event_name != "REMOVE" else None
            if record.event_name == "INSERT":
                missing = "a REMOVE" if image is not None else None
            elif image is None or record.old_image is None:
                missing = "a change"
            else:
                missing = None if items_equal(image, record.old_image) else "a change"
            if missing is not None:
                problems.append(
                    f"missing-change record {record.sequence_number} ({record.event_name}) "
                    f"does not follow from record {previous.sequence_number}: {missing} between "
                    "them is missing"
                )
        previous = record
    return problems
