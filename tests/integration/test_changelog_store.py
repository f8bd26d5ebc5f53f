"""Change log objects written and read back through real storage: a local folder and S3 (moto).

Covers the writer's layout (one object per batch and hour, manifest after object), the
reader's checks (SHA-256, count, unfinished and missing objects, conflicting copies) and its
order (de-duplicated by sequence number, parent shard first, never by time).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.backup.storage import FolderStorage, S3Storage, Storage
from dynamodb_replicator.changelog.format import ChangeRecord
from dynamodb_replicator.changelog.layout import (
    GapMarker,
    Heartbeat,
    LogDescriptor,
    ObjectManifest,
    log_location,
    manifest_name,
)
from dynamodb_replicator.changelog.reader import (
    read_descriptor,
    read_gaps,
    read_heartbeats,
    read_window,
)
from dynamodb_replicator.changelog.store import storage_at
from dynamodb_replicator.changelog.writer import ChangeLogWriter, ShardPosition
from dynamodb_replicator.errors import ChangeLogError

H = 1767322800  # 2026-01-02T03:00:00Z
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-02T03:04:05.678"
BIG = "-1.2345678901234567890123456789012345678E-120"


def _rec(seq: int, seconds: int, event: str = "MODIFY") -> ChangeRecord:
    image = {"pk": {"S": f"k{seq % 3}"}, "n": {"N": BIG}, "b": {"M": {"x": {"BS": [b"\0"]}}}}
    return ChangeRecord(
        f"e{seq}", str(seq), str(seconds), "s", event, {"pk": image["pk"]}, new_image=image
    )


@pytest.fixture(params=["folder", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Storage]:
    """A factory of the log's storage root (each call a fresh handle on the same place)."""
    if request.param == "folder":
        location = log_location(Location("folder", str(tmp_path)), "orders", "L")
        return lambda: FolderStorage(location)
    client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("make_bucket")()
    location = log_location(Location("s3", "backups", bucket), "orders", "L")
    return lambda: S3Storage(location, client)


def _seqs(window: Any) -> list[str]:
    return [r.record.sequence_number for r in window.records]


@pytest.mark.moto
def test_batch_spanning_an_hour_is_two_objects_read_back_exactly(
    storage: Callable[[], Storage],
) -> None:
    writer = ChangeLogWriter(storage(), writer="lambda")
    records = [_rec(1, H - 1), _rec(2, H - 1), _rec(3, H), _rec(4, H + 3600)]
    manifests = writer.write(records)
    assert [(m.name.split("/")[1], m.count) for m in manifests] == [("02", 2), ("03", 1), ("04", 1)]
    assert manifests[0].name.startswith("2026-01-02/02/")
    assert all(m.predecessor is None and m.shard_id is None for m in manifests)
    window = read_window(storage())
    assert [r.record for r in window.records] == records
    assert window.hours == ("2026-01-02/02", "2026-01-02/03", "2026-01-02/04")
    assert window.damaged == ()
    assert window.unfinished == ()
    only = read_window(storage(), first=H, last=H + 3599)
    assert only.hours == ("2026-01-02/03",)
    assert _seqs(only) == ["3"]


@pytest.mark.moto
def test_retried_bisected_and_overlapping_batches_leave_one_copy(
    storage: Callable[[], Storage],
) -> None:
    writer = ChangeLogWriter(storage(), writer="lambda")
    batch = [_rec(n, H + n) for n in range(10, 20)]
    writer.write(batch)
    writer.write(batch)  # retried whole: same name, same bytes
    writer.write(batch[:5])  # bisected
    writer.write(batch[5:])
    writer.write(batch[3:8])  # re-read overlap
    window = read_window(storage())
    assert [r.record for r in window.records] == batch
    assert window.duplicates == 5 + 5 + 5
    assert window.damaged == ()


@pytest.mark.moto
def test_follower_objects_chain_and_order_by_shard_then_sequence_never_time(
    storage: Callable[[], Storage],
) -> None:
    writer = ChangeLogWriter(storage(), writer="follower")
    # The child's records have later sequence numbers but earlier times than the parent's.
    child = [_rec(50, H + 1), _rec(51, H + 2)]
    parent = [_rec(5, H + 3000), _rec(6, H + 3600)]
    written = writer.write(child, ShardPosition("shard-child", "shard-parent", None))
    written += writer.write(parent, ShardPosition("shard-parent", None, "4"))
    assert [m.predecessor for m in written] == [None, "4", "5"]
    window = read_window(storage())
    assert _seqs(window) == ["5", "6", "50", "51"]
    assert {r.shard_id for r in window.records} == {"shard-parent", "shard-child"}


@pytest.mark.moto
def test_damage_is_named_and_never_read(storage: Callable[[], Storage]) -> None:
    writer = ChangeLogWriter(storage(), writer="lambda")
    flipped, recounted, unfinished, orphan, good = (
        writer.write([_rec(n, H + n), _rec(n + 1, H + n)])[0] for n in (10, 20, 30, 40, 50)
    )
    hour = storage_at(storage(), storage().location.child("2026-01-02/03"))
    data = bytearray(hour.get(short(flipped)))
    data[len(data) // 2] ^= 0x01
    hour.put(short(flipped), bytes(data))
    body = gzip.decompress(hour.get(short(recounted)))
    hour.put(short(recounted), gzip.compress(body + body[: body.index(b"\n") + 1], mtime=0))
    resealed = hashlib.sha256(hour.get(short(recounted))).hexdigest()
    manifest = hour.get(manifest_name(short(recounted))).replace(
        recounted.sha256.encode(), resealed.encode()
    )
    hour.put(manifest_name(short(recounted)), manifest)
    _delete(hour, manifest_name(short(unfinished)))
    _delete(hour, short(orphan))

    window = read_window(storage())
    problems = {d.name: d.problem for d in window.damaged}
    assert "SHA-256" in problems[flipped.name]
    assert "holds 3 records, its manifest says 2" in problems[recounted.name]
    assert "data object is missing" in problems[manifest_name(orphan.name)]
    assert window.unfinished == (unfinished.name,)
    assert _seqs(window) == [good.first_sequence_number, good.last_sequence_number]


def short(manifest: ObjectManifest) -> str:
    return manifest.name.split("/")[-1]


def _delete(storage: Storage, name: str) -> None:
    if isinstance(storage, FolderStorage):
        (storage.root / name).unlink()
    else:
        assert isinstance(storage, S3Storage)
        storage.client.delete_object(Bucket=storage.bucket, Key=storage.key(name))


@pytest.mark.moto
def test_two_different_records_under_one_sequence_number_are_damage(
    storage: Callable[[], Storage],
) -> None:
    writer = ChangeLogWriter(storage(), writer="lambda")
    one = writer.write([_rec(7, H)])[0]
    other = writer.write([_rec(6, H), _rec(7, H, event="REMOVE")])[0]
    window = read_window(storage())
    assert len(window.damaged) == 1
    (damage,) = window.damaged
    assert "sequence number 7 differs" in damage.problem
    assert {one.name, other.name} <= {damage.name, damage.problem.rsplit(" ", 1)[-1]}


@pytest.mark.moto
def test_descriptor_heartbeats_and_gaps(storage: Callable[[], Storage]) -> None:
    writer = ChangeLogWriter(storage(), writer="follower")
    assert read_descriptor(storage()) is None
    descriptor = LogDescriptor("orders", None, ARN, "L", (("pk", "HASH", "S"),), "NEW_IMAGE")
    writer.ensure_descriptor(descriptor)
    writer.ensure_descriptor(descriptor)
    assert read_descriptor(storage()) == descriptor
    with pytest.raises(ChangeLogError, match="describes the stream"):
        writer.ensure_descriptor(
            LogDescriptor("orders", None, ARN + "9", "L", (("pk", "HASH", "S"),), "NEW_IMAGE")
        )
    writer.heartbeat(Heartbeat("s1", None, None, H))
    writer.heartbeat(Heartbeat("s1", None, "12", H + 5))
    writer.gap(GapMarker("s1", "12", "40", H + 6))
    assert read_heartbeats(storage()) == [Heartbeat("s1", None, "12", H + 5)]
    assert read_gaps(storage()) == [GapMarker("s1", "12", "40", H + 6)]
