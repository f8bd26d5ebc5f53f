"""`backup-changes` without --checkpoint: the checkpoint lives in the state folder like
`replicate`'s (printed at start), nothing is left where the user stands, and a second run
resumes from it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.replicate.checkpoint import STATE_DIR_VARIABLE
from helpers import Endpoint

ON_MOTO = pytest.mark.parametrize("ddb", ["moto"], indirect=True)


def _backup_changes(ddb: Endpoint, table: str, target: Path) -> Any:
    args = [
        "backup-changes", f"{ddb.url}/{table}", str(target),
        "--until-caught-up", "--quiet-seconds", "0.5", "--max-seconds", "60",
    ]  # fmt: skip
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@ON_MOTO
def test_default_checkpoint_is_in_the_state_folder_and_resumed(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, here = tmp_path / "state", tmp_path / "here"
    here.mkdir()
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(state))
    monkeypatch.chdir(here)
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    for n in range(3):
        ddb_client.put_item(TableName=table, Item={"pk": {"S": f"k{n}"}})
    first = _backup_changes(ddb, table, tmp_path / "log")
    assert first.exit_code == 0, first.output
    assert list(here.iterdir()) == []  # nothing left where the user stands
    (saved,) = (state / "checkpoints").iterdir()
    assert saved.name.startswith(f"backup-changes-{table}-")
    assert f"checkpoint: {saved}" in first.stderr
    assert "3 record(s)" in first.stdout
    again = _backup_changes(ddb, table, tmp_path / "log")
    assert again.exit_code == 0, again.output
    assert "0 record(s)" in again.stdout  # resumed from the same checkpoint


@ON_MOTO
def test_an_earlier_versions_checkpoint_in_the_current_folder_is_still_used(
    ddb: Endpoint,
    make_table: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    legacy = tmp_path / f"backup-changes-{table}.checkpoint.json"
    first = CliRunner().invoke(cli, [
        "backup-changes", f"{ddb.url}/{table}", str(tmp_path / "log"), "--until-caught-up",
        "--quiet-seconds", "0.5", "--checkpoint", str(legacy),
    ])  # fmt: skip
    assert first.exit_code == 0, first.output
    again = _backup_changes(ddb, table, tmp_path / "log")
    assert again.exit_code == 0, again.output
    assert f"checkpoint: {legacy} (left here by an earlier version: still used" in again.stderr
    assert not (tmp_path / "state" / "checkpoints").exists()
