"""``incremental-snapshot``: the original tool's incremental backups into a backup of ours."""

from __future__ import annotations

from dataclasses import dataclass

import click

from ..backup.incremental import SnapshotResult, snapshot
from ..backup.jobs import new_jobid
from ..backup.layout import parse_destination, parse_source, validate_jobid
from ..backup.storage import StorageSpec
from ..errors import UsageError
from ..items import KEY_TYPES, KeySchema
from .backup_cmd import LOCATION_HELP
from .exit_codes import EXIT_CODES_HELP, ExitCode
from .options import as_params, common_options
from .runner import run_job

__all__ = ["IncrementalSnapshotParams", "incremental_snapshot", "parse_key_schema"]


@dataclass(frozen=True, kw_only=True)
class IncrementalSnapshotParams:
    """``incremental-snapshot``'s arguments and options, as click names them."""

    source: str
    destination: str
    keys: tuple[str, ...]
    table: str | None
    jobid: str | None
    s3_endpoint_url: str | None
    debug: bool
    quiet: bool


_SOURCE_HELP = (
    "SOURCE: the folder of one table's items as the original's backup function or "
    "incremental-backfill wrote them (s3://bucket/<prefix>/<table>, one object per item named "
    "by the hash of its key). A key found under more than one name: the newest event across "
    "its names wins (object versions and delete markers by LastModified), so a REMOVE under one "
    "name is not undone by an older object under another."
)


def parse_key_schema(keys: tuple[str, ...]) -> KeySchema:
    """``("pk:S", "sk:N")`` -> the key schema, partition key first; :class:`UsageError` else."""
    parsed = []
    for text in keys:
        name, _, type_ = text.rpartition(":")
        if not name or type_ not in KEY_TYPES:
            raise UsageError(
                f"--key {text!r} is not NAME:TYPE", hint="e.g. --key id:S (TYPE is S, N or B)"
            )
        parsed.append((name, type_))
    if not 1 <= len(parsed) <= 2:
        raise UsageError(
            "give the table's key with one or two --key NAME:TYPE",
            hint="partition key first, e.g. --key id:S --key at:N",
        )
    if len(parsed) == 1:
        return KeySchema(*parsed[0])
    return KeySchema(parsed[0][0], parsed[0][1], parsed[1][0], parsed[1][1])


def _print(result: SnapshotResult, quiet: bool) -> int:
    for key in result.ties:
        click.echo(f"TIE: {key}: deleted and written at the same time under two names; kept",
                   err=True)  # fmt: skip
    for name in result.unmatched_names:
        click.echo(f"UNMATCHED: object {name} is not named by its item's key; included", err=True)
    if not quiet:
        click.echo(
            f"snapshot complete: jobid {result.jobid} at {result.location}: {result.items} "
            f"item(s) from {result.names} name(s); {result.deleted} deleted key(s); "
            f"{result.multi_name_keys} key(s) under more than one name, {result.kept_deleted} "
            f"of them deleted under one and kept deleted; {len(result.ties)} tie(s)"
        )
    return int(ExitCode.FOUND if result.ties or result.unmatched_names else ExitCode.OK)


@click.command(
    "incremental-snapshot", epilog=f"{_SOURCE_HELP}\n\n{LOCATION_HELP}\n\n{EXIT_CODES_HELP}"
)
@click.argument("source")
@click.argument("destination")
@click.option(
    "--key",
    "keys",
    multiple=True,
    required=True,
    metavar="NAME:TYPE",
    help="The table's key attribute (S, N or B); partition key first, sort key second.",
)
@click.option("--table", help="The table's name in the backup (default: SOURCE's last folder).")
@click.option("--jobid", help="Assign a jobid to this backup (default: a random one).")
@click.option(
    "--s3-endpoint-url",
    envvar="AWS_ENDPOINT_URL_S3",
    show_envvar=True,
    help="Send S3 requests to this endpoint (an S3-compatible server).",
)
@common_options
@as_params(IncrementalSnapshotParams)
def incremental_snapshot(params: IncrementalSnapshotParams) -> None:
    """Turn the original tool's incremental backup at SOURCE into a backup at DESTINATION.

    The result is a backup job like backup-table's (one segment and its manifest, the table's
    key as its definition): verify-backup and restore-table (--create too) work on it.
    """

    def body() -> int:
        schema = parse_key_schema(params.keys)
        endpoint = params.s3_endpoint_url
        src = StorageSpec(parse_source(params.source), s3_endpoint_url=endpoint)
        dest = StorageSpec(parse_destination(params.destination), s3_endpoint_url=endpoint)
        table = params.table or src.location.parent_and_name()[1]
        if not table:
            raise UsageError("no table name in SOURCE", hint="add --table NAME")
        jobid = validate_jobid(params.jobid) if params.jobid else new_jobid()
        result = snapshot(src, dest, table=table, schema=schema, jobid=jobid)
        return _print(result, params.quiet)

    run_job(body, debug=params.debug, quiet=params.quiet)
