"""``backup-table``, ``restore-table`` and ``verify-backup``: argument parsing and printing only.

The jobs themselves live in :mod:`dynamodb_replicator.backup`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..backup import (
    AgainstReport,
    BackupRequest,
    BackupSummary,
    RestoreRequest,
    RestoreSummary,
    StorageSpec,
    VerifyReport,
    compare_with_table,
    parse_destination,
    parse_source,
    run_backup,
    run_restore,
    run_verify,
)
from ..backup.extraneous import ExtraAction
from ..backup.reader import open_source
from ..diff import FORMATS, Discrepancy, format_discrepancy, summary_lines
from ..dynamo import RateSpec
from ..errors import ReplicatorError, UsageError
from ..items import Key, encode_key_for_report
from ..results import SegmentResult, write_result
from .diff_cmd import diff_exit_code
from .exit_codes import ExitCode, exit_codes_help
from .options import (
    ADDRESS_HELP,
    CONTEXT_SETTINGS,
    SEGMENT,
    WORKERS_HINT,
    cluster_options,
    common_options,
    endpoint_options,
    engine_from_options,
    give_up_option,
    parse_segment_options,
    resolve_segment,
    results_dir_from_options,
    results_options,
    segment_options,
    table_spec,
)
from .pitr_cmd import PointInTimeOptions, point_in_time_options, restore_at_time
from .progress_ui import progress_display
from .runner import run_job

__all__ = [
    "backup_line",
    "backup_table",
    "human_size",
    "restore_line",
    "restore_table",
    "verify_backup",
]

F = TypeVar("F", bound=Callable[..., Any])

LOCATION_HELP = (
    "Backup locations: s3://bucket or s3://bucket/prefix, or a local folder written so it "
    "cannot be a forgotten s3:// (./dir, ../dir, /abs/dir, ~/dir or file:///path; a backup to "
    "read may also be any folder that exists). "
    "A job lives at <location>/<jobid>/: _started, then per segment <N> (gzip JSON Lines) "
    "and <N>.manifest.json."
)


def _s3_option(fn: F) -> F:
    return click.option(
        "--s3-endpoint-url",
        envvar="AWS_ENDPOINT_URL_S3",
        show_envvar=True,
        help="Send S3 requests to this endpoint (an S3-compatible server).",
    )(fn)


def _rate(value: float | None, name: str) -> float | None:
    if value is not None and value <= 0:
        raise UsageError(f"{name} must be positive", hint=f"omit {name} for no limit")
    return value


def _workers(value: int | None) -> int:
    if value is not None and value < 1:
        raise UsageError("--workers must be at least 1", hint=WORKERS_HINT)
    return value or 1


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


def _destination(location: str, s3_endpoint_url: str | None, **extra: Any) -> StorageSpec:
    return StorageSpec(parse_destination(location), s3_endpoint_url=s3_endpoint_url, **extra)


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


def _write_quietly(results_dir: StorageSpec | None, result: SegmentResult) -> None:
    """Record a segment's result; a failure to record it is reported, not raised over the
    job's own error (the merge then finds the result missing: exit 3)."""
    if results_dir is None:
        return
    try:
        write_result(results_dir, result)
    except ReplicatorError as exc:
        click.echo(f"warning: segment result not written: {exc.message}", err=True)


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
@click.option("--rate-read", type=float, help="Read capacity units/s for the whole job.")
@click.option("--sse", type=click.Choice(["AES256", "aws:kms"]), help="S3 server-side encryption.")
@click.option("--sse-kms-key-id", help="KMS key for --sse aws:kms (implies it).")
@_s3_option
@give_up_option
@endpoint_options
@common_options
def backup_table(table: str, destination: str, **opts: Any) -> None:
    """Scan TABLE and write gzip JSON Lines to DESTINATION (s3://bucket/prefix or a folder).

    One object per segment at DESTINATION/JOBID/SEGMENT, plus a manifest each. With --segments
    M and no --segment, all M segments run here in --workers processes under one jobid. A
    scan backup is not a point-in-time snapshot: writes during the scan may or may not appear.
    """

    def body() -> int:
        if opts["jobid"] is None and (opts["segment"] == "auto" or opts["results_dir"]):
            raise UsageError(
                "separate segment processes of one backup need the same --jobid",
                hint="add --jobid NAME (the same for every segment of the job)",
            )
        run, total, workers = parse_segment_options(
            opts["segment"], opts["segments"], opts["workers"]
        )
        results_dir = results_dir_from_options(opts, run if opts["segment"] is not None else None)
        sse = opts["sse"] or ("aws:kms" if opts["sse_kms_key_id"] else None)
        if opts["resume"] and opts["jobid"] is None:
            raise UsageError(
                "--resume needs the --jobid of the backup to resume",
                hint="pass the jobid printed by the first run",
            )
        spec = table_spec(
            table,
            region=opts["region"],
            endpoint_url=opts["endpoint_url"],
            give_up_after=opts["give_up_after"],
        )
        job = f"backup-table {spec.address} -> {destination} jobid {opts['jobid']}"
        request = BackupRequest(
            table=spec,
            destination=_destination(
                destination,
                opts["s3_endpoint_url"],
                sse=sse,
                sse_kms_key_id=opts["sse_kms_key_id"],
            ),
            jobid=opts["jobid"],
            segments=tuple(run),
            total_segments=total,
            workers=workers if opts["segment"] is None else 1,
            rate=RateSpec(read=_rate(opts["rate_read"], "--rate-read")),
            resume=bool(opts["resume"]),
            consistent=bool(opts["consistent"]),
        )
        engine = engine_from_options(opts)
        try:
            with progress_display(bool(opts["quiet"])) as listener:
                summary = run_backup(request, progress=listener, engine=engine)
        except ReplicatorError as exc:
            failed = SegmentResult("backup-table", job, run[0], total, failures=(exc.message,))
            _write_quietly(results_dir, failed)
            raise
        _write_quietly(
            results_dir,
            SegmentResult(
                "backup-table",
                job,
                run[0],
                total,
                counts={
                    "items": summary.items,
                    "compressed_bytes": summary.compressed_bytes,
                    "uncompressed_bytes": summary.uncompressed_bytes,
                    "requests": summary.calls.requests,
                    "retried_errors": summary.calls.errors,
                },
                details={"jobid": summary.jobid, "location": summary.location},
                duration=summary.seconds,
            ),
        )
        _print_backup(summary)
        return ExitCode.OK

    run_job(body, debug=bool(opts["debug"]), quiet=bool(opts["quiet"]))


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


def _backup_segments(source: StorageSpec) -> int | None:
    """How many segments the backup at ``source`` has (``None`` when it cannot be read)."""
    try:
        return max(len(open_source(source).segments), 1)
    except ReplicatorError:
        return None


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
@click.option("--rate-write", type=float, help="Write capacity units/s for the whole job.")
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
@_s3_option
@give_up_option
@endpoint_options
@common_options
def restore_table(source: str, table: str | None, **opts: Any) -> None:
    """Restore a backup job (or one segment object) from SOURCE into TABLE.

    The listing, manifests and sizes are checked before anything is written, and each
    segment's SHA-256 and item count before any of its items is written (it is spooled to
    TMPDIR meanwhile): a damaged segment writes nothing. After --force into a table that held
    items, the items the backup lacks are listed (exit 1 while any remain; --delete-extraneous
    deletes them). Backups of the original tool (no manifests) restore with a warning.
    """

    def body() -> int:
        at_time = PointInTimeOptions(
            changes=opts["changes"],
            to_time=opts["to_time"],
            margin=opts["margin"],
            latest_backup=opts["latest_backup"],
            assume_window=opts["assume_window"],
            key=opts["key"],
            dry_run=opts["dry_run"],
        )
        base, target = at_time.arguments(source, table)
        segment = resolve_segment(opts["segment"])
        results_dir = results_dir_from_options(opts, None if segment is None else [segment])
        request = RestoreRequest(
            source=at_time.base(base, opts["s3_endpoint_url"])
            if at_time.requested
            else _source(source, opts["s3_endpoint_url"]),
            table=table_spec(
                target,
                region=opts["region"],
                endpoint_url=opts["endpoint_url"],
                give_up_after=opts["give_up_after"],
            ),
            segment=segment,
            workers=_workers(opts["workers"]),
            rate=RateSpec(write=_rate(opts["rate_write"], "--rate-write")),
            create=bool(opts["create"]),
            force=bool(opts["force"]),
            verify_first=bool(opts["verify_first"]),
            billing_mode=opts["billing_mode"],
            sse_kms_key_id=opts["sse_kms_key_id"],
            ttl=bool(opts["ttl"]),
            delete_extraneous=bool(opts["delete_extraneous"]),
        )
        job = f"restore-table {source} -> {request.table.address}"
        engine = engine_from_options(opts)
        if at_time.requested:
            return restore_at_time(
                request,
                at_time,
                engine=engine,
                quiet=bool(opts["quiet"]),
                endpoint=opts["s3_endpoint_url"],
                on_extraneous=_extraneous_key,
                print_restore=_print_restore,
            )
        try:
            with progress_display(bool(opts["quiet"])) as listener:
                summary = run_restore(
                    request, progress=listener, engine=engine, on_extraneous=_extraneous_key
                )
        except ReplicatorError as exc:
            total = _backup_segments(request.source) if results_dir is not None else None
            if segment is not None and total is not None:
                failed = SegmentResult(
                    "restore-table", job, segment, total, failures=(exc.message,)
                )
                _write_quietly(results_dir, failed)
            raise
        if segment is not None:
            _write_quietly(
                results_dir,
                SegmentResult(
                    "restore-table",
                    job,
                    segment,
                    max(len(summary.source.segments), 1),
                    counts={
                        "items": summary.items,
                        "requests": summary.calls.requests,
                        "retried_errors": summary.calls.errors,
                    },
                    details={
                        "source": summary.source.storage.location.url(),
                        "table": summary.table,
                    },
                    duration=summary.seconds,
                ),
            )
        return _print_restore(summary)

    run_job(body, debug=bool(opts["debug"]), quiet=bool(opts["quiet"]))


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
@click.option("--rate-read", type=float, help="With --against: read capacity units/s.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="human",
    show_default=True,
    help="With --against: discrepancy lines on stdout, as diff-tables prints them.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes for the segments (default 1).",
)
@cluster_options
@_s3_option
@endpoint_options
@common_options
def verify_backup(source: str, **opts: Any) -> None:
    """Check every segment of a backup against its manifest, without restoring.

    Counts, sizes and SHA-256 must match and every line must decode; exit 1 lists every
    problem. With --against TABLE the backup's items are also compared with TABLE, reported
    as diff-tables reports them: one line per discrepancy on stdout ([missing]: only in the
    backup, [different], [extraneous]: only in TABLE), the summary on stderr ending in
    "backup intact" and whether TABLE agrees; exit 1 when any. The backup covers a time
    window, so later changes to TABLE show up too.
    """

    def body() -> int:
        storage = _source(source, opts["s3_endpoint_url"])
        quiet = bool(opts["quiet"])
        if opts["against"]:
            live = table_spec(
                opts["against"], region=opts["region"], endpoint_url=opts["endpoint_url"]
            )

            def show(d: Discrepancy) -> None:
                click.echo(format_discrepancy(d, list(d.key), str(opts["fmt"])))

            with progress_display(quiet) as listener:
                report = compare_with_table(
                    storage,
                    live,
                    rate_read=_rate(opts["rate_read"], "--rate-read"),
                    progress=listener,
                    on_discrepancy=show,
                )
            return _print_against(report, str(live.address), quiet)
        with progress_display(quiet) as listener:
            verified = run_verify(
                storage,
                workers=_workers(opts["workers"]),
                progress=listener,
                engine=engine_from_options(opts),
            )
        return _print_verify(verified)

    run_job(body, debug=bool(opts["debug"]), quiet=bool(opts["quiet"]))
