"""The command group, the stand-alone names, and the shared exit-code scheme."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest
from click.testing import CliRunner

import dynamodb_replicator.cli
from dynamodb_replicator.cli import app
from dynamodb_replicator.cli.exit_codes import ExitCode, exit_code_for
from dynamodb_replicator.cli.runner import fail
from dynamodb_replicator.errors import (
    AwsError,
    BackupIntegrityError,
    ConfigError,
    GapError,
    JobInterrupted,
    NotCaughtUpError,
    RepairLimitError,
    RetriesExhaustedError,
    SegmentFailedError,
    TableNotFoundError,
    UsageError,
)

COMMANDS = [
    "diff-tables",
    "diff-record",
    "replicate-record",
    "backup-table",
    "restore-table",
    "verify-backup",
    "local",
    "demo",
]


def test_group_help_lists_commands_and_exit_codes() -> None:
    result = CliRunner().invoke(app.cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output
    assert "Exit codes" in result.output
    assert "130 interrupted" in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_exit_codes(name: str) -> None:
    result = CliRunner().invoke(app.cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Exit codes" in result.output


@pytest.mark.parametrize(
    "script", ["diff-tables", "backup-table", "restore-table", "diff-record", "replicate-record"]
)
def test_stand_alone_names_are_installed(script: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.argv=['{script}','--help'];"
            f"from dynamodb_replicator.cli import {script.replace('-', '_')}_main as m; m()",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"Usage: {script}" in done.stdout


def test_a_command_run_as_the_process_leaves_its_heap_to_the_os(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The entry points freeze the heap around the run, so the interpreter's exit does not walk
    botocore's models; the command still runs and exits as usual."""
    monkeypatch.setattr(sys, "argv", ["dynamodb-replicator", "--version"])
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit) as exited:
            dynamodb_replicator.cli.main()
        assert exited.value.code == 0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("bad"), ExitCode.USAGE),
        (ConfigError("bad"), ExitCode.USAGE),
        (TableNotFoundError("t", "us-east-1/t"), ExitCode.USAGE),
        (AwsError("boom"), ExitCode.FAILED),
        (RetriesExhaustedError("left", keys=[{"pk": {"S": "a"}}]), ExitCode.FAILED),
        (BackupIntegrityError("damaged", before_write=True), ExitCode.USAGE),
        (BackupIntegrityError("damaged", before_write=False), ExitCode.FAILED),
        (SegmentFailedError("seg", segments=[3], cause=AwsError("x")), ExitCode.FAILED),
        (SegmentFailedError("seg", segments=[3], cause=UsageError("x")), ExitCode.USAGE),
        (JobInterrupted("stop", done=[1]), ExitCode.INTERRUPTED),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
        (RuntimeError("bug"), ExitCode.FAILED),
    ],
)
def test_exit_code_scheme(error: BaseException, code: ExitCode) -> None:
    assert exit_code_for(error) == code


def test_errors_print_one_or_two_lines_and_name_the_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = RetriesExhaustedError(
        "BatchWriteItem on t: 2 key(s) left", keys=[{"pk": {"S": "a"}}, {"pk": {"B": b"\x00"}}]
    )
    assert fail(SegmentFailedError("segment 2 failed", segments=[2], cause=error), debug=False) == 3
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "error: segment 2 failed",
        '  keys not done: {"pk":{"S":"a"}} {"pk":{"B":"AA=="}}',
    ]
    assert fail(UsageError("bad --segment", hint="use 0 to 9"), debug=False) == 2
    assert capsys.readouterr().err.splitlines() == ["error: bad --segment", "  hint: use 0 to 9"]


def test_a_gap_is_a_finding_mapped_by_the_scheme(capsys: pytest.CaptureFixture[str]) -> None:
    """--fail-on-gap stops a follower with a GapError: exit 1 and a GAP line, from the shared
    scheme (no command catches it); the follower's other stops are failures (exit 3)."""
    gap = GapError("data lost to the stream's retention: shard s", hint="run diff-tables --repair")
    assert exit_code_for(gap) == ExitCode.FOUND
    assert fail(gap, debug=False) == 1
    assert capsys.readouterr().err.splitlines() == [
        "GAP: data lost to the stream's retention: shard s",
        "  hint: run diff-tables --repair",
    ]
    assert exit_code_for(NotCaughtUpError("not caught up")) == ExitCode.FAILED
    assert exit_code_for(RepairLimitError("over --max-writes")) == ExitCode.FAILED


def test_keys_are_named_from_deep_in_the_chain_of_causes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dynamodb_replicator.errors import PartialSegmentError

    error = RetriesExhaustedError("BatchGetItem on t: 1 key(s) left", keys=[{"pk": {"S": "z"}}])
    partial = PartialSegmentError(error.message, partial=None, cause=error)
    wrapped = SegmentFailedError("segment 1 failed", segments=[1], cause=partial)
    assert fail(wrapped, debug=False) == 3
    assert capsys.readouterr().err.splitlines()[1] == '  keys not done: {"pk":{"S":"z"}}'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diff-tables", "localhost:1/aaa", "localhost:1/bbb", "--segments", "0"], "--segments 0"),
        (["backup-table", "localhost:1/aaa", "/tmp/x", "--resume"], "--resume needs the --jobid"),
        (
            ["diff-tables", "localhost:1/aaa", "localhost:1/bbb", "--segment", "3"],
            "needs --segments",
        ),
    ],
)
def test_option_mistakes_are_usage_errors_before_any_call(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app.cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_command_imports_only_its_own_module() -> None:
    """Start-up is part of every run: the group loads a command's module when it is asked for."""
    probe = (
        "import sys\n"
        "from dynamodb_replicator.cli import app\n"
        "before = sorted(m for m in sys.modules if m.endswith('_cmd'))\n"
        "app.cli.commands['restore-table']\n"
        "after = sorted(m for m in sys.modules if m.endswith('_cmd'))\n"
        "print(before, after)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    before, _, after = out.strip().partition("] [")
    assert before == "["
    assert "dynamodb_replicator.cli.backup_cmd" in after
    assert "dynamodb_replicator.cli.replicate_cmd" not in after
    assert "dynamodb_replicator.cli.changelog_cmd" not in after


def test_every_listed_command_loads_under_its_own_name() -> None:
    for name, (module, attribute) in app.COMMANDS.items():
        command = app.cli.commands[name]
        assert command.name == name, (module, attribute)
    assert list(app.cli.commands) == list(app.COMMANDS)
