"""Reading an on-failure destination's invocation records (a real local folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.backup.storage import FolderStorage
from dynamodb_replicator.changelog.failures import failed_batches
from dynamodb_replicator.errors import ChangeLogError


def _record(seq: int) -> dict[str, object]:
    return {"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(seq)}}


def test_payload_as_text_as_object_or_a_bare_event(tmp_path: Path) -> None:
    folder = tmp_path / "failures"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "a" / "b" / "1.json").write_text(
        json.dumps({"version": "1.0", "payload": json.dumps({"Records": [_record(1)]})})
    )
    (folder / "a" / "2.json").write_text(json.dumps({"payload": {"Records": [_record(2)]}}))
    (folder / "3.json").write_text(json.dumps({"Records": [_record(3), _record(4)]}))
    batches = list(failed_batches(FolderStorage(Location("folder", str(folder)))))
    assert [(b.name, b.sequence_numbers()) for b in batches] == [
        ("3.json", [3, 4]),
        ("a/2.json", [2]),
        ("a/b/1.json", [1]),
    ]


def test_an_object_without_an_event_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"requestContext": {}}))
    with pytest.raises(ChangeLogError, match=r"x\.json holds no invocation event"):
        list(failed_batches(FolderStorage(Location("folder", str(tmp_path)))))
