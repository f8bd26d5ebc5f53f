"""``diff-tables``, ``diff-record`` and ``replicate-record`` (engine: the diff-tables issue)."""

from __future__ import annotations

import click

from ..errors import UsageError
from .exit_codes import EXIT_CODES_HELP
from .options import ADDRESS_HELP, common_options, endpoint_options, segment_options
from .runner import run_job

__all__ = ["diff_record", "diff_tables", "replicate_record"]


@click.command("diff-tables", epilog=f"{ADDRESS_HELP}\n\n{EXIT_CODES_HELP}")
@click.argument("primary")
@click.argument("replica")
@click.option("--repair", is_flag=True, help="Fix discrepancies in the replica table.")
@click.option("--backfill", is_flag=True, help="Only scan the primary and write to the replica.")
@segment_options
@endpoint_options
@common_options
def diff_tables(primary: str, replica: str, **opts: object) -> None:
    """Compare PRIMARY with REPLICA and report missing, different and extraneous items."""

    def body() -> int:
        raise UsageError("diff-tables is not available yet in this build")

    run_job(body, debug=bool(opts["debug"]), quiet=bool(opts["quiet"]))


@click.command("diff-record", epilog=EXIT_CODES_HELP)
@click.argument("primary")
@click.argument("replica")
@click.argument("key")
@endpoint_options
@common_options
def diff_record(primary: str, replica: str, key: str, **opts: object) -> None:
    """Show one item on both sides and how they differ."""

    def body() -> int:
        raise UsageError("diff-record is not available yet in this build")

    run_job(body, debug=bool(opts["debug"]), quiet=bool(opts["quiet"]))


@click.command("replicate-record", epilog=EXIT_CODES_HELP)
@click.argument("primary")
@click.argument("replica")
@click.argument("key")
@endpoint_options
@common_options
def replicate_record(primary: str, replica: str, key: str, **opts: object) -> None:
    """Copy one item from PRIMARY to REPLICA (or delete it there if the primary lacks it)."""

    def body() -> int:
        raise UsageError("replicate-record is not available yet in this build")

    run_job(body, debug=bool(opts["debug"]), quiet=bool(opts["quiet"]))
