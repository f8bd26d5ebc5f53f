"""``backup-changes``: a table's stream into a change log (engine: changelog)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click

from ..backup.layout import Location, parse_destination, parse_source
from ..backup.storage import StorageSpec
from ..changelog.failures import ReingestJob, run_reingest
from ..changelog.follow import (
    BackupChangesJob,
    BackupChangesResult,
    backup_changes,
    checkpoint_table,
)
from ..changelog.format import encode_line
from ..changelog.history import History, logged_key_schema, record_history
from ..changelog.lambda_writer import BackupConfig
from ..changelog.times import format_instant, parse_instant
from ..changelog.verify import ShardProof, Verification, verify_changes
from ..dynamo import TableSpec
from ..errors import UsageError
from ..items import encode_item, parse_key_argument
from ..replicate.checkpoint import (
    STATE_DIR_VARIABLE,
    CheckpointStore,
    FileCheckpoint,
    default_checkpoint,
    parse_checkpoint_location,
)
from .exit_codes import EXIT_CODES_HELP, ExitCode
from .follow_options import FollowParams, follow_options
from .options import ADDRESS_HELP, as_params, common_options, endpoint_options, table_spec
from .replicate_cmd import open_default_checkpoint
from .runner import run_job

__all__ = [
    "BackupChangesParams",
    "RecordHistoryParams",
    "VerifyChangesParams",
    "backup_changes_command",
    "record_history_command",
    "verify_changes_command",
]


@dataclass(frozen=True, kw_only=True)
class BackupChangesParams(FollowParams):
    """``backup-changes``'s arguments and options, as click names them."""

    primary: str | None
    target: str | None
    failures: str | None
    checkpoint: str | None
    heartbeat_seconds: float
    sse: str | None
    sse_kms_key_id: str | None
    fetch: bool
    s3_endpoint_url: str | None
    endpoint_url: str | None
    region: str | None
    debug: bool
    quiet: bool

    @property
    def sse_mode(self) -> str | None:
        """--sse, or aws:kms when only --sse-kms-key-id is given."""
        return self.sse or ("aws:kms" if self.sse_kms_key_id else None)


@dataclass(frozen=True, kw_only=True)
class VerifyChangesParams:
    """``verify-changes``'s arguments and options, as click names them."""

    target: str
    start: str | None
    until: str | None
    failures: str | None
    s3_endpoint_url: str | None
    debug: bool
    quiet: bool


@dataclass(frozen=True, kw_only=True)
class RecordHistoryParams:
    """``record-history``'s arguments and options, as click names them."""

    target: str
    key: str
    start: str | None
    until: str | None
    fmt: str
    s3_endpoint_url: str | None
    debug: bool
    quiet: bool


def _window(start: str | None, until: str | None) -> tuple[int | None, int | None]:
    """--from and --until as epoch seconds (open ends ``None``)."""
    first = parse_instant(start, "--from") if start else None
    last = parse_instant(until, "--until") if until else None
    return first, last


_TARGET_HELP = (
    "TARGET: s3://bucket/prefix or an explicit local folder (./dir, ../dir, /abs/dir, ~/dir). "
    "The log goes under TARGET/<table>/changes/<stream label>/."
)


def _store(params: BackupChangesParams, primary: TableSpec, target: Location) -> CheckpointStore:
    if params.checkpoint is None:
        home = default_checkpoint(
            primary.name,
            "",
            str(primary.address),
            target.url(),
            environ=os.environ,
            cwd=Path.cwd(),
            command="backup-changes",
        )
        return open_default_checkpoint(home, params.quiet)
    where = parse_checkpoint_location(params.checkpoint)
    if isinstance(where, Path):
        return FileCheckpoint(where)
    region, table = where
    return checkpoint_table(primary, region, table, params.endpoint_url)


def _summary(result: BackupChangesResult, store: CheckpointStore, quiet: bool) -> int:
    for gap in result.follow.gaps:
        click.echo(f"GAP: {gap.describe()} (gap marker written in the log)", err=True)
    if not quiet:
        state = "caught up" if result.follow.caught_up else "stopped"
        click.echo(
            f"{state}: {result.follow.records} record(s) in {result.objects} object(s) at "
            f"{result.log_url}; {result.follow.shards_finished} shard(s) finished; "
            f"checkpoint {store.describe()}"
        )
    return int(ExitCode.FOUND if result.follow.gaps else ExitCode.OK)


@click.command("backup-changes", epilog=f"{ADDRESS_HELP}\n\n{_TARGET_HELP}\n\n{EXIT_CODES_HELP}")
@click.argument("primary", required=False)
@click.argument("target", required=False)
@click.option(
    "--from-failures",
    "failures",
    metavar="S3URL",
    help="Instead of following a stream: write the batches Lambda discarded, kept by the "
    "mapping's S3 on-failure destination at S3URL, into the log at TARGET (give TARGET only). "
    "A record without its payload is read again from the stream (24 hours).",
)
@click.option(
    "--checkpoint",
    help="Where to keep the shards' positions: a JSON file or ddb://REGION/TABLE (default: a "
    f"file in your state folder, printed at start; {STATE_DIR_VARIABLE} moves it; an earlier "
    "version's ./backup-changes-TABLE.checkpoint.json is still used). Its lease keeps one "
    "writer per log.",
)
@follow_options("Exit once every shard is quiet (all written).")
@click.option(
    "--heartbeat-seconds",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="How often an idle shard's heartbeat (proof of reading) is rewritten.",
)
@click.option("--sse", type=click.Choice(["AES256", "aws:kms"]), help="S3 server-side encryption.")
@click.option("--sse-kms-key-id", help="KMS key for --sse aws:kms (implies it).")
@click.option(
    "--fetch",
    is_flag=True,
    help="For KEYS_ONLY and OLD_IMAGE streams: read each changed item from the table when "
    "writing (not point-in-time exact).",
)
@click.option(
    "--s3-endpoint-url",
    envvar="AWS_ENDPOINT_URL_S3",
    show_envvar=True,
    help="Send S3 requests to this endpoint (an S3-compatible server).",
)
@endpoint_options
@common_options
@as_params(BackupChangesParams)
def backup_changes_command(params: BackupChangesParams) -> None:
    """Write PRIMARY's DynamoDB Stream into a change log at TARGET (gzip JSON Lines)."""
    if params.failures:
        if params.target is not None or params.primary is None:
            raise click.UsageError("with --from-failures S3URL give TARGET only")
        _from_failures(params.failures, params.primary, params)
        return
    primary, target = params.primary, params.target
    if primary is None or target is None:
        raise click.UsageError("give PRIMARY and TARGET")

    def body() -> int:
        spec = table_spec(
            primary,
            region=params.region,
            endpoint_url=params.endpoint_url,
            pool=params.concurrency,
        )
        log_target = parse_destination(target)
        destination = StorageSpec(
            log_target,
            s3_endpoint_url=params.s3_endpoint_url,
            sse=params.sse_mode,
            sse_kms_key_id=params.sse_kms_key_id,
        )
        options = params.follow()
        job = BackupChangesJob(
            spec,
            destination,
            options,
            fetch=params.fetch,
            heartbeat_seconds=params.heartbeat_seconds,
        )
        store = _store(params, spec, log_target)
        result = backup_changes(job, store)  # a gap with --fail-on-gap: GapError, exit 1
        return _summary(result, store, params.quiet)

    run_job(body, debug=params.debug, quiet=params.quiet)


def _from_failures(source: str, target: str, params: BackupChangesParams) -> None:
    def body() -> int:
        config = BackupConfig(
            target=parse_destination(target),
            sse=params.sse_mode,
            sse_kms_key_id=params.sse_kms_key_id,
            s3_endpoint_url=params.s3_endpoint_url,
            dynamodb_endpoint_url=params.endpoint_url,
        )
        failures = StorageSpec(parse_source(source), s3_endpoint_url=params.s3_endpoint_url)
        job = ReingestJob(failures, config, streams_endpoint_url=params.endpoint_url)
        done = run_reingest(job)
        for name, reason in done.failed:
            click.echo(f"NOT WRITTEN: {name}: {reason}", err=True)
        if not params.quiet:
            again = f" ({done.reread} read again from the stream)" if done.reread else ""
            click.echo(
                f"re-ingested {done.written} of {done.records} record(s) from {done.batches} "
                f"discarded batch(es){again} into {config.target.url()}"
            )
        return int(ExitCode.FAILED if done.failed else ExitCode.OK)

    run_job(body, debug=params.debug, quiet=params.quiet)


# --- verify-changes ---------------------------------------------------------------------------


def _when(seconds: int | None) -> str:
    return "-" if seconds is None else format_instant(seconds)


def _proof_line(proof: ShardProof) -> str:
    shard = proof.shard_id or "(no shard: Lambda objects)"
    parent = f" (parent {proof.parent_shard_id})" if proof.parent_shard_id else ""
    end = "read to its end" if proof.closed else f"read to {_when(proof.read_to)}"
    return (
        f"  {proof.stream_label} shard {shard}{parent}: {proof.records} record(s) "
        f"{_when(proof.first_seconds)} .. {_when(proof.last_seconds)}, {end}"
    )


def _print_verification(result: Verification, quiet: bool) -> int:
    for problem in result.problems:
        click.echo(f"{problem.kind.upper()}: {problem.name}: {problem.detail}", err=True)
    window = f"{_when(result.first)} .. {_when(result.last)}"
    if not quiet:
        click.echo(
            f"verified {result.objects} object(s), {result.records} record(s) "
            f"({result.duplicates} duplicate copies dropped) in window {window}"
        )
        for proof in result.shards:
            click.echo(_proof_line(proof))
    if result.problems:
        click.echo(f"window {window} NOT proven complete: {len(result.problems)} problem(s)")
        return int(ExitCode.FOUND)
    click.echo(f"window {window} complete in every shard shown")
    return int(ExitCode.OK)


@click.command("verify-changes", epilog=f"{_TARGET_HELP}\n\n{EXIT_CODES_HELP}")
@click.argument("target")
@click.option("--from", "start", help="Window start: ISO 8601 with a zone, or epoch seconds.")
@click.option("--until", "until", help="Window end (inclusive), same forms.")
@click.option(
    "--failures",
    metavar="S3URL",
    help="The Lambda writer's S3 on-failure destination: every discarded batch must be in the "
    "log (else run backup-changes --from-failures).",
)
@click.option(
    "--s3-endpoint-url",
    envvar="AWS_ENDPOINT_URL_S3",
    show_envvar=True,
    help="Send S3 requests to this endpoint (an S3-compatible server).",
)
@common_options
@as_params(VerifyChangesParams)
def verify_changes_command(params: VerifyChangesParams) -> None:
    """Check a change log over a window: damaged objects, chain breaks, gaps, stream changes.

    TARGET is the log's folder, the table's changes folder or the table's folder. Exit 1 naming
    every problem; else exit 0 with how far each shard is proven read.
    """

    def body() -> int:
        first, last = _window(params.start, params.until)
        if first is not None and last is not None and first > last:
            raise UsageError("--from is after --until", hint="swap them")
        endpoint = params.s3_endpoint_url
        storage = StorageSpec(parse_source(params.target), s3_endpoint_url=endpoint).open()
        failures = None
        if params.failures:
            where = parse_source(params.failures)
            failures = StorageSpec(where, s3_endpoint_url=endpoint).open()
        result = verify_changes(storage, first, last, failures=failures)
        return _print_verification(result, params.quiet)

    run_job(body, debug=params.debug, quiet=params.quiet)


# --- record-history ---------------------------------------------------------------------------


def _print_history(history: History, fmt: str) -> int:
    for version in history.versions:
        record = version.record
        if fmt == "jsonl":
            click.echo(encode_line(record))
            continue
        event = "REMOVE (TTL)" if version.ttl_delete else record.event_name
        image = encode_item(record.new_image) if record.new_image is not None else "(deleted)"
        if record.event_name != "REMOVE" and record.new_image is None:
            image = "(no new image in this stream view)"
        click.echo(
            f"{format_instant(record.seconds)}  {event:<12}  seq {record.sequence_number}  {image}"
        )
    for damage in history.damaged:
        click.echo(f"DAMAGED: {damage.name}: {damage.problem} (versions may be missing)", err=True)
    for name in history.unfinished:
        click.echo(f"UNFINISHED: {name}: no manifest, not read", err=True)
    if fmt != "jsonl" and not history.versions:
        click.echo("no change of this key in the window", err=True)
    return int(ExitCode.FOUND if history.damaged else ExitCode.OK)


@click.command("record-history", epilog=f"{_TARGET_HELP}\n\n{EXIT_CODES_HELP}")
@click.argument("target")
@click.argument("key")
@click.option("--from", "start", help="Window start: ISO 8601 with a zone, or epoch seconds.")
@click.option("--until", "until", help="Window end (inclusive), same forms.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "jsonl"]),
    default="text",
    show_default=True,
    help="jsonl: each version as its change log line (wire format, binary as base64).",
)
@click.option(
    "--s3-endpoint-url",
    envvar="AWS_ENDPOINT_URL_S3",
    show_envvar=True,
    help="Send S3 requests to this endpoint (an S3-compatible server).",
)
@common_options
@as_params(RecordHistoryParams)
def record_history_command(params: RecordHistoryParams) -> None:
    """Every version of one item in a change log, newest first, with its time and event.

    KEY is JSON: wire format ('{"pk": {"S": "a"}}') or plain values typed by the table's key
    schema ('{"pk": "a", "sk": 5}'). Exit 1 when damaged objects may hide versions.
    """

    def body() -> int:
        first, last = _window(params.start, params.until)
        where = parse_source(params.target)
        storage = StorageSpec(where, s3_endpoint_url=params.s3_endpoint_url).open()
        wire_key = parse_key_argument(params.key, logged_key_schema(storage))
        return _print_history(record_history(storage, wire_key, first, last), params.fmt)

    run_job(body, debug=params.debug, quiet=params.quiet)
