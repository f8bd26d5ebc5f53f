"""``verify-changes`` over logs written into a real local folder: each kind of problem found
and named (exit 1), a complete window proven shard by shard (exit 0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.backup.storage import FolderStorage
from dynamodb_replicator.changelog.format import ChangeRecord
from dynamodb_replicator.changelog.layout import (
    GapMarker,
    Heartbeat,
    LogDescriptor,
    log_location,
)
from dynamodb_replicator.changelog.writer import ChangeLogWriter, ShardPosition
from dynamodb_replicator.cli.app import cli

H = 1767322800  # 2026-01-02T03:00:00Z
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/L1"


def _rec(seq: int, seconds: int, n: int, event: str = "MODIFY", old: int | None = None) -> Any:
    image = {"pk": {"S": "k"}, "v": {"N": str(n)}}
    old_image = None if old is None else {"pk": {"S": "k"}, "v": {"N": str(old)}}
    return ChangeRecord(
        f"e{seq}", str(seq), str(seconds), "s", event, {"pk": {"S": "k"}}, image, old_image
    )


def _log(tmp_path: Path, label: str = "L1", view: str = "NEW_AND_OLD_IMAGES") -> ChangeLogWriter:
    storage = FolderStorage(log_location(Location("folder", str(tmp_path)), "orders", label))
    writer = ChangeLogWriter(storage, writer="follower")
    arn = ARN.replace("L1", label)
    writer.ensure_descriptor(
        LogDescriptor("orders", None, arn, label, (("pk", "HASH", "S"),), view)
    )
    return writer


def _history(writer: ChangeLogWriter) -> list[Any]:
    """Five versions of one key across two hours, in two objects of one shard."""
    one = writer.write(
        [_rec(1, H - 10, 1, "INSERT"), _rec(2, H - 5, 2, old=1)],
        ShardPosition("s1", None, None),
    )
    two = writer.write(
        [_rec(3, H + 5, 3, old=2), _rec(4, H + 6, 4, old=3), _rec(5, H + 7, 5, old=4)],
        ShardPosition("s1", None, "2"),
    )
    writer.heartbeat(Heartbeat("s1", None, "5", H + 60))
    return one + two


def _verify(target: Path, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["verify-changes", str(target), *extra])


def test_a_complete_log_is_proven_shard_by_shard(tmp_path: Path) -> None:
    _history(_log(tmp_path))
    result = _verify(tmp_path / "orders")
    assert result.exit_code == 0, result.output
    assert "verified 2 object(s), 5 record(s)" in result.output
    assert "shard s1: 5 record(s) 2026-01-02T02:59:50Z .. 2026-01-02T03:00:07Z" in result.output
    assert "read to 2026-01-02T03:01:00Z" in result.output
    # a window after the first hour: the predecessor is found in the hour before it
    later = _verify(tmp_path / "orders", "--from", "2026-01-02T03:00:00Z", "--until", str(H + 9))
    assert later.exit_code == 0, later.output
    assert "3 record(s)" in later.output


def test_a_flipped_byte_is_named(tmp_path: Path) -> None:
    writer = _log(tmp_path)
    first, *_ = _history(writer)
    path = Path(writer.storage.location.prefix) / first.name
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF
    path.write_bytes(bytes(data))
    result = _verify(tmp_path / "orders" / "changes" / "L1")
    assert result.exit_code == 1
    assert f"DAMAGED: {first.name}: SHA-256" in result.output
    # outside the window it does not matter
    assert _verify(tmp_path / "orders", "--from", str(H)).exit_code == 0


def test_a_chain_break_is_named(tmp_path: Path) -> None:
    writer = _log(tmp_path)
    writer.write([_rec(1, H, 1, "INSERT")], ShardPosition("s1", None, None))
    broken = writer.write([_rec(9, H + 1, 9, old=8)], ShardPosition("s1", None, "8"))[0]
    result = _verify(tmp_path / "orders")
    assert result.exit_code == 1
    assert f"CHAIN-BREAK: {broken.name}: shard s1: its predecessor 8" in result.output
    assert "MISSING-CHANGE" in result.output  # old image 8 is not the previous new image 1


def test_gap_markers_and_stream_changes_are_named(tmp_path: Path) -> None:
    writer = _log(tmp_path)
    _history(writer)
    writer.gap(GapMarker("s1", "5", None, H + 100))
    result = _verify(tmp_path / "orders")
    assert result.exit_code == 1
    assert "GAP: shard s1: records after 5" in result.output

    other = _log(tmp_path / "second")
    _history(other)
    _log(tmp_path / "second", label="L2").write([_rec(20, H, 1, "INSERT")])
    changed = _verify(tmp_path / "second" / "orders" / "changes")
    assert changed.exit_code == 1
    assert "STREAM-CHANGE: L1, L2" in changed.output


def test_unfinished_objects_matter_only_when_their_records_were_not_written_again(
    tmp_path: Path,
) -> None:
    writer = _log(tmp_path)
    _history(writer)
    folder = Path(writer.storage.location.prefix)
    redone = writer.write([_rec(4, H + 6, 4, old=3), _rec(5, H + 7, 5, old=4)],
                          ShardPosition("s1", None, "3"))[0]  # fmt: skip
    (folder / (redone.name + ".manifest.json")).unlink()
    assert _verify(tmp_path / "orders").exit_code == 0
    lost = writer.write([_rec(6, H + 8, 6, old=5)], ShardPosition("s1", None, "5"))[0]
    (folder / (lost.name + ".manifest.json")).unlink()
    result = _verify(tmp_path / "orders")
    assert result.exit_code == 1
    assert f"UNFINISHED: {lost.name}: no manifest, and 1 of its records" in result.output


def test_bad_windows_and_targets_are_usage_errors(tmp_path: Path) -> None:
    assert _verify(tmp_path, "--from", "2026-01-02T03:00:00").exit_code == 2  # no zone
    assert _verify(tmp_path, "--from", "5", "--until", "4").exit_code == 2
    missing = _verify(tmp_path)
    assert missing.exit_code == 2
    assert "no change log" in missing.output


def test_record_history_names_ttl_deletes_and_damage(tmp_path: Path) -> None:
    writer = _log(tmp_path)
    first, *_ = _history(writer)
    ttl = ChangeRecord(
        "e6", "6", str(H + 8), "s", "REMOVE", {"pk": {"S": "k"}},
        old_image={"pk": {"S": "k"}, "v": {"N": "5"}},
        user_identity={"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    )  # fmt: skip
    writer.write([ttl], ShardPosition("s1", None, "5"))
    shown = CliRunner().invoke(cli, ["record-history", str(tmp_path / "orders"), '{"pk": "k"}'])
    assert shown.exit_code == 0, shown.output
    events = [line.split("  ")[1].strip() for line in shown.output.splitlines()]
    assert events == ["REMOVE (TTL)", "MODIFY", "MODIFY", "MODIFY", "MODIFY", "INSERT"]
    path = Path(writer.storage.location.prefix) / first.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    damaged = CliRunner().invoke(cli, ["record-history", str(tmp_path / "orders"), '{"pk": "k"}'])
    assert damaged.exit_code == 1
    assert f"DAMAGED: {first.name}" in damaged.output
    assert len(damaged.output.splitlines()) == 5  # four versions, one damage line
