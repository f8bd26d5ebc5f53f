"""``roll-forward``, and ``restore-table``'s point-in-time options: argument parsing and printing.

The work itself lives in :mod:`dynamodb_replicator.pitr`. ``restore-table`` (in
:mod:`.backup_cmd`) takes its point-in-time options with :func:`point_in_time_options`, collects
them in a :class:`PointInTimeOptions` and hands the restore to :func:`restore_at_time`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from ..backup import RestoreRequest, RestoreSummary
from ..backup.extraneous import ExtraAction
from ..backup.layout import parse_destination, parse_source
from ..backup.storage import Storage, StorageSpec
from ..changelog.times import format_instant, parse_instant
from ..errors import UsageError
from ..items import Key, encode_item
from ..pitr import DEFAULT_MARGIN, ScanWindow, assumed_window
from ..pitr.bases import require_latest
from ..pitr.one_key import restore_key
from ..pitr.restore import restore_to_time
from ..pitr.rollforward import RollForward, roll_forward_backup
from ..segments import Engine
from .exit_codes import exit_codes_help
from .options import CONTEXT_SETTINGS, common_options
from .progress_ui import progress_display
from .runner import run_job

__all__ = [
    "PointInTimeOptions",
    "point_in_time_options",
    "print_rolled",
    "restore_at_time",
    "roll_forward_command",
]

F = TypeVar("F", bound=Callable[..., Any])

_MARGIN_HELP = (
    "Seconds of margin m: exact only when the log covers [S - m, T] and E + m <= T (S, E: the "
    "base scan's start and finish). Covers clock skew, the one-second floor of stream times "
    "and replication lag."
)
_LATEST_HELP = (
    "Instead of {what}: the newest intact backup job under PREFIX whose scan ended at least the "
    "margin before T."
)
_ASSUME_HELP = (
    "For a base that records no scan window (a backup of the original tool): its scan ran "
    "from S to E (ISO 8601 with a zone, or epoch seconds). Without it such a base is refused."
)


def _margin_option(fn: F) -> F:
    return click.option(
        "--margin",
        type=click.IntRange(min=0),
        default=DEFAULT_MARGIN,
        show_default=True,
        help=_MARGIN_HELP,
    )(fn)


def _assume_option(fn: F) -> F:
    return click.option("--assume-window", nargs=2, metavar="S E", help=_ASSUME_HELP)(fn)


def _assumed(pair: tuple[str, str] | None) -> ScanWindow | None:
    return None if pair is None else assumed_window(pair[0], pair[1])


def _changes(location: str, endpoint: str | None) -> Storage:
    return StorageSpec(parse_source(location), s3_endpoint_url=endpoint).open()


def print_rolled(rolled: RollForward) -> None:
    """One line: what was rolled forward to when, from what, under which margin."""
    exact = rolled.exactness
    assumed = ", assumed" if exact.window.assumed else ""
    click.echo(
        f"rolled {rolled.base} forward to {format_instant(rolled.to_time)}: {rolled.items} "
        f"item(s) from {rolled.records} log record(s) (scan {format_instant(exact.window.start)}"
        f"..{format_instant(exact.window.end)}{assumed}, margin {exact.margin} s, log from "
        f"{format_instant(exact.log_from)})"
    )


# --- restore-table's point-in-time options ----------------------------------------------------


def point_in_time_options(fn: F) -> F:
    """``restore-table``'s options for restoring to a second T with the change log."""
    decorators: list[Callable[[F], F]] = [
        click.option(
            "--changes",
            help="Roll the backup forward with this change log (folder or s3:// prefix); "
            "needs --to-time.",
        ),
        click.option(
            "--to-time",
            help="With --changes: restore the table as it was at the end of this second "
            "(ISO 8601 with a zone, or epoch seconds).",
        ),
        _margin_option,
        click.option(
            "--latest-backup",
            metavar="PREFIX",
            help=_LATEST_HELP.format(what="SOURCE") + " With --changes; SOURCE is left out.",
        ),
        _assume_option,
        click.option(
            "--key",
            help="With --changes: put back only the item with this KEY (JSON, as in "
            "diff-record), as a conditional write that refuses if the item changes meanwhile; "
            "TABLE may be live.",
        ),
        click.option(
            "--dry-run", is_flag=True, help="With --changes: check and roll forward, write nothing."
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


@dataclass(frozen=True)
class PointInTimeOptions:
    """``restore-table``'s point-in-time options as given (see :func:`point_in_time_options`)."""

    changes: str | None = None
    to_time: str | None = None
    margin: int = DEFAULT_MARGIN
    latest_backup: str | None = None
    assume_window: tuple[str, str] | None = None
    key: str | None = None
    dry_run: bool = False

    @property
    def requested(self) -> bool:
        """Whether any of them was given: the restore is then one to a point in time."""
        return bool(
            self.changes
            or self.to_time
            or self.latest_backup
            or self.assume_window
            or self.key
            or self.dry_run
        )

    def arguments(self, source: str, table: str | None) -> tuple[str | None, str]:
        """(SOURCE, TABLE) from the command's arguments: with ``--latest-backup`` the one
        argument given is TABLE and SOURCE is left out."""
        if self.latest_backup is not None:
            if table is not None:
                raise UsageError(
                    "--latest-backup PREFIX replaces SOURCE: give TABLE only",
                    hint="restore-table --latest-backup PREFIX TABLE --changes LOG --to-time T",
                )
            return None, source
        if table is None:
            raise UsageError(
                "missing argument TABLE", hint="restore-table SOURCE TABLE, see --help"
            )
        return source, table

    def checked(self) -> tuple[str, int]:
        """(the change log, T); a :class:`UsageError` unless both are given."""
        if not (self.changes and self.to_time):
            given = [
                name
                for name, value in (
                    ("--latest-backup", self.latest_backup),
                    ("--assume-window", self.assume_window),
                    ("--key", self.key),
                    ("--dry-run", self.dry_run),
                )
                if value
            ]
            raise UsageError(
                f"{', '.join(given)} need(s) --changes and --to-time"
                if given
                else "--changes and --to-time go together",
                hint="give --changes LOG --to-time T (or none of the point-in-time options)",
            )
        return self.changes, parse_instant(self.to_time, "--to-time")

    def base(self, source: str | None, endpoint: str | None) -> StorageSpec:
        """The base backup: SOURCE, or the newest job under ``--latest-backup`` serving T."""
        _, to_time = self.checked()
        if self.latest_backup is not None:
            if self.assume_window is not None:
                raise UsageError(
                    "--assume-window names one base's window: it does not go with --latest-backup",
                    hint="name the original tool's backup as SOURCE instead",
                )
            prefix = StorageSpec(parse_source(self.latest_backup), s3_endpoint_url=endpoint)
            return require_latest(prefix, to_time, self.margin)
        assert source is not None
        return StorageSpec(parse_source(source), s3_endpoint_url=endpoint)


def restore_at_time(
    request: RestoreRequest,
    options: PointInTimeOptions,
    *,
    engine: Engine,
    quiet: bool,
    endpoint: str | None,
    on_extraneous: Callable[[Key, ExtraAction], None],
    print_restore: Callable[[RestoreSummary], int],
) -> int:
    """Run ``restore-table --changes LOG --to-time T`` (or ``--key``) and print the outcome;
    the exit code. ``request.source`` is the base (see :meth:`PointInTimeOptions.base`)."""
    changes_text, to_time = options.checked()
    changes = _changes(changes_text, endpoint)
    assumed = _assumed(options.assume_window)
    if options.key:
        one = restore_key(
            request.source,
            changes,
            to_time,
            request.table,
            options.key,
            margin=options.margin,
            dry_run=options.dry_run,
            assumed=assumed,
        )
        state = "absent" if one.at_time is None else encode_item(one.at_time)
        done_text = "written" if one.written else "not written (dry run or nothing to do)"
        click.echo(f"{options.key} at {options.to_time}: {state}; {one.action}: {done_text}")
        return 0
    with progress_display(quiet) as listener:
        done = restore_to_time(
            request,
            changes,
            to_time,
            margin=options.margin,
            dry_run=options.dry_run,
            progress=listener,
            engine=engine,
            on_extraneous=on_extraneous,
            assumed=assumed,
        )
    print_rolled(done.rolled)
    if done.restore is None:
        click.echo(f"dry run: {done.rolled.items} item(s) would be written; nothing written")
        return 0
    return print_restore(done.restore)


# --- roll-forward -----------------------------------------------------------------------------


@click.command(
    "roll-forward",
    context_settings=CONTEXT_SETTINGS,
    epilog=exit_codes_help(
        "the backup at T was written: exact by the rule (see docs/point-in-time.md)",
        "(not used)",
    ),
)
@click.argument("locations", nargs=-1, metavar="[BACKUP] DEST")
@click.option("--latest-backup", metavar="PREFIX", help=_LATEST_HELP.format(what="BACKUP"))
@click.option("--changes", required=True, help="The change log (folder or s3:// prefix).")
@click.option("--to-time", required=True, help="T: ISO 8601 with a zone, or epoch seconds.")
@_margin_option
@_assume_option
@click.option("--jobid", default="rolled-forward", show_default=True, help="The new job's id.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes merging the partitions (each holds one partition's changed keys); "
    "the backup written is the same whatever the count.",
)
@click.option(
    "--s3-endpoint-url",
    envvar="AWS_ENDPOINT_URL_S3",
    show_envvar=True,
    help="Send S3 requests to this endpoint (an S3-compatible server).",
)
@common_options
def roll_forward_command(
    locations: tuple[str, ...],
    *,
    latest_backup: str | None,
    changes: str,
    to_time: str,
    margin: int,
    assume_window: tuple[str, str] | None,
    jobid: str,
    workers: int,
    s3_endpoint_url: str | None,
    debug: bool,
    quiet: bool,
) -> None:
    """Write a new full backup of the table as it was at the end of second T to DEST/JOBID,
    from the BACKUP job and the change log, without reading the table.

    Refuses (exit 2, before writing) when T is earlier than the base scan's finish plus the
    margin, or the log is not proven complete from the scan's start minus the margin to T.
    """

    def body() -> int:
        at = parse_instant(to_time, "--to-time")
        if len(locations) != (1 if latest_backup else 2):
            raise UsageError(
                "give BACKUP and DEST, or --latest-backup PREFIX and DEST",
                hint="roll-forward BACKUP DEST --changes LOG --to-time T",
            )
        if latest_backup:
            if assume_window is not None:
                raise UsageError(
                    "--assume-window names one base's window: it does not go with --latest-backup",
                    hint="name the original tool's backup as BACKUP instead",
                )
            prefix = StorageSpec(parse_source(latest_backup), s3_endpoint_url=s3_endpoint_url)
            base = require_latest(prefix, at, margin)
        else:
            base = StorageSpec(parse_source(locations[0]), s3_endpoint_url=s3_endpoint_url)
        destination = StorageSpec(parse_destination(locations[-1]).child(jobid), s3_endpoint_url)
        rolled = roll_forward_backup(
            base,
            _changes(changes, s3_endpoint_url),
            at,
            destination,
            margin=margin,
            jobid=jobid,
            assumed=_assumed(assume_window),
            workers=workers,
        )
        print_rolled(rolled)
        click.echo(f"written: {rolled.destination}")
        return 0

    run_job(body, debug=debug, quiet=quiet)
