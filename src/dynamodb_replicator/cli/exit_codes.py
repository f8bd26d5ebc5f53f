"""The exit-code scheme every command shares, and the one place errors become exit codes."""

from __future__ import annotations

from enum import IntEnum

from ..errors import (
    BackupIntegrityError,
    ConfigError,
    GapError,
    JobInterrupted,
    PartialSegmentError,
    ReplicatorError,
    SegmentFailedError,
    UsageError,
)

__all__ = ["EXIT_CODES_HELP", "ExitCode", "exit_code_for", "exit_codes_help"]


class ExitCode(IntEnum):
    OK = 0
    FOUND = 1
    USAGE = 2
    FAILED = 3
    INTERRUPTED = 130


_SHARED_CODES = (
    "2 usage or configuration error, found before any work; "
    "3 failed while running (the message names the keys or segments); "
    "130 interrupted."
)


def exit_codes_help(ok: str, found: str | None = None) -> str:
    """The exit-code footer of one command's help: what 0 and 1 mean for *it*, then the
    codes every command shares. ``found`` ``None``: the command never exits 1."""
    one = f"1 {found}" if found else "1 not used by this command"
    return f"Exit codes: 0 {ok}; {one}; {_SHARED_CODES}"


#: The umbrella command's footer: the scheme every subcommand follows.
EXIT_CODES_HELP = exit_codes_help(
    "success (the job finished: tables agree, a backup is intact, ...)",
    "finished, but differences or damaged data remain",
)


def exit_code_for(exc: BaseException) -> ExitCode:
    """Map an error to the shared scheme."""
    if isinstance(exc, JobInterrupted | KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(exc, SegmentFailedError) and exc.cause is not None:
        inner = exit_code_for(exc.cause)
        return inner if inner in (ExitCode.USAGE, ExitCode.INTERRUPTED) else ExitCode.FAILED
    if isinstance(exc, PartialSegmentError) and exc.cause is not None:
        return exit_code_for(exc.cause)
    if isinstance(exc, BackupIntegrityError):
        return ExitCode.USAGE if exc.before_write else ExitCode.FAILED
    if isinstance(exc, GapError):  # --fail-on-gap stopped the job: data may be missing
        return ExitCode.FOUND
    if isinstance(exc, UsageError | ConfigError):
        return ExitCode.USAGE
    if isinstance(exc, ReplicatorError):
        return ExitCode.FAILED
    return ExitCode.FAILED
