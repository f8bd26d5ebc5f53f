"""``merge-results``: one report from the per-segment results of an array job.

The output, summary and exit code are those a single run of the whole job would give; a
segment with no result file, or whose result records a failure, makes it exit 3 naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from ..backup import StorageSpec, parse_source
from ..diff import format_discrepancy, summary_lines
from ..errors import SegmentFailedError
from ..results import MergedResults, merge_results, read_results
from .backup_cmd import backup_line, restore_line
from .diff_cmd import diff_exit_code
from .exit_codes import ExitCode, exit_codes_help
from .options import (
    CONTEXT_SETTINGS,
    CommonParams,
    S3Params,
    as_params,
    common_options,
    format_option,
    s3_option,
)
from .runner import run_job

__all__ = ["MergeResultsParams", "merge_results_command"]


def _print_diff(merged: MergedResults, fmt: str, quiet: bool) -> int:
    result = merged.diff_result()
    for d in result.discrepancies:
        click.echo(format_discrepancy(d, list(d.key), fmt))
    if not merged.complete:
        return ExitCode.FAILED
    if not quiet:
        backfill = bool(merged.detail("backfill", False))
        dry_run = bool(merged.detail("dry_run", False))
        for line in summary_lines(result, backfill=backfill, dry_run=dry_run):
            click.echo(line, err=True)
    return diff_exit_code(result)


def _int(counts: dict[str, float], name: str) -> int:
    return int(counts.get(name, 0))


def _print_backup(merged: MergedResults) -> None:
    counts = merged.counts()
    click.echo(
        backup_line(
            str(merged.detail("jobid", "")),
            str(merged.detail("location", "")),
            len(merged.finished()),
            _int(counts, "items"),
            _int(counts, "compressed_bytes"),
            _int(counts, "uncompressed_bytes"),
            max((r.duration for r in merged.finished()), default=0.0),
        )
    )


def _print_restore(merged: MergedResults) -> None:
    click.echo(
        restore_line(
            _int(merged.counts(), "items"),
            len(merged.finished()),
            str(merged.detail("source", "")),
            str(merged.detail("table", "")),
            False,
            max((r.duration for r in merged.finished()), default=0.0),
        )
    )


def _incomplete(merged: MergedResults) -> SegmentFailedError:
    names = sorted({*merged.missing, *merged.failed})
    problems = merged.problems()
    shown = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
    return SegmentFailedError(
        f"{len(names)} of {merged.total_segments} segment(s) did not finish: {shown}",
        segments=names,
        hint="re-run those segments (--segment N --results-dir DIR), then merge again",
    )


@dataclass(frozen=True, kw_only=True)
class MergeResultsParams(S3Params, CommonParams):
    """merge-results' parameters, as parsed."""

    directory: str
    segments: int | None
    fmt: str


@click.command(
    "merge-results",
    context_settings=CONTEXT_SETTINGS,
    epilog=exit_codes_help(
        "every segment finished (and, for diff-tables, the tables agree)",
        "a diff-tables job whose segments found differences",
    ),
)
@click.argument("directory", metavar="DIR")
@click.option(
    "--segments",
    type=click.IntRange(min=1),
    help="The job's segment count: names every missing segment even if no file arrived.",
)
@format_option("diff-tables discrepancy lines on stdout.")
@s3_option
@common_options
@as_params(MergeResultsParams)
def merge_results_command(params: MergeResultsParams) -> None:
    """Combine DIR/segment-<N>.json (written with --results-dir) into one report.

    DIR is a folder or s3://bucket/prefix. Prints what a single run of the whole job prints
    and exits with its code; exit 3 names any segment whose result is missing or failed.
    """

    def body() -> int:
        storage = StorageSpec(
            parse_source(params.directory), s3_endpoint_url=params.s3_endpoint_url
        )
        merged = merge_results(read_results(storage), expected_total=params.segments)
        code: int = ExitCode.OK
        if merged.command == "diff-tables":
            code = _print_diff(merged, params.fmt, params.quiet)
        elif merged.complete and merged.command == "backup-table":
            _print_backup(merged)
        elif merged.complete and merged.command == "restore-table":
            _print_restore(merged)
        if not merged.complete:
            raise _incomplete(merged)
        return code

    run_job(body, debug=params.debug, quiet=params.quiet)
