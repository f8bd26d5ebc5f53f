"""What a new user trips over first: ``-h`` everywhere, per-command exit-code footers, human
sizes, range errors with a hint, and destinations that cannot be a forgotten ``s3://``."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from dynamodb_replicator.backup import Location, parse_destination, parse_source
from dynamodb_replicator.cli import app
from dynamodb_replicator.cli.backup_cmd import backup_line, human_size
from dynamodb_replicator.errors import UsageError

REPO = Path(__file__).resolve().parents[3]
SCRIPTS: dict[str, str] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
SUBCOMMANDS = sorted(app.cli.commands)
HINT = "write s3://my-bucket/some-prefix for S3, or ./my-bucket/some-prefix for a local folder"


# --- -h on every command ----------------------------------------------------------------------


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_takes_dash_h(name: str) -> None:
    result = CliRunner().invoke(app.cli, [name, "-h"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_command_takes_dash_h_on_its_own(name: str) -> None:
    """The command object run by itself, as the stand-alone scripts run it."""
    result = CliRunner().invoke(app.cli.commands[name], ["-h"], prog_name=name)
    assert result.exit_code == 0, result.output
    assert f"Usage: {name}" in result.output


@pytest.mark.parametrize(("script", "target"), sorted(SCRIPTS.items()))
def test_every_installed_script_takes_dash_h(script: str, target: str) -> None:
    module, _, function = target.partition(":")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.argv=[{script!r}, '-h']; from {module} import {function}; "
            f"{function}()",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"Usage: {script}" in done.stdout


# --- exit-code footers ------------------------------------------------------------------------


def _footer(name: str) -> str:
    command = app.cli.commands[name]
    assert command.epilog is not None
    return " ".join(command.epilog.split("Exit codes:", 1)[1].split())


@pytest.mark.parametrize(
    ("name", "zero"),
    [
        ("diff-tables", "0 the tables agree"),
        ("diff-record", "0 the item is equal"),
        ("replicate-record", "0 the replica's item now matches"),
        ("replicate", "0 caught up"),
        ("backup-table", "0 the backup is complete"),
        ("restore-table", "0 every item of the backup was written"),
        ("verify-backup", "0 backup intact"),
        ("merge-results", "0 every segment finished"),
        ("demo", "0 every step of the story"),
        ("local", "0 stopped with Ctrl-C"),
    ],
)
def test_each_footer_says_what_0_and_1_mean_for_that_command(name: str, zero: str) -> None:
    footer = _footer(name)
    assert footer.startswith(zero), footer
    assert "; 1 " in footer
    assert "130 interrupted" in footer
    if name not in ("diff-tables", "merge-results"):
        assert "tables agree" not in footer, footer


def test_commands_that_never_exit_1_say_so() -> None:
    for name in ("backup-table", "replicate-record", "demo", "local"):
        assert "1 not used by this command" in _footer(name)


def test_restore_says_1_means_items_the_backup_lacks() -> None:
    assert "1 restored, but TABLE still holds items the backup lacks" in _footer("restore-table")


# --- human sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 KB"),
        (4_321, "4.3 KB"),
        (999_949, "999.9 KB"),
        (1_500_000, "1.5 MB"),
        (2_000_000_000, "2.0 GB"),
        (5 * 10**15, "5000.0 TB"),
    ],
)
def test_human_sizes(size: int, text: str) -> None:
    assert human_size(size) == text


def test_a_small_backup_does_not_read_as_zero_megabytes() -> None:
    line = backup_line("j", "./b/j", 1, 3, 180, 612, 0.1)
    assert "180 B gzip (612 B JSON)" in line
    assert "0.0 MB" not in line


# --- --workers 0 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["diff-tables", "localhost:1/aaa", "localhost:1/bbb", "--segments", "2"],
        ["backup-table", "localhost:1/aaa", "./b", "--segments", "2"],
        ["restore-table", "./b/j", "localhost:1/aaa"],
        ["verify-backup", "./b/j"],
    ],
)
def test_workers_zero_is_a_usage_error_that_names_the_range(args: list[str]) -> None:
    result = CliRunner().invoke(app.cli, [*args, "--workers", "0"])
    assert result.exit_code == 2, result.output
    assert "--workers" in result.output
    assert "0 is not in the range x>=1" in result.output
    assert "--help' for help" in result.output


# --- destinations and sources -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["./dir", "../dir", "/abs/dir", "~/dir", "file:///abs/dir", ".", "~"]
)
def test_explicit_local_folders_are_destinations(text: str) -> None:
    assert parse_destination(text).kind == "folder"


def test_s3_destinations() -> None:
    assert parse_destination("s3://my-bucket/some-prefix") == Location(
        "s3", "some-prefix", "my-bucket"
    )


@pytest.mark.parametrize("text", ["my-bucket/some-prefix", "my-bucket", "backups", "", "s3:/b/p"])
def test_a_destination_that_could_be_a_forgotten_s3_is_refused(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_destination(text)
    assert caught.value.hint == HINT


def test_a_source_that_exists_locally_is_accepted_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "backups" / "job").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert parse_source("backups/job") == Location("folder", str(tmp_path / "backups" / "job"))
    with pytest.raises(UsageError) as caught:
        parse_source("my-bucket/some-prefix")
    assert caught.value.hint == HINT
    with pytest.raises(UsageError):
        parse_destination("backups/job")  # it exists, but a destination must be explicit


@pytest.mark.parametrize(
    "args",
    [
        ["backup-table", "us-east-1/primary", "my-bucket/some-prefix"],
        ["backup-table", "us-east-1/primary", "my-bucket/some-prefix", "--jobid", "my-job-id"],
        [
            "diff-tables",
            "localhost:1/aaa",
            "localhost:1/bbb",
            "--segment",
            "0",
            "--segments",
            "2",
            "--results-dir",
            "results",
        ],
        ["restore-table", "my-bucket/some-prefix/my-job-id", "us-east-1/copy"],
        ["verify-backup", "my-bucket/some-prefix/my-job-id"],
        ["merge-results", "results"],
    ],
)
def test_commands_refuse_a_forgotten_s3_before_any_work(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app.cli, args)
    assert result.exit_code == 2, result.output
    assert "s3://my-bucket/some-prefix" in result.output
    assert "./my-bucket/some-prefix" in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written where the user stands


def test_the_original_tools_command_lines_still_parse() -> None:
    """The seed README's s3:// destinations parse as the original tool's users type them."""
    for args in (
        ["us-east-1/primary", "s3://my-bucket/some-prefix"],
        ["us-east-1/primary", "s3://my-bucket/some-prefix", "--jobid", "my-job-id"],
    ):
        command = app.cli.commands["backup-table"]
        with command.make_context("backup-table", list(args)) as ctx:
            assert ctx.params["destination"] == args[1]
