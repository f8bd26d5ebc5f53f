"""``backup-table``, ``restore-table`` and ``verify-backup``: argument parsing and printing only.

The jobs themselves live in :mod:`dynamodb_replicator.backup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import click

from ..backup import (
    AgainstReport,
    BackupRequest,
    BackupSummary,
    RestoreRequest,
    RestoreSummary,
    StorageSpec,
    VerifyReport,
    check_jobid,
    compare_with_table,
    parse_destination,
    parse_source,
    run_backup,
    run_restore,
    run_verify,
)
from ..backup.extraneous import ExtraAction
from ..diff import Discrepancy, format_discrepancy, summary_lines
from ..dynamo import RateSpec
from ..items import Key, encode_key_for_report
from ..results import (
    SegmentResult,
    backup_segment_result,
    failed_segment_result,
    restore_failed_result,
    restore_segment_result,
)
from .diff_cmd import diff_exit_code
from .exit_codes import ExitCode, exit_codes_help
from .options import (
    ADDRESS_HELP,
    CONTEXT_SETTINGS,
    RATE,
    SEGMENT,
    ClusterParams,
    CommonParams,
    EndpointParams,
    GiveUpParams,
    ResultsParams,
    S3Params,
    SegmentParams,
    as_params,
    cluster_options,
    common_options,
    endpoint_options,
    engine_from_options,
    format_option,
    give_up_option,
    parse_segment_options,
    resolve_segment,
    results_dir_from_options,
    results_options,
    s3_option,
    segment_options,
    table_spec,
)
from .pitr_cmd import PointInTimeOptions, point_in_time_options, restore_at_time
from .progress_ui import progress_display
from .runner import run_job
from .segment_results import recording

__all__ = [
    "BackupTableParams",
    "RestoreTableParams",
    "VerifyBackupParams",
    "backup_line",
    "backup_table",
    "human_size",
    "restore_line",
    "restore_table",
    "verify_backup",
]

LOCATION_HELP = (
    "Backup locations: s3://bucket or s3://bucket/prefix, or a local folder written so it "
    "cannot be a forgotten s3:// (./dir, ../dir, /abs/dir, ~/dir or file:///path; a backup to "
    "read may also be any folder that exists). "
    "A job lives at <location>/<jobid>/: _started, then per segment <N> (gzip JSON Lines) "
    "and <N>.manifest.json."
)


def human_size(size: int) -> str:
    """``size`` bytes in the largest decimal unit that keeps it >= 1 (``512 B``, ``4.2 KB``,
    ``1.3 MB``, ``2.0 GB``), so a small backup does not read as ``0.0 MB``."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def _source(location: str, s3_endpoint_url: str | None) -> StorageSpec:
    return StorageSpec(parse_source(location), s3_endpoint_url=s3_endpoint_url)


# --- backup-table -----------------------------------------------------------------------------


def backup_line(
    jobid: str,
    location: str,
    segments: int,
    items: int,
    compressed: int,
    uncompressed: int,
    seconds: float,
) -> str:
    """The line a finished backup prints (a single run and a merge of array jobs alike)."""
    return (
        f"backup complete: jobid {jobid} at {location}: {segments} segment(s), "
        f"{items} items, {human_size(compressed)} gzip ({human_size(uncompressed)} JSON), {seconds:.1f}s"
    )


def _print_backup(summary: BackupSummary) -> None:
    for segment, manifest in sorted(summary.skipped.items()):
        click.echo(f"segment {segment}: kept (--resume; {manifest.item_count} items)")
    done = len(summary.segments) + len(summary.skipped)
    click.echo(
        backup_line(
            summary.jobid,
            summary.location,
            done,
            summary.items,
            summary.compressed_bytes,
            summary.uncompressed_bytes,
            summary.seconds,
        )
    )
    click.echo(summary.calls.describe(), err=True)


@dataclass(frozen=True, kw_only=True)
class BackupTableParams(
    EndpointParams,
    SegmentParams,
    ClusterParams,
    ResultsParams,
    GiveUpParams,
    S3Params,
    CommonParams,
):
    """backup-table's parameters, as parsed."""

    table: str
    destination: str
    jobid: str | None
    resume: bool
    consistent: bool
    rate_read: float | None
    sse: str | None
    sse_kms_key_id: str | None


@click.command(
    "backup-table",
    context_settings=CONTEXT_SETTINGS,
    epilog=f"{ADDRESS_HELP}\n\n{LOCATION_HELP}\n\n"
    + exit_codes_help("the backup is complete: every segment and its manifest written"),
)
@click.argument("table")
@click.argument("destination")
@click.option("--jobid", help="Assign a jobid to this backup (default: a random one).")
@segment_options
@cluster_options
@results_options
@click.option("--resume", is_flag=True, help="Skip segments whose manifest matches its object.")
@click.option(
    "--consistent",
    is_flag=True,
    help="Strongly consistent scan reads (twice the read capacity): each page holds every "
    "write acknowledged before it was read.",
)
@click.option("--rate-read", type=RATE, help="Read capacity units/s for the whole job.")
@click.option(
    "--sse",
    type=click.Choice(["AES256", "aws:kms"]),
    help="S3 server-side encryption of the backup's objects (and of the --results-dir result).",
)
@click.option("--sse-kms-key-id", help="KMS key for --sse aws:kms (implies it).")
@s3_option
@give_up_option
@endpoint_options
@common_options
@as_params(BackupTableParams)
def backup_table(params: BackupTableParams) -> None:
    """Scan TABLE and write gzip JSON Lines to DESTINATION (s3://bucket/prefix or a folder).

    One object per segment at DESTINATION/JOBID/SEGMENT, plus a manifest each. With --segments
    M and no --segment, all M segments run here in --workers processes under one jobid. A
    scan backup is not a point-in-time snapshot: writes during the scan may or may not appear.
    """

    def body() -> int:
        check_jobid(
            params.jobid,
            resume=params.resume,
            shared=params.segment == "auto" or bool(params.results_dir),
        )
        run, total, workers = parse_segment_options(params.segment, params.segments, params.workers)
        sse = params.sse or ("aws:kms" if params.sse_kms_key_id else None)
        results_dir = results_dir_from_options(
            params,
            run if params.segment is not None else None,
            params.s3_endpoint_url,
            sse=sse,
            sse_kms_key_id=params.sse_kms_key_id,
        )
        spec = table_spec(
            params.table,
            region=params.region,
            endpoint_url=params.endpoint_url,
            give_up_after=params.give_up_after,
        )
        job = f"backup-table {spec.address} -> {params.destination} jobid {params.jobid}"
        request = BackupRequest(
            table=spec,
            destination=StorageSpec(
                parse_destination(params.destination),
                s3_endpoint_url=params.s3_endpoint_url,
                sse=sse,
                sse_kms_key_id=params.sse_kms_key_id,
            ),
            jobid=params.jobid,
            segments=tuple(run),
            total_segments=total,
            workers=workers if params.segment is None else 1,
            rate=RateSpec(read=params.rate_read),
            resume=params.resume,
            consistent=params.consistent,
        )
        engine = engine_from_options(params)
        failed = partial(failed_segment_result, "backup-table", job, run[0], total)
        with recording(results_dir, failed) as record:
            with progress_display(params.quiet) as listener:
                summary = run_backup(request, progress=listener, engine=engine)
            record(backup_segment_result(job, run[0], total, summary))
        _print_backup(summary)
        return ExitCode.OK

    run_job(body, debug=params.debug, quiet=params.quiet)


# --- restore-table ----------------------------------------------------------------------------


def restore_line(
    items: int, segments: int, source: str, table: str, created: bool, seconds: float
) -> str:
    """The line a finished restore prints (a single run and a merge of array jobs alike)."""
    made = " (created)" if created else ""
    return (
        f"restore complete: {items} items from {segments} segment(s) of {source} into "
        f"{table}{made}, {seconds:.1f}s"
    )


def _print_restore(summary: RestoreSummary) -> int:
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        restore_line(
            summary.items,
            len(summary.segments),
            summary.source.storage.location.url(),
            summary.table,
            summary.created,
            summary.seconds,
        )
    )
    click.echo(summary.calls.describe(), err=True)
    extra = summary.extraneous
    if extra is None:
        return ExitCode.OK
    click.echo(
        f"extraneous: {summary.table} holds {extra.extraneous} item(s) the backup lacks "
        f"(of {extra.scanned} scanned); deleted {extra.deleted}, remaining {extra.remaining}",
        err=True,
    )
    if extra.remaining:
        click.echo(
            "hint: restore-table ... --force --delete-extraneous makes the table equal to the "
            "backup (conditional deletes: an item changed meanwhile is kept)",
            err=True,
        )
        return ExitCode.FOUND
    return ExitCode.OK


def _extraneous_key(key: Key, action: ExtraAction) -> None:
    """One ``[extraneous]`` line per table item the backup lacks, as diff-tables prints it."""
    suffix = "" if action is ExtraAction.FOUND else f" ({action.value})"
    click.echo(f"[extraneous] {encode_key_for_report(key, list(key))}{suffix}")


@dataclass(frozen=True, kw_only=True)
class RestoreTableParams(
    EndpointParams, ClusterParams, ResultsParams, GiveUpParams, S3Params, CommonParams
):
    """restore-table's parameters, as parsed."""

    source: str
    table: str | None
    create: bool
    force: bool
    verify_first: bool
    delete_extraneous: bool
    segment: str | None
    workers: int | None
    rate_write: float | None
    billing_mode: str | None
    sse_kms_key_id: str | None
    ttl: bool
    changes: str | None
    to_time: str | None
    margin: int
    latest_backup: str | None
    assume_window: tuple[str, str] | None
    key: str | None
    dry_run: bool


@click.command(
    "restore-table",
    context_settings=CONTEXT_SETTINGS,
    epilog=f"{ADDRESS_HELP}\n\n{LOCATION_HELP}\n\n"
    + exit_codes_help(
        "every item of the backup was written to TABLE, counts and checksums matched",
        "restored, but TABLE still holds items the backup lacks (each listed; "
        "--delete-extraneous removes them)",
    ),
)
@click.argument("source", metavar="[SOURCE]")
@click.argument("table", required=False, metavar="TABLE")
@click.option("--create", is_flag=True, help="Create TABLE from the backup's manifest.")
@click.option("--force", is_flag=True, help="Restore into a table that already holds items.")
@click.option("--verify-first", is_flag=True, help="Verify every object before writing anything.")
@click.option(
    "--delete-extraneous",
    is_flag=True,
    help="After the restore, delete the table's items that the backup lacks (conditional "
    "deletes), so the table equals the backup.",
)
@click.option(
    "--segment",
    type=SEGMENT,
    help="Restore only this segment (TABLE must exist); 'auto' takes it from "
    "AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX (array jobs).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes for the segments (default 1).",
)
@click.option("--rate-write", type=RATE, help="Write capacity units/s for the whole job.")
@cluster_options
@results_options
@click.option(
    "--billing-mode",
    type=click.Choice(["PAY_PER_REQUEST", "PROVISIONED"], case_sensitive=False),
    help="With --create: override the backup's billing mode.",
)
@click.option("--sse-kms-key-id", help="With --create: encrypt the new table with this KMS key.")
@click.option(
    "--ttl/--no-ttl",
    default=True,
    show_default=True,
    help="With --create: enable TTL as the backup's table had it. DynamoDB then deletes restored "
    "items whose TTL time has passed; --no-ttl keeps them (enable TTL yourself later).",
)
@point_in_time_options
@s3_option
@give_up_option
@endpoint_options
@common_options
@as_params(RestoreTableParams)
def restore_table(params: RestoreTableParams) -> None:
    """Restore a backup job (or one segment object) from SOURCE into TABLE.

    The listing, manifests and sizes are checked before anything is written, and each
    segment's SHA-256 and item count before any of its items is written (it is spooled to
    TMPDIR meanwhile): a damaged segment writes nothing. After --force into a table that held
    items, the items the backup lacks are listed (exit 1 while any remain; --delete-extraneous
    deletes them). Backups of the original tool (no manifests) restore with a warning.
    """

    def body() -> int:
        at_time = PointInTimeOptions(
            changes=params.changes,
            to_time=params.to_time,
            margin=params.margin,
            latest_backup=params.latest_backup,
            assume_window=params.assume_window,
            key=params.key,
            dry_run=params.dry_run,
        )
        base, target = at_time.arguments(params.source, params.table)
        segment = resolve_segment(params.segment)
        results_dir = results_dir_from_options(
            params, None if segment is None else [segment], params.s3_endpoint_url
        )
        request = RestoreRequest(
            source=at_time.base(base, params.s3_endpoint_url)
            if at_time.requested
            else _source(params.source, params.s3_endpoint_url),
            table=table_spec(
                target,
                region=params.region,
                endpoint_url=params.endpoint_url,
                give_up_after=params.give_up_after,
            ),
            segment=segment,
            workers=params.workers or 1,
            rate=RateSpec(write=params.rate_write),
            create=params.create,
            force=params.force,
            verify_first=params.verify_first,
            billing_mode=params.billing_mode,
            sse_kms_key_id=params.sse_kms_key_id,
            ttl=params.ttl,
            delete_extraneous=params.delete_extraneous,
        )
        job = f"restore-table {params.source} -> {request.table.address}"
        engine = engine_from_options(params)
        if at_time.requested:
            return restore_at_time(
                request,
                at_time,
                engine=engine,
                quiet=params.quiet,
                endpoint=params.s3_endpoint_url,
                on_extraneous=_extraneous_key,
                print_restore=_print_restore,
            )

        def failed(why: str) -> SegmentResult | None:
            if segment is None:
                return None
            return restore_failed_result(job, segment, request.source, why)

        with recording(results_dir, failed) as record:
            with progress_display(params.quiet) as listener:
                summary = run_restore(
                    request, progress=listener, engine=engine, on_extraneous=_extraneous_key
                )
            if segment is not None:
                record(restore_segment_result(job, segment, summary))
        return _print_restore(summary)

    run_job(body, debug=params.debug, quiet=params.quiet)


# --- verify-backup ----------------------------------------------------------------------------


def _print_verify(report: VerifyReport) -> int:
    source = report.source
    where = source.storage.location.url()
    if source.kind == "original":
        click.echo(
            "warning: no manifests (the original tool's format): only gzip and line decoding "
            "can be checked",
            err=True,
        )
    if not report.intact:
        click.echo(f"backup damaged or incomplete: {where}")
        for problem in report.problems:
            click.echo(f"  {problem}")
        return ExitCode.FOUND
    click.echo(
        f"backup intact: {report.items} items in {len(report.verdicts)} segment(s) at {where}"
    )
    return ExitCode.OK


def _print_against(report: AgainstReport, table: str, quiet: bool) -> int:
    """As diff-tables reports: findings on stdout (already printed as they were found, plus
    ``[damaged]`` lines), the summary on stderr, naming the backup and the table; exit 0 when
    the backup is intact and the table agrees with it, 1 otherwise."""
    where = report.source.storage.location.url()
    if report.problems or report.diff is None:
        for problem in report.problems:
            click.echo(f"[damaged] {problem}")
        if not quiet:
            click.echo(
                f"backup damaged or incomplete: {where}; not compared with {table}", err=True
            )
        return ExitCode.FOUND
    diff = report.diff
    code = diff_exit_code(diff)
    if quiet:
        return code
    for line in summary_lines(diff, sides=(f"backup {where}", f"table {table}")):
        click.echo(line, err=True)
    verdict = (
        f"backup intact: {diff.stats.scanned_primary} items in "
        f"{len(report.source.segments)} segment(s) at {where}; "
    )
    if diff.agree:
        click.echo(verdict + f"table {table} agrees with it", err=True)
        return code
    click.echo(
        verdict + f"table {table} differs from it in {diff.stats.unresolved} item(s) "
        "([missing]: only in the backup, [extraneous]: only in the table)",
        err=True,
    )
    click.echo(
        "note: a backup is a scan over a time window; changes made to the table since "
        "show up as differences",
        err=True,
    )
    return code


@dataclass(frozen=True, kw_only=True)
class VerifyBackupParams(EndpointParams, ClusterParams, S3Params, CommonParams):
    """verify-backup's parameters, as parsed."""

    source: str
    against: str | None
    rate_read: float | None
    fmt: str
    workers: int | None


@click.command(
    "verify-backup",
    context_settings=CONTEXT_SETTINGS,
    epilog=f"{ADDRESS_HELP}\n\n{LOCATION_HELP}\n\n"
    + exit_codes_help(
        "backup intact (and, with --against, the same items as the table)",
        "damaged or missing segments (each listed), or differences from the --against table",
    ),
)
@click.argument("source")
@click.option(
    "--against",
    metavar="TABLE",
    help="Also compare the backup's items with this live table (diff-tables engine).",
)
@click.option("--rate-read", type=RATE, help="With --against: read capacity units/s.")
@format_option("With --against: discrepancy lines on stdout, as diff-tables prints them.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes for the segments (default 1).",
)
@cluster_options
@s3_option
@endpoint_options
@common_options
@as_params(VerifyBackupParams)
def verify_backup(params: VerifyBackupParams) -> None:
    """Check every segment of a backup against its manifest, without restoring.

    Counts, sizes and SHA-256 must match and every line must decode; exit 1 lists every
    problem. With --against TABLE the backup's items are also compared with TABLE, reported
    as diff-tables reports them: one line per discrepancy on stdout ([missing]: only in the
    backup, [different], [extraneous]: only in TABLE), the summary on stderr ending in
    "backup intact" and whether TABLE agrees; exit 1 when any. The backup covers a time
    window, so later changes to TABLE show up too.
    """

    def body() -> int:
        storage = _source(params.source, params.s3_endpoint_url)
        quiet = params.quiet
        if params.against:
            live = table_spec(
                params.against, region=params.region, endpoint_url=params.endpoint_url
            )

            def show(d: Discrepancy) -> None:
                click.echo(format_discrepancy(d, list(d.key), params.fmt))

            with progress_display(quiet) as listener:
                report = compare_with_table(
                    storage,
                    live,
                    rate_read=params.rate_read,
                    progress=listener,
                    on_discrepancy=show,
                )
            return _print_against(report, str(live.address), quiet)
        with progress_display(quiet) as listener:
            verified = run_verify(
                storage,
                workers=params.workers or 1,
                progress=listener,
                engine=engine_from_options(params),
            )
        return _print_verify(verified)

    run_job(body, debug=params.debug, quiet=params.quiet)
