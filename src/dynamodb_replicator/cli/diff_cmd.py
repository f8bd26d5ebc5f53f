"""``diff-tables``, ``diff-record`` and ``replicate-record``.

The seed's command lines keep working as written::

    diff-tables us-east-1/primary eu-west-2/replica
    diff-tables us-east-1/primary eu-west-2/replica --repair
    diff-tables us-east-1/primary eu-west-2/new-replica --backfill --repair
    diff-tables us-east-1/primary eu-west-2/replica --repair --segment 0 --segments 10

Scale-out: ``--dask-scheduler`` runs the segments on a Dask cluster; ``--segment auto
--results-dir DIR`` runs one segment of an array job and ``merge-results DIR`` combines them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import click

from ..diff import (
    DiffOptions,
    DiffResult,
    Discrepancy,
    RecordComparison,
    RecordCopy,
    RepairLimitError,
    compare_record,
    copy_record,
    format_discrepancy,
    run_diff,
    summary_lines,
)
from ..errors import RetriesExhaustedError
from ..items import Item, encode_item, encode_key_for_report
from ..results import diff_segment_result, failed_segment_result
from .exit_codes import ExitCode, exit_codes_help
from .options import (
    ADDRESS_HELP,
    CONTEXT_SETTINGS,
    RATE,
    ClusterParams,
    CommonParams,
    GiveUpParams,
    PairParams,
    ResultsParams,
    SegmentParams,
    as_params,
    cluster_options,
    common_options,
    endpoint_options,
    engine_from_options,
    format_option,
    give_up_option,
    parse_segment_options,
    results_dir_from_options,
    results_options,
    segment_options,
    side_auth_options,
)
from .progress_ui import progress_display
from .runner import run_job
from .segment_results import recording

__all__ = [
    "DiffRecordParams",
    "DiffTablesParams",
    "ReplicateRecordParams",
    "diff_exit_code",
    "diff_record",
    "diff_tables",
    "replicate_record",
]


def _ignore_list(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _echo_summary(result: DiffResult, options: DiffOptions, quiet: bool) -> None:
    if quiet:
        return
    for line in summary_lines(result, backfill=options.backfill, dry_run=options.dry_run):
        click.echo(line, err=True)


def _echo_stopped(result: DiffResult, options: DiffOptions, quiet: bool) -> None:
    """The summary of a run that stopped early (failed or interrupted): what it had done."""
    if quiet:
        return
    click.echo("stopped early; the counts below cover only the work that completed:", err=True)
    _echo_summary(result, options, quiet)


def diff_exit_code(result: DiffResult) -> int:
    """0 when the tables agree, 1 when discrepancies remain; raises (exit 3) for failed keys."""
    failed = result.failed_keys
    if failed:
        raise RetriesExhaustedError(
            f"{len(failed)} repair(s) could not be written after bounded retries",
            keys=failed,
            hint="the replica is throttling or failing; lower --rate-write and run again",
        )
    return int(ExitCode.OK if result.agree else ExitCode.FOUND)


@dataclass(frozen=True, kw_only=True)
class DiffTablesParams(
    PairParams, SegmentParams, ClusterParams, ResultsParams, GiveUpParams, CommonParams
):
    """diff-tables' parameters, as parsed."""

    repair: bool
    backfill: bool
    overwrite: bool
    dry_run: bool
    recheck_delay: float
    ignore_attributes: str | None
    method: str
    window: int
    max_writes: int | None
    max_deletes: int | None
    rate_read: float | None
    rate_write: float | None
    fmt: str


@click.command(
    "diff-tables",
    context_settings=CONTEXT_SETTINGS,
    epilog=f"{ADDRESS_HELP}\n\n"
    + exit_codes_help("the tables agree (after the repairs, with --repair)", "differences remain"),
)
@click.argument("primary")
@click.argument("replica")
@click.option("--repair", is_flag=True, help="Fix discrepancies in the replica table.")
@click.option(
    "--backfill",
    is_flag=True,
    help="Only scan the primary and write every item to the replica (put-if-absent).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="With --backfill: plain batch writes (only when nothing else writes the replica).",
)
@click.option("--dry-run", is_flag=True, help="Report what would be written; write nothing.")
@click.option(
    "--recheck-delay",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds to wait before re-checking candidates with consistent reads.",
)
@click.option(
    "--ignore-attributes",
    metavar="A,B",
    help="Attributes (globs allowed, e.g. 'aws:rep:*') left out of comparison and repair.",
)
@click.option(
    "--method",
    type=click.Choice(["scan-both", "lookup"]),
    default="scan-both",
    show_default=True,
    help="scan-both: read each table once, matching items by key (unmatched keys are looked "
    "up); lookup: scan each table and batch-get every page's keys from the other.",
)
@click.option(
    "--window",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="scan-both: unmatched items held per table side (bounds memory).",
)
@click.option(
    "--max-writes",
    type=click.IntRange(min=0),
    help="Refuse a repair needing more puts than this.",
)
@click.option(
    "--max-deletes",
    type=click.IntRange(min=0),
    help="Refuse a repair needing more deletes than this.",
)
@click.option(
    "--rate-read",
    type=RATE,
    help="Read capacity units per second per table (job).",
)
@click.option("--rate-write", type=RATE, help="Write capacity units per second (job).")
@format_option("Discrepancy lines on stdout.")
@give_up_option
@segment_options
@cluster_options
@results_options
@side_auth_options("primary", "replica")
@endpoint_options
@common_options
@as_params(DiffTablesParams)
def diff_tables(params: DiffTablesParams) -> None:
    """Compare PRIMARY with REPLICA and report missing, different and extraneous items.

    One line per discrepancy on stdout; a summary on stderr.
    """

    def body() -> int:
        run, total, workers = parse_segment_options(params.segment, params.segments, params.workers)
        options = DiffOptions(
            repair=params.repair,
            backfill=params.backfill,
            overwrite=params.overwrite,
            dry_run=params.dry_run,
            ignore_attributes=_ignore_list(params.ignore_attributes),
            recheck_delay=params.recheck_delay,
            max_writes=params.max_writes,
            max_deletes=params.max_deletes,
            rate_read=params.rate_read,
            rate_write=params.rate_write,
            method=params.method,
            window=params.window,
        )
        p_spec, r_spec = params.specs(give_up_after=params.give_up_after)
        results_dir = results_dir_from_options(params, run if params.segment is not None else None)
        engine = engine_from_options(params)
        job = f"diff-tables {p_spec.address} -> {r_spec.address}"
        quiet = params.quiet

        def show(d: Discrepancy) -> None:
            click.echo(format_discrepancy(d, list(d.key), params.fmt))

        failed = partial(failed_segment_result, "diff-tables", job, run[0], total)
        with recording(results_dir, failed) as record:
            try:
                with progress_display(quiet) as listener:
                    result = run_diff(
                        p_spec,
                        r_spec,
                        options,
                        segments=run,
                        total_segments=total,
                        workers=workers,
                        progress=listener,
                        on_discrepancy=show,
                        engine=engine,
                        on_stopped=lambda so_far: _echo_stopped(so_far, options, quiet),
                    )
            except RepairLimitError as exc:
                if isinstance(exc.result, DiffResult):
                    _echo_summary(exc.result, options, quiet)
                raise
            record(
                diff_segment_result(
                    job, run[0], total, result, backfill=options.backfill, dry_run=options.dry_run
                )
            )
        _echo_summary(result, options, quiet)
        return diff_exit_code(result)

    run_job(body, debug=params.debug, quiet=params.quiet)


# --- single records ----------------------------------------------------------------------------


def _shown(item: Item | None) -> str:
    return encode_item(item) if item is not None else "(absent)"


def _print_comparison(found: RecordComparison) -> int:
    """diff-record's lines: the key, both sides, then how they differ; its exit code."""
    click.echo(f"key:     {encode_key_for_report(found.key, found.key_names)}")
    click.echo(f"primary: {_shown(found.primary)}")
    click.echo(f"replica: {_shown(found.replica)}")
    if found.diff is None:
        click.echo(
            "equal (absent on both sides)" if found.equal else "different: present on one side only"
        )
    elif found.equal:
        click.echo("equal")
    else:
        for label, names in (
            ("changed", found.diff.changed),
            ("only in primary", found.diff.removed),
            ("only in replica", found.diff.added),
        ):
            if names:
                click.echo(f"{label}: {', '.join(names)}")
    return int(ExitCode.OK if found.equal else ExitCode.FOUND)


def _print_copy(done: RecordCopy) -> None:
    shown = encode_key_for_report(done.key, done.key_names)
    click.echo(
        {"put": "put", "deleted": "deleted", "absent": "absent on both sides"}[done.action]
        + f" {shown}"
    )


@dataclass(frozen=True, kw_only=True)
class DiffRecordParams(PairParams, CommonParams):
    """diff-record's parameters, as parsed."""

    key: str
    ignore_attributes: str | None


@dataclass(frozen=True, kw_only=True)
class ReplicateRecordParams(PairParams, CommonParams):
    """replicate-record's parameters, as parsed."""

    key: str


@click.command(
    "diff-record",
    context_settings=CONTEXT_SETTINGS,
    epilog=f"{ADDRESS_HELP}\n\n"
    + exit_codes_help("the item is equal on both sides (or absent on both)", "it differs"),
)
@click.argument("primary")
@click.argument("replica")
@click.argument("key")
@click.option("--ignore-attributes", metavar="A,B", help="Attributes left out of the comparison.")
@side_auth_options("primary", "replica")
@endpoint_options
@common_options
@as_params(DiffRecordParams)
def diff_record(params: DiffRecordParams) -> None:
    """Show one item on both sides and how they differ (exit 0 equal, 1 different).

    KEY is JSON: wire format ('{"pk": {"S": "a"}}') or plain values typed by the table's key
    schema ('{"pk": "a", "sk": 5}').
    """

    def body() -> int:
        p_spec, r_spec = params.specs()
        found = compare_record(
            p_spec, r_spec, params.key, ignore_attributes=_ignore_list(params.ignore_attributes)
        )
        return _print_comparison(found)

    run_job(body, debug=params.debug, quiet=params.quiet)


@click.command(
    "replicate-record",
    context_settings=CONTEXT_SETTINGS,
    epilog=f"{ADDRESS_HELP}\n\n"
    + exit_codes_help("the replica's item now matches the primary's (put, deleted or absent)"),
)
@click.argument("primary")
@click.argument("replica")
@click.argument("key")
@side_auth_options("primary", "replica")
@endpoint_options
@common_options
@as_params(ReplicateRecordParams)
def replicate_record(params: ReplicateRecordParams) -> None:
    """Copy one item from PRIMARY to REPLICA (or delete it there if the primary lacks it).

    Reads the primary consistently, then puts (or deletes) the item on the replica.
    """

    def body() -> int:
        p_spec, r_spec = params.specs()
        _print_copy(copy_record(p_spec, r_spec, params.key))
        return int(ExitCode.OK)

    run_job(body, debug=params.debug, quiet=params.quiet)
