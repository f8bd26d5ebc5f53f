"""``backup-table``, ``restore-table`` and ``verify-backup`` (engine: the backup issue)."""

from __future__ import annotations

import click

from ..errors import UsageError
from .exit_codes import EXIT_CODES_HELP
from .options import ADDRESS_HELP, common_options, endpoint_options, segment_options
from .runner import run_job

__all__ = ["backup_table", "restore_table", "verify_backup"]


@click.command("backup-table", epilog=f"{ADDRESS_HELP}\n\n{EXIT_CODES_HELP}")
@click.argument("table")
@click.argument("destination")
@click.option("--jobid", help="Assign a jobid to this backup (default: a random one).")
@segment_options
@endpoint_options
@common_options
def backup_table(table: str, destination: str, **opts: object) -> None:
    """Scan TABLE and write gzip JSON Lines to DESTINATION (s3://bucket/prefix or a folder)."""

    def body() -> int:
        raise UsageError("backup-table is not available yet in this build")

    run_job(body, debug=bool(opts["debug"]), quiet=bool(opts["quiet"]))


@click.command("restore-table", epilog=EXIT_CODES_HELP)
@click.argument("source")
@click.argument("table")
@endpoint_options
@common_options
def restore_table(source: str, table: str, **opts: object) -> None:
    """Restore a backup job (or one segment object) from SOURCE into TABLE."""

    def body() -> int:
        raise UsageError("restore-table is not available yet in this build")

    run_job(body, debug=bool(opts["debug"]), quiet=bool(opts["quiet"]))


@click.command("verify-backup", epilog=EXIT_CODES_HELP)
@click.argument("source")
@common_options
def verify_backup(source: str, **opts: object) -> None:
    """Check every segment of a backup against its manifest, without restoring."""

    def body() -> int:
        raise UsageError("verify-backup is not available yet in this build")

    run_job(body, debug=bool(opts["debug"]), quiet=bool(opts["quiet"]))
