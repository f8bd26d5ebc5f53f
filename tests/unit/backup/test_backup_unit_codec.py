"""gzip JSON Lines out and back, streamed, with counts and checksums (local folder storage)."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamodb_replicator.backup.layout import Location, Manifest
from dynamodb_replicator.backup.reader import GunzipLines, SegmentSource, read_items
from dynamodb_replicator.backup.storage import FolderStorage, part_size_for
from dynamodb_replicator.backup.writer import GzipLines
from dynamodb_replicator.errors import BackupIntegrityError

ITEMS: list[dict[str, Any]] = [
    {"pk": {"S": "a"}, "n": {"N": "12345678901234567890123456789012345678"}},
    {"pk": {"S": "b"}, "m": {"M": {"b": {"B": b"\x00\xff"}, "l": {"L": [{"BS": [b"x"]}]}}}},
    {"pk": {"S": "é🦆"}, "e": {"S": ""}, "ss": {"SS": ["z", "a"]}, "nul": {"NULL": True}},
]


def _encode(items: list[dict[str, Any]], pages: int = 2) -> tuple[bytes, GzipLines]:
    enc = GzipLines()
    step = max(1, len(items) // pages)
    out = b"".join(enc.encode(items[i : i + step]) for i in range(0, len(items), step))
    return out + enc.finish(), enc


def _lines(data: bytes, chunk: int = 7) -> list[bytes]:
    gun = GunzipLines()
    out: list[bytes] = []
    for i in range(0, len(data), chunk):
        out.extend(gun.feed(data[i : i + chunk]))
    return out + gun.finish()


def test_output_is_plain_gzip_json_lines_with_base64_binary() -> None:
    data, enc = _encode(ITEMS)
    text = gzip.decompress(data).decode()
    assert text.endswith("\n")
    assert text.splitlines()[1] == (
        '{"pk":{"S":"b"},"m":{"M":{"b":{"B":"AP8="},"l":{"L":[{"BS":["eA=="]}]}}}}'
    )
    assert enc.items == 3
    assert enc.uncompressed == len(text.encode())
    assert enc.compressed == len(data)
    assert enc.sha256 == hashlib.sha256(data).hexdigest()


def test_lines_come_back_whatever_the_chunking() -> None:
    data, _ = _encode(ITEMS)
    expected = gzip.decompress(data).splitlines()
    for chunk in (1, 3, 64, len(data)):
        assert _lines(data, chunk) == expected


def test_concatenated_members_and_a_missing_final_newline() -> None:
    data = gzip.compress(b'{"a":{"S":"1"}}\n') + gzip.compress(b'{"a":{"S":"2"}}')
    assert _lines(data) == [b'{"a":{"S":"1"}}', b'{"a":{"S":"2"}}']


def test_a_truncated_stream_is_detected() -> None:
    data, _ = _encode(ITEMS)
    with pytest.raises(ValueError, match="truncated"):
        _lines(data[:-5])


@settings(max_examples=30)
@given(st.lists(st.text(min_size=1, max_size=20), max_size=30))
def test_any_string_items_round_trip(values: list[str]) -> None:
    items = [{"pk": {"S": v}} for v in values]
    data, enc = _encode(items, pages=3)
    assert enc.items == len(items)
    assert len(_lines(data, 5)) == len(items)


def _store(tmp_path: Path, data: bytes, items: int, **changes: Any) -> tuple[FolderStorage, Any]:
    storage = FolderStorage(Location("folder", str(tmp_path)))
    storage.put("0", data)
    fields: dict[str, Any] = {
        "jobid": "j",
        "table": "t",
        "region": "r",
        "segment": 0,
        "segments": 1,
        "item_count": items,
        "uncompressed_bytes": len(gzip.decompress(data)),
        "compressed_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "started_at": "s",
        "finished_at": "f",
        "tool_version": "0",
    }
    fields.update(changes)
    return storage, SegmentSource("0", 0, Manifest(**fields))


def test_read_items_verifies_against_the_manifest(tmp_path: Path) -> None:
    data, _ = _encode(ITEMS)
    storage, source = _store(tmp_path, data, 3)
    assert list(read_items(storage, source)) == ITEMS
    storage, source = _store(tmp_path, data, 4)
    with pytest.raises(BackupIntegrityError, match="segment 0: 3 items, manifest says 4"):
        list(read_items(storage, source))
    storage, source = _store(tmp_path, data, 3, sha256="0" * 64)
    with pytest.raises(BackupIntegrityError, match="SHA-256") as info:
        list(read_items(storage, source))
    assert not info.value.before_write


def test_an_undecodable_line_is_named_before_it_is_yielded(tmp_path: Path) -> None:
    data = gzip.compress(b'{"pk":{"S":"a"}}\n{"pk":{"Q":"b"}}\n{"pk":{"S":"c"}}\n')
    storage, source = _store(tmp_path, data, 3)
    got: list[Any] = []
    with pytest.raises(BackupIntegrityError, match=r"segment 0 line 2: .*unknown type tag"):
        got.extend(read_items(storage, source, before_write=True))
    assert got == [{"pk": {"S": "a"}}]


def test_folder_writer_commits_atomically_and_aborts_cleanly(tmp_path: Path) -> None:
    storage = FolderStorage(Location("folder", str(tmp_path / "job")))
    writer = storage.writer("0")
    writer.write(b"abc")
    assert storage.listing() == {}
    writer.abort()
    assert list((tmp_path / "job").iterdir()) == []
    writer = storage.writer("0")
    writer.write(b"abc")
    assert writer.commit() == 3
    assert storage.listing() == {"0": 3}
    assert b"".join(storage.read("0", chunk_size=1)) == b"abc"
    assert storage.size("1") is None


def test_part_sizes_grow_so_ten_thousand_parts_hold_five_terabytes() -> None:
    assert part_size_for(1) == 8 * 1024 * 1024
    assert part_size_for(1000) == part_size_for(1)
    assert part_size_for(1001) == 2 * part_size_for(1)
    assert sum(part_size_for(n) for n in range(1, 10_001)) > 5 * 1024**4
    assert max(part_size_for(n) for n in range(1, 10_001)) <= 5 * 1024**3
