"""Where replicate keeps its checkpoint by default, and a lock file that never lingers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import pytest

from dynamodb_replicator.errors import ConfigError
from dynamodb_replicator.replicate import checkpoint as checkpoint_module
from dynamodb_replicator.replicate.checkpoint import (
    STATE_DIR_VARIABLE,
    CheckpointState,
    FileCheckpoint,
    ShardCheckpoint,
    default_checkpoint,
)

STATE = CheckpointState("arn:s", {"a": ShardCheckpoint("12", True)})


def test_release_removes_the_lock_file_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    store = FileCheckpoint(tmp_path / "cp.json")
    store.acquire()
    assert store.lock_path.exists()
    store.save(STATE)
    store.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json"]
    store.acquire()  # and the next run locks a fresh file
    store.release()
    assert not store.lock_path.exists()


def test_a_lock_on_a_file_removed_meanwhile_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Follower B opens the lock file; A releases (unlinks) it and C creates a new one before
    B locks: B must end up locking the file at the path, so C's twin D is refused."""
    lock_path = tmp_path / "cp.json.lock"
    lock_path.write_text("")
    opened = 0

    def racing_open(path: Any, *args: Any, **kwargs: Any) -> IO[str]:
        nonlocal opened
        handle: IO[str] = open(path, *args, **kwargs)  # noqa: SIM115
        opened += 1
        if opened == 1:  # between B's open and B's lock: the file is replaced
            os.unlink(lock_path)
            lock_path.write_text("")
        return handle

    b = FileCheckpoint(tmp_path / "cp.json", holder="b")
    monkeypatch.setattr(checkpoint_module, "open", racing_open, raising=False)
    b.acquire()
    monkeypatch.undo()
    assert opened == 2
    assert b._lock is not None
    locked, at_path = os.fstat(b._lock.fileno()), os.stat(lock_path)
    assert (locked.st_dev, locked.st_ino) == (at_path.st_dev, at_path.st_ino)
    with pytest.raises(ConfigError, match="in use by another follower: b"):
        FileCheckpoint(tmp_path / "cp.json", holder="d").acquire()
    b.release()
    assert not lock_path.exists()


def test_default_checkpoint_is_in_the_state_folder(tmp_path: Path) -> None:
    state, cwd = tmp_path / "state", tmp_path / "here"
    cwd.mkdir()
    env = {STATE_DIR_VARIABLE: str(state)}
    where = default_checkpoint("primary", "replica", "us-east-1/primary", "eu-west-2/replica",
                               environ=env, cwd=cwd)  # fmt: skip
    assert not where.legacy
    assert where.path.parent == state / "checkpoints"
    assert where.path.name.startswith("replicate-primary-replica-")
    elsewhere = default_checkpoint("primary", "replica", "eu-west-1/primary", "eu-west-2/replica",
                                   environ=env, cwd=cwd)  # fmt: skip
    assert elsewhere.path != where.path  # same names, other region: another checkpoint


def test_without_an_override_the_user_state_folder_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_state_path", lambda app: tmp_path / "user" / app)
    where = default_checkpoint("p", "r", "a/p", "a/r", environ={}, cwd=tmp_path)
    assert where.path.parent == tmp_path / "user" / "dynamodb-replicator" / "checkpoints"


def test_an_earlier_versions_checkpoint_in_the_current_folder_is_still_used(
    tmp_path: Path,
) -> None:
    legacy = tmp_path / "replicate-primary-replica.checkpoint.json"
    legacy.write_text("{}")
    env = {STATE_DIR_VARIABLE: str(tmp_path / "state")}
    where = default_checkpoint("primary", "replica", "a/primary", "a/replica",
                               environ=env, cwd=tmp_path)  # fmt: skip
    assert where.legacy
    assert where.path == legacy


def test_backup_changes_default_checkpoint_shares_the_rule(tmp_path: Path) -> None:
    env = {STATE_DIR_VARIABLE: str(tmp_path / "state")}
    where = default_checkpoint("orders", "", "us-east-1/orders", "s3://b/logs",
                               environ=env, cwd=tmp_path, command="backup-changes")  # fmt: skip
    assert where.path.parent == tmp_path / "state" / "checkpoints"
    assert where.path.name.startswith("backup-changes-orders-")
    other = default_checkpoint("orders", "", "us-east-1/orders", "s3://b/other-logs",
                               environ=env, cwd=tmp_path, command="backup-changes")  # fmt: skip
    assert other.path != where.path  # another log: another checkpoint
    (tmp_path / "backup-changes-orders.checkpoint.json").write_text("{}")
    legacy = default_checkpoint("orders", "", "us-east-1/orders", "s3://b/logs",
                                environ=env, cwd=tmp_path, command="backup-changes")  # fmt: skip
    assert legacy.legacy
    assert legacy.path == tmp_path / "backup-changes-orders.checkpoint.json"
