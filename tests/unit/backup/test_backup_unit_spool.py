"""Verify-while-spooling: no item of a segment is handed out before its object is proven."""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import pytest

from dynamodb_replicator.backup.layout import Location, Manifest
from dynamodb_replicator.backup.reader import SegmentSource
from dynamodb_replicator.backup.spool import (
    check_spool_space,
    proven_items,
    spool_space_needed,
)
from dynamodb_replicator.backup.storage import READ_CHUNK, FolderStorage
from dynamodb_replicator.backup.writer import GzipLines
from dynamodb_replicator.errors import BackupIntegrityError, ConfigError

#: Enough incompressible items that the object spans several read chunks.
_RANDOM = random.Random(11)
ITEMS: list[dict[str, Any]] = [
    {"pk": {"S": f"k{i:05d}"}, "b": {"B": _RANDOM.randbytes(997)}} for i in range(1500)
]


def _job(tmp_path: Path, **changes: Any) -> tuple[FolderStorage, SegmentSource, bytes]:
    enc = GzipLines()
    data = enc.encode(ITEMS) + enc.finish()
    storage = FolderStorage(Location("folder", str(tmp_path / "job")))
    storage.put("0", data)
    fields: dict[str, Any] = {
        "jobid": "j",
        "table": "t",
        "region": "r",
        "segment": 0,
        "segments": 1,
        "item_count": enc.items,
        "uncompressed_bytes": enc.uncompressed,
        "compressed_bytes": len(data),
        "sha256": enc.sha256,
        "started_at": "s",
        "finished_at": "f",
        "tool_version": "0",
    }
    fields.update(changes)
    return storage, SegmentSource("0", 0, Manifest(**fields)), data


def test_a_good_object_gives_its_items(tmp_path: Path) -> None:
    storage, source, data = _job(tmp_path)
    assert len(data) > READ_CHUNK
    with proven_items(storage, source) as items:
        assert list(items) == ITEMS


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_a_flipped_bit_hands_out_no_item(tmp_path: Path, where: float) -> None:
    storage, source, data = _job(tmp_path)
    raw = bytearray(data)
    raw[int(len(raw) * where)] ^= 0x10
    storage.put("0", bytes(raw))
    handed: list[Any] = []
    with (
        pytest.raises(BackupIntegrityError, match="segment 0") as info,
        proven_items(storage, source) as items,
    ):
        handed.extend(items)
    assert handed == []
    assert info.value.before_write


def test_a_wrong_item_count_hands_out_no_item(tmp_path: Path) -> None:
    storage, source, _ = _job(tmp_path, item_count=len(ITEMS) + 1)
    handed: list[Any] = []
    with (
        pytest.raises(BackupIntegrityError, match="1500 items, manifest says 1501"),
        proven_items(storage, source) as items,
    ):
        handed.extend(items)
    assert handed == []


def test_an_object_longer_than_its_manifest_stops_at_the_bound(tmp_path: Path) -> None:
    storage, source, data = _job(tmp_path)
    storage.put("0", data + data)
    with (
        pytest.raises(BackupIntegrityError, match="larger than"),
        proven_items(storage, source) as items,
    ):
        list(items)


def test_an_object_without_manifest_streams_as_before(tmp_path: Path) -> None:
    storage, source, _ = _job(tmp_path)
    bare = SegmentSource("0", 0, None)
    with proven_items(storage, bare) as items:
        assert list(items) == ITEMS
    assert source.manifest is not None


def test_spool_space_is_the_largest_objects_one_per_worker(tmp_path: Path) -> None:
    _, source, data = _job(tmp_path)
    assert source.manifest is not None
    small = SegmentSource("1", 1, Manifest(**{**source.manifest.__dict__, "compressed_bytes": 5}))
    assert spool_space_needed([source, small], 1) == len(data)
    assert spool_space_needed([source, small], 4) == len(data) + 5
    assert spool_space_needed([SegmentSource("0", 0, None)], 1) == 0
    check_spool_space(1, str(tmp_path))
    with pytest.raises(ConfigError, match="needs 1,000,000,000,000,000,000 bytes") as info:
        check_spool_space(10**18, str(tmp_path))
    assert "TMPDIR" in (info.value.hint or "")


def test_integrity_errors_survive_pickling() -> None:
    error = BackupIntegrityError("segment 3: bad", before_write=True, hint="h")
    back = pickle.loads(pickle.dumps(error))
    assert (back.message, back.before_write, back.hint) == ("segment 3: bad", True, "h")
