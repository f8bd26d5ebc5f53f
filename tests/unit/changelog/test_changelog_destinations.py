"""The change log's writers and readers take their locations by the project's one rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dynamodb_replicator.backup.layout import parse_destination
from dynamodb_replicator.changelog.lambda_writer import load_backup_config
from dynamodb_replicator.cli import changelog_cmd
from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.errors import ConfigError

SHARED_HINT = "./my-bucket/some-prefix for a local folder"


def test_the_changelog_keeps_no_copy_of_the_rule() -> None:
    assert not hasattr(changelog_cmd, "parse_log_destination")


@pytest.mark.parametrize(
    "text",
    ["s3://my-bucket/logs", "./logs", "../logs", "~/logs", "file:///tmp/logs", "/tmp/logs"],
)
def test_lambda_target_takes_every_explicit_form(text: str) -> None:
    config = load_backup_config({"BACKUP_TARGET": text})
    assert config.target == parse_destination(text)


@pytest.mark.parametrize("text", ["my-bucket/prefix", "logs", "my-bucket"])
def test_lambda_target_refuses_a_bare_name_with_the_shared_hint(text: str) -> None:
    with pytest.raises(ConfigError, match="neither an S3 location") as caught:
        load_backup_config({"BACKUP_TARGET": text})
    assert SHARED_HINT in (caught.value.hint or "")


def test_lambda_target_refuses_another_scheme() -> None:
    with pytest.raises(ConfigError, match="unsupported backup location"):
        load_backup_config({"BACKUP_TARGET": "https://example.com/logs"})


@pytest.mark.parametrize("text", ["my-bucket/prefix", "logs"])
def test_backup_changes_refuses_a_bare_target_with_the_shared_hint(text: str) -> None:
    result = CliRunner().invoke(cli, ["backup-changes", "localhost:1/table", text])
    assert result.exit_code == 2, result.output
    assert "neither an S3 location nor an explicit local folder" in result.output
    assert SHARED_HINT in result.output


def test_readers_take_an_existing_folder_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    result = CliRunner().invoke(cli, ["verify-changes", "logs"])
    assert "neither an S3 location" not in result.output
    missing = CliRunner().invoke(cli, ["verify-changes", "missing-bucket/logs"])
    assert missing.exit_code == 2
    assert "nor a local folder that exists" in missing.output
