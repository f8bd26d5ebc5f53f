"""`replicate` without --checkpoint: the checkpoint lives in the state folder (printed at
start), nothing is left where the user stands, and an earlier version's file is still used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.local.sample import sample_items
from dynamodb_replicator.replicate.checkpoint import STATE_DIR_VARIABLE
from helpers import Endpoint, put_items

pytestmark = pytest.mark.moto


def _replicate(ddb: Endpoint, primary: str, replica: str) -> Any:
    args = [
        "replicate", f"{ddb.url}/{primary}", f"{ddb.url}/{replica}",
        "--until-caught-up", "--quiet-seconds", "0.5", "--max-seconds", "60",
    ]  # fmt: skip
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_default_checkpoint_is_kept_in_the_state_folder_and_no_lock_lingers(
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
    primary, replica = make_table(stream="NEW_AND_OLD_IMAGES"), make_table()
    put_items(ddb_client, primary, sample_items(5))
    result = _replicate(ddb, primary, replica)
    assert result.exit_code == 0, result.output
    assert list(here.iterdir()) == []  # nothing left where the user stands
    (saved,) = (state / "checkpoints").iterdir()
    assert saved.name.endswith(".checkpoint.json")
    assert f"checkpoint: {saved}" in result.stderr
    assert not Path(f"{saved}.lock").exists()


def test_an_earlier_versions_checkpoint_in_the_current_folder_is_used_and_named(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    primary, replica = make_table(stream="NEW_AND_OLD_IMAGES"), make_table()
    put_items(ddb_client, primary, sample_items(5))
    legacy = tmp_path / f"replicate-{primary}-{replica}.checkpoint.json"
    first = CliRunner().invoke(
        cli,
        [
            "replicate",
            f"{ddb.url}/{primary}",
            f"{ddb.url}/{replica}",
            "--until-caught-up",
            "--quiet-seconds",
            "0.5",
            "--checkpoint",
            str(legacy),
        ],
    )
    assert first.exit_code == 0, first.output
    again = _replicate(ddb, primary, replica)
    assert again.exit_code == 0, again.output
    assert f"checkpoint: {legacy} (left here by an earlier version: still used" in again.stderr
    assert "0 record(s)" in again.stdout  # resumed from it: nothing replayed
    assert not (tmp_path / "state").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "state") == [legacy.name]
