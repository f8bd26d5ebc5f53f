"""The original's incremental backups -> ours: the naming rule, the newest-event rule, a folder."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dynamodb_replicator.backup.incremental import (
    Candidate,
    NameEvent,
    SnapshotResult,
    _collect,
    key_names,
    name_matches_key,
    resolve,
)
from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.cli.incremental_cmd import parse_key_schema
from dynamodb_replicator.errors import UsageError
from dynamodb_replicator.items import KeySchema, decode_item

SCHEMA = KeySchema("pk", "S", "sk", "N")


def _digest(text: str, md5: bool = False) -> str:
    data = text.encode()
    return hashlib.md5(data).hexdigest() if md5 else hashlib.sha256(data).hexdigest()


def test_names_are_the_digests_of_every_attribute_order() -> None:
    item = decode_item('{"pk":{"S":"é"},"sk":{"N":"1"},"v":{"S":"x"}}')
    stream = '{"sk":{"N":"1"},"pk":{"S":"é"}}'
    schema = '{"pk":{"S":"é"},"sk":{"N":"1"}}'
    assert key_names(item, SCHEMA) == {
        _digest(stream), _digest(schema), _digest(stream, True), _digest(schema, True)
    }  # fmt: skip
    assert not name_matches_key(_digest('{"pk":{"S":"é"}}'), item, SCHEMA)


def _at(second: int) -> datetime:
    return datetime(2020, 1, 1, 0, 0, second, tzinfo=UTC)


def test_a_remove_under_a_name_never_written_deletes_the_item() -> None:
    body = b'{"pk":{"S":"a"},"sk":{"N":"1"}}'
    stream_name = _digest('{"sk":{"N":"1"},"pk":{"S":"a"}}')
    schema_name = _digest('{"pk":{"S":"a"},"sk":{"N":"1"}}')
    events = [
        NameEvent(schema_name, _at(1), False, "v1"),
        NameEvent(stream_name, _at(2), True, None),  # only a delete marker
        NameEvent("0" * 64, _at(3), True, None),  # a deletion of no key seen
    ]
    result = SnapshotResult("j", "x")
    claims = _collect(events, lambda e: body, SCHEMA, result)
    (candidates,) = claims.values()
    assert sorted(c.event.name for c in candidates) == sorted([schema_name, stream_name])
    assert result.empty_names == 1


def test_the_newest_event_wins_and_a_tie_keeps_the_item() -> None:
    item = decode_item('{"pk":{"S":"a"},"sk":{"N":"1"}}')
    live = Candidate(NameEvent("x", _at(1), False, "v"), item)
    removed = Candidate(NameEvent("y", _at(2), True, "v"), item)
    assert resolve([live, removed]) == (removed, False)
    same_time = Candidate(NameEvent("y", _at(1), True, "v"), item)
    assert resolve([same_time, live]) == (live, True)


def test_key_option_is_checked() -> None:
    assert parse_key_schema(("pk:S", "sk:N")) == SCHEMA
    assert parse_key_schema(("a:b:B",)) == KeySchema("a:b", "B")
    for bad in (("pk",), ("pk:X",), ()):
        with pytest.raises(UsageError):
            parse_key_schema(bad)


def test_a_folder_source_resolves_by_modification_time(tmp_path: Path) -> None:
    src = tmp_path / "inc" / "orders"
    src.mkdir(parents=True)

    def write(key_text: str, item: dict[str, Any], mtime: int) -> None:
        path = src / _digest(key_text)
        path.write_text(json.dumps(item))
        os.utime(path, (mtime, mtime))

    old = {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "old"}}
    new = {"sk": {"N": "1"}, "pk": {"S": "a"}, "v": {"S": "new"}, "b": {"B": "AAH/"}}
    write('{"pk":{"S":"a"},"sk":{"N":"1"}}', old, 1_000)
    write('{"sk":{"N":"1"},"pk":{"S":"a"}}', new, 2_000)
    runner = CliRunner()
    result = runner.invoke(cli, ["incremental-snapshot", str(src), str(tmp_path / "ours"),
                                 "--key", "pk:S", "--key", "sk:N", "--jobid", "j"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 item(s) from 2 name(s)" in result.output
    assert "1 key(s) under more than one name" in result.output
    verified = runner.invoke(cli, ["verify-backup", str(tmp_path / "ours" / "j")])
    assert verified.exit_code == 0, verified.output
    lines = gzip.decompress((tmp_path / "ours" / "j" / "0").read_bytes()).splitlines()
    assert [decode_item(line) for line in lines] == [decode_item(json.dumps(new))]


def test_a_bare_destination_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["incremental-snapshot", str(tmp_path), "my-bucket/x", "--key", "pk:S"]
    )
    assert result.exit_code == 2
    assert "neither an S3 location nor an explicit local folder" in result.output
