"""Restore proves each segment before writing it, and reports (or deletes) the target's items
that the backup lacks after a ``--force`` restore into a table that held items."""

from __future__ import annotations

import gzip
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dynamodb_replicator.backup import RestoreRequest, StorageSpec, parse_location, run_restore
from dynamodb_replicator.backup.extraneous import ExtraAction
from dynamodb_replicator.backup.storage import READ_CHUNK
from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.dynamo import TableSpec, parse_table_address
from helpers import Endpoint, put_items, scan_all

pytestmark = pytest.mark.moto

_RANDOM = random.Random(5)
#: Incompressible items: their backup object is well over one read chunk of gzip.
BIG = [
    {"pk": {"S": f"k{i:05d}"}, "n": {"N": str(i)}, "b": {"B": _RANDOM.randbytes(900)}}
    for i in range(1400)
]
SMALL = [{"pk": {"S": f"k{i:03d}"}, "v": {"N": str(i)}} for i in range(40)]


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _backup(ddb: Endpoint, table: str, where: Path, segments: int = 2) -> Path:
    result = _run(
        "backup-table", f"{ddb.url}/{table}", str(where),
        "--jobid", "j", "--segments", str(segments), "--workers", "1", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return where / "j"


def _keys(items: list[dict[str, Any]]) -> set[str]:
    return {i["pk"]["S"] for i in items}


def _segment_keys(job: Path, segment: int) -> set[str]:
    with gzip.open(job / str(segment), "rt", encoding="utf-8") as lines:
        return {json.loads(line)["pk"]["S"] for line in lines}


def _flip(job: Path, copy: Path, segment: int, offset: int) -> Path:
    shutil.copytree(job, copy)
    data = bytearray((copy / str(segment)).read_bytes())
    data[offset] ^= 0x04
    (copy / str(segment)).write_bytes(bytes(data))
    return copy


def test_a_bit_flipped_early_in_a_big_segment_writes_none_of_it(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    primary = make_table()
    put_items(ddb_client, primary, BIG)
    good = _backup(ddb, primary, tmp_path / "good", segments=1)
    # Early in the object, but after the first read chunk: a streaming restore used to decode
    # and write the first chunk's items before it reached the damage.
    assert (good / "0").stat().st_size > READ_CHUNK + 64 * 1024
    broken = _flip(good, tmp_path / "broken" / "j", 0, READ_CHUNK + 4096)

    target = make_table()
    result = _run("restore-table", str(broken), f"{ddb.url}/{target}", "-q")
    assert result.exit_code == 2, result.output
    assert "segment 0" in result.output
    assert "nothing was written" in result.output
    assert scan_all(ddb_client, target) == []


def test_a_damaged_segment_writes_nothing_while_the_good_ones_are_restored(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    primary = make_table()
    put_items(ddb_client, primary, SMALL)
    good = _backup(ddb, primary, tmp_path / "good")
    size = (good / "1").stat().st_size
    broken = _flip(good, tmp_path / "broken" / "j", 1, size // 3)
    first, second = _segment_keys(good, 0), _segment_keys(good, 1)

    target = make_table()
    result = _run("restore-table", str(broken), f"{ddb.url}/{target}", "-q")
    assert result.exit_code == 3, result.output
    assert "nothing of segment 1 was written" in result.output
    assert "finished segments [0]" in result.output
    assert _keys(scan_all(ddb_client, target)) == first

    parallel = make_table()
    result = _run("restore-table", str(broken), f"{ddb.url}/{parallel}", "--workers", "2", "-q")
    assert result.exit_code == 3, result.output
    assert "nothing of segment 1 was written" in result.output
    assert not _keys(scan_all(ddb_client, parallel)) & second


def test_a_forced_restore_reports_and_deletes_what_the_backup_lacks(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    primary = make_table()
    put_items(ddb_client, primary, SMALL)
    job = _backup(ddb, primary, tmp_path)
    target = make_table()
    extra = [{"pk": {"S": f"extra-{i}"}} for i in range(3)]
    put_items(ddb_client, target, [*extra, {"pk": {"S": "k001"}, "v": {"N": "-1"}}])

    result = _run("restore-table", str(job), f"{ddb.url}/{target}", "--force", "-q")
    assert result.exit_code == 1, result.output
    for item in extra:
        assert f'[extraneous] {{"pk":{{"S":"{item["pk"]["S"]}"}}}}\n' in result.stdout
    assert "holds 3 item(s) the backup lacks" in result.stderr
    assert "--delete-extraneous" in result.stderr
    assert len(scan_all(ddb_client, target)) == len(SMALL) + 3

    result = _run(
        "restore-table", str(job), f"{ddb.url}/{target}", "--force", "--delete-extraneous", "-q"
    )
    assert result.exit_code == 0, result.output
    assert '[extraneous] {"pk":{"S":"extra-0"}} (deleted)' in result.stdout
    assert "deleted 3, remaining 0" in result.stderr
    got = sorted(scan_all(ddb_client, target), key=lambda i: i["pk"]["S"])
    assert got == SMALL

    result = _run("restore-table", str(job), f"{ddb.url}/{target}", "--force", "-q")
    assert result.exit_code == 0, result.output
    assert "holds 0 item(s) the backup lacks" in result.stderr


def test_an_item_changed_during_the_deletes_is_kept(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    primary = make_table()
    put_items(ddb_client, primary, SMALL)
    job = _backup(ddb, primary, tmp_path, segments=1)
    target = make_table()
    put_items(ddb_client, target, [{"pk": {"S": "extra-a"}}, {"pk": {"S": "extra-b"}}])
    seen: list[tuple[str, ExtraAction]] = []

    def meanwhile(key: dict[str, Any], action: ExtraAction) -> None:
        seen.append((key["pk"]["S"], action))
        if len(seen) == 1:  # another writer changes the other item after the scan read it
            other = "extra-b" if key["pk"]["S"] == "extra-a" else "extra-a"
            ddb_client.put_item(TableName=target, Item={"pk": {"S": other}, "v": {"N": "7"}})

    request = RestoreRequest(
        source=StorageSpec(parse_location(str(job))),
        table=TableSpec(parse_table_address(f"{ddb.url}/{target}")),
        force=True,
        delete_extraneous=True,
    )
    summary = run_restore(request, on_extraneous=meanwhile)
    assert [action for _, action in seen] == [ExtraAction.DELETED, ExtraAction.CHANGED]
    assert summary.extraneous is not None
    assert (summary.extraneous.extraneous, summary.extraneous.remaining) == (2, 1)
    kept = [i for i in scan_all(ddb_client, target) if i["pk"]["S"].startswith("extra-")]
    assert kept == [{"pk": {"S": seen[1][0]}, "v": {"N": "7"}}]


def test_delete_extraneous_needs_the_whole_backup(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path
) -> None:
    primary = make_table()
    put_items(ddb_client, primary, SMALL)
    job = _backup(ddb, primary, tmp_path)
    result = _run(
        "restore-table", str(job), f"{ddb.url}/{make_table()}", "--segment", "0",
        "--delete-extraneous",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--delete-extraneous needs the whole backup" in result.output
