"""The change log check before a roll-forward, on logs written into a real local folder: a gap,
a missing or damaged object or a shard not read past T inside the window refuses; outside the
window (by the records' times, even in an hour the window touches) they do not matter."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.backup.storage import FolderStorage
from dynamodb_replicator.changelog.format import ChangeRecord
from dynamodb_replicator.changelog.layout import GapMarker, Heartbeat, LogDescriptor, log_location
from dynamodb_replicator.changelog.writer import ChangeLogWriter, ShardPosition
from dynamodb_replicator.errors import NotExactError
from dynamodb_replicator.items import KeySchema
from dynamodb_replicator.pitr.logscan import LogEntry
from dynamodb_replicator.pitr.rollforward import check_log

H = 1767322800  # 2026-01-02T03:00:00Z, an hour boundary
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/L1"
SCHEMA = KeySchema("pk", "S")


def _rec(seq: int, seconds: int) -> ChangeRecord:
    image = {"pk": {"S": f"k{seq}"}, "v": {"N": str(seq)}}
    return ChangeRecord(
        f"e{seq}", str(seq), str(seconds), "s", "MODIFY", {"pk": image["pk"]}, image
    )


def _log(tmp_path: Path) -> tuple[ChangeLogWriter, FolderStorage]:
    storage = FolderStorage(log_location(Location("folder", str(tmp_path)), "orders", "L1"))
    writer = ChangeLogWriter(storage, writer="follower")
    writer.ensure_descriptor(
        LogDescriptor("orders", None, ARN, "L1", (("pk", "HASH", "S"),), "NEW_IMAGE")
    )
    # Three objects of one shard: two hours before H, just before H, and after H.
    writer.write([_rec(1, H - 7200)], ShardPosition("s1", None, None))
    writer.write([_rec(2, H - 10), _rec(3, H - 5)], ShardPosition("s1", None, "1"))
    writer.write([_rec(4, H + 100)], ShardPosition("s1", None, "3"))
    writer.heartbeat(Heartbeat("s1", None, "4", H + 200))
    return writer, storage


def _check(tmp_path: Path, first: int, last: int) -> list[str]:
    """The sequence numbers handed on, in stream order (they come in storage order)."""
    seen: list[LogEntry] = []
    check_log(
        FolderStorage(Location("folder", str(tmp_path / "orders"))),
        first,
        last,
        SCHEMA,
        seen.append,
    )
    return [str(e.order) for e in sorted(seen, key=lambda e: (e.rank, e.order))]


def test_a_complete_window_hands_its_records_in_stream_order(tmp_path: Path) -> None:
    _log(tmp_path)
    assert _check(tmp_path, H - 60, H + 150) == ["2", "3", "4"]
    assert _check(tmp_path, H - 7, H + 150) == ["3", "4"]
    # Records after T in an object that holds some of the window are handed on (they end
    # their key's prefix); an object wholly after T is not read.
    assert _check(tmp_path, H - 60, H - 7) == ["2", "3"]
    assert _check(tmp_path, H - 60, H + 50) == ["2", "3"]


def test_a_shard_not_read_past_t_refuses(tmp_path: Path) -> None:
    _log(tmp_path)
    with pytest.raises(NotExactError, match="missing-heartbeat shard s1"):
        _check(tmp_path, H - 60, H + 300)


def test_a_gap_in_the_window_refuses_naming_it_once(tmp_path: Path) -> None:
    writer, _ = _log(tmp_path)
    writer.gap(GapMarker("s1", "1", "2", H - 3600))
    with pytest.raises(NotExactError, match="gap shard s1") as refused:
        _check(tmp_path, H - 5000, H + 150)
    assert refused.value.message.count("gap shard s1") == 1  # named once, not once per hour


def test_a_gap_before_the_window_does_not_matter(tmp_path: Path) -> None:
    writer, _ = _log(tmp_path)
    writer.gap(GapMarker("s1", "1", "2", H - 3600))  # lost between H - 7200 and H - 10
    assert _check(tmp_path, H - 7, H + 150) == ["3", "4"]  # record 2 read, before the window
    assert _check(tmp_path, H + 50, H + 150) == ["4"]  # record 2 only in an earlier hour


def test_a_gap_after_the_window_does_not_matter(tmp_path: Path) -> None:
    writer, _ = _log(tmp_path)
    writer.gap(GapMarker("s1", "4", "5", H + 180))  # lost after H + 100
    assert _check(tmp_path, H - 60, H + 99) == ["2", "3"]  # 4 by its manifest: after T
    with pytest.raises(NotExactError, match="gap shard s1"):
        _check(tmp_path, H - 60, H + 150)


def test_a_missing_object_in_the_window_refuses_and_outside_it_does_not(tmp_path: Path) -> None:
    _, storage = _log(tmp_path)
    victim = next(storage.root.glob("2026-01-02/01/*.jsonl.gz"))
    victim.unlink()  # the object of record 1, two hours before H (its manifest stays)
    with pytest.raises(NotExactError, match="not proven complete"):
        _check(tmp_path, H - 7300, H + 150)
    assert _check(tmp_path, H - 60, H + 150)
    # Its hour overlaps the window, but its records (by its manifest) lie before it.
    assert _check(tmp_path, H - 7000, H + 150) == ["2", "3", "4"]


def test_a_damaged_object_after_t_does_not_matter(tmp_path: Path) -> None:
    _, storage = _log(tmp_path)
    victim = next(storage.root.glob("2026-01-02/03/*.jsonl.gz"))  # record 4, at H + 100
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert _check(tmp_path, H - 60, H + 50) == ["2", "3"]
    with pytest.raises(NotExactError, match="damaged 2026-01-02/03/"):
        _check(tmp_path, H - 60, H + 150)
