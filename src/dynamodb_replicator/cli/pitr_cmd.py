"""``roll-forward``: a new full backup at a second T from a base backup and the change log."""

from __future__ import annotations

from typing import Any

import click

from ..backup.layout import parse_destination, parse_source
from ..backup.storage import StorageSpec
from ..changelog.times import format_instant, parse_instant
from ..errors import UsageError
from ..pitr import DEFAULT_MARGIN
from ..pitr.bases import require_latest
from ..pitr.rollforward import RollForward, roll_forward_backup
from .exit_codes import exit_codes_help
from .options import CONTEXT_SETTINGS, common_options
from .runner import run_job

__all__ = ["margin_option", "print_rolled", "roll_forward_command"]


def margin_option(fn: Any) -> Any:
    return click.option(
        "--margin",
        type=click.IntRange(min=0),
        default=DEFAULT_MARGIN,
        show_default=True,
        help="Seconds of margin m: exact only when the log covers [S - m, T] and E + m <= T "
        "(S, E: the base scan's start and finish). Covers clock skew, the one-second floor of "
        "stream times and replication lag.",
    )(fn)


def print_rolled(rolled: RollForward) -> None:
    exact = rolled.exactness
    click.echo(
        f"rolled {rolled.base} forward to {format_instant(rolled.to_time)}: {rolled.items} "
        f"item(s) from {rolled.records} log record(s) (scan {format_instant(exact.window.start)}"
        f"..{format_instant(exact.window.end)}, margin {exact.margin} s, log from "
        f"{format_instant(exact.log_from)})"
    )


@click.command(
    "roll-forward",
    context_settings=CONTEXT_SETTINGS,
    epilog=exit_codes_help(
        "the backup at T was written: exact by the rule (see docs/point-in-time.md)",
        "(not used)",
    ),
)
@click.argument("locations", nargs=-1, metavar="[BACKUP] DEST")
@click.option(
    "--latest-backup",
    metavar="PREFIX",
    help="Instead of BACKUP: the newest intact backup job under PREFIX whose scan ended at "
    "least the margin before T.",
)
@click.option("--changes", required=True, help="The change log (folder or s3:// prefix).")
@click.option("--to-time", required=True, help="T: ISO 8601 with a zone, or epoch seconds.")
@margin_option
@click.option("--jobid", default="rolled-forward", show_default=True, help="The new job's id.")
@click.option(
    "--s3-endpoint-url",
    envvar="AWS_ENDPOINT_URL_S3",
    show_envvar=True,
    help="Send S3 requests to this endpoint (an S3-compatible server).",
)
@common_options
def roll_forward_command(locations: tuple[str, ...], **opts: Any) -> None:
    """Write a new full backup of the table as it was at the end of second T to DEST/JOBID,
    from the BACKUP job and the change log, without reading the table.

    Refuses (exit 2, before writing) when T is earlier than the base scan's finish plus the
    margin, or the log is not proven complete from the scan's start minus the margin to T.
    """

    def body() -> int:
        to_time = parse_instant(opts["to_time"], "--to-time")
        endpoint = opts["s3_endpoint_url"]
        latest = opts["latest_backup"]
        if len(locations) != (1 if latest else 2):
            raise UsageError(
                "give BACKUP and DEST, or --latest-backup PREFIX and DEST",
                hint="roll-forward BACKUP DEST --changes LOG --to-time T",
            )
        if latest:
            prefix = StorageSpec(parse_source(latest), s3_endpoint_url=endpoint)
            base = require_latest(prefix, to_time, int(opts["margin"]))
        else:
            base = StorageSpec(parse_source(locations[0]), s3_endpoint_url=endpoint)
        dest = locations[-1]
        destination = StorageSpec(parse_destination(dest).child(opts["jobid"]), endpoint)
        rolled = roll_forward_backup(
            base,
            StorageSpec(parse_source(opts["changes"]), s3_endpoint_url=endpoint).open(),
            to_time,
            destination,
            margin=int(opts["margin"]),
            jobid=opts["jobid"],
        )
        print_rolled(rolled)
        click.echo(f"written: {rolled.destination}")
        return 0

    run_job(body, debug=bool(opts["debug"]), quiet=bool(opts["quiet"]))
