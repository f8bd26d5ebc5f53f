"""``replicate PRIMARY REPLICA``: the stand-alone stream follower (engine: replicate.follower)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import click

from ..dynamo import TableSpec
from ..errors import UsageError
from ..replicate.checkpoint import (
    STATE_DIR_VARIABLE,
    CheckpointStore,
    DefaultCheckpoint,
    FileCheckpoint,
    default_checkpoint,
)
from ..replicate.follow_job import FollowJob, follow, open_checkpoint
from ..replicate.follower import FollowResult, FollowStatus
from ..replicate.plan import Filters, Mode, TurnoverRole
from .exit_codes import ExitCode, exit_codes_help
from .follow_options import FollowParams, follow_options
from .options import (
    ADDRESS_HELP,
    CONTEXT_SETTINGS,
    CommonParams,
    GiveUpParams,
    PairParams,
    as_params,
    common_options,
    endpoint_options,
    give_up_option,
    side_auth_options,
)
from .runner import run_job

__all__ = ["ReplicateParams", "open_default_checkpoint", "replicate"]

_CHECKPOINT_HELP = (
    "Where to keep the shards' positions: a JSON file or ddb://REGION/TABLE (default: a file "
    f"in your state folder, printed at start; {STATE_DIR_VARIABLE} moves it; an earlier "
    "version's ./replicate-PRIMARY-REPLICA.checkpoint.json is still used)."
)


def _default_store(primary: TableSpec, replica: TableSpec, quiet: bool) -> CheckpointStore:
    where = default_checkpoint(
        primary.name,
        replica.name,
        str(primary.address),
        str(replica.address),
        environ=os.environ,
        cwd=Path.cwd(),
    )
    return open_default_checkpoint(where, quiet)


def open_default_checkpoint(where: DefaultCheckpoint, quiet: bool) -> CheckpointStore:
    """The file store at ``where``, its path printed (to stderr) so the user can find it."""
    if where.legacy:
        click.echo(
            f"checkpoint: {where.path} (left here by an earlier version: still used; move it "
            f"with --checkpoint, or leave it out to use the state folder from now on)",
            err=True,
        )
    elif not quiet:
        click.echo(f"checkpoint: {where.path}", err=True)
    return FileCheckpoint(where.path)


def _store(
    job: FollowJob, text: str | None, endpoint_url: str | None, quiet: bool
) -> CheckpointStore:
    if text is None:
        return _default_store(job.primary, job.replica, quiet)
    endpoint = endpoint_url or job.primary.address.endpoint_url
    return open_checkpoint(text, job.checkpoint_name, endpoint)


def _filters(skip_ttl: bool, role: str | None, at: int | None) -> Filters:
    if (role is None) != (at is None):
        raise UsageError(
            "--turnover-role and --turnover-at go together", hint="give both, or neither"
        )
    return Filters(
        skip_ttl_deletes=skip_ttl,
        turnover_role=cast(TurnoverRole, role.upper()) if role else None,
        turnover_at_ms=at,
    )


def _skip_records(values: tuple[str, ...]) -> frozenset[str]:
    for value in values:
        if not value.isascii() or not value.isdigit():
            raise UsageError(
                f"--skip-record {value!r} is not a sequence number",
                hint="give the sequence number the failure message names (digits only)",
            )
    return frozenset(values)


def _reporter(quiet: bool) -> Callable[[FollowStatus], None]:
    """Progress: a status line on a terminal, structured log lines otherwise."""
    tty = sys.stderr.isatty()

    def report(status: FollowStatus) -> None:
        lag = "-" if status.lag_seconds is None else f"{status.lag_seconds:.1f}s"
        if quiet:
            return
        if tty:
            click.echo(
                f"\rshards {status.shards_reading} reading / {status.shards_waiting} waiting / "
                f"{status.shards_finished} done | {status.records} records "
                f"({status.records_per_second:.0f}/s) | lag {lag}   ",
                err=True,
                nl=False,
            )
            return
        click.echo(
            json.dumps(
                {
                    "event": "replicate.progress",
                    "shards_reading": status.shards_reading,
                    "shards_waiting": status.shards_waiting,
                    "shards_finished": status.shards_finished,
                    "records": status.records,
                    "records_per_second": round(status.records_per_second, 1),
                    "lag_seconds": status.lag_seconds,
                    "elapsed_seconds": round(status.elapsed, 1),
                }
            ),
            err=True,
        )

    return report


def _summary(result: FollowResult, store: CheckpointStore, quiet: bool) -> int:
    if sys.stderr.isatty() and not quiet:
        click.echo("", err=True)
    for gap in result.gaps:
        click.echo(f"GAP: {gap.describe()}", err=True)
    if result.gaps:
        click.echo("  data may be missing from the replica: run diff-tables --repair", err=True)
    if not quiet:
        state = "caught up" if result.caught_up else "stopped"
        skipped = result.skipped_on_request
        click.echo(
            f"{state}: {result.records} record(s) in {result.batches} batch(es)"
            + (f" ({skipped} skipped on request)" if skipped else "")
            + f", {result.shards_finished} shard(s) finished; checkpoint {store.describe()}"
        )
        click.echo(result.calls.describe(), err=True)
    return int(ExitCode.FOUND if result.gaps else ExitCode.OK)


@dataclass(frozen=True, kw_only=True)
class ReplicateParams(FollowParams, PairParams, GiveUpParams, CommonParams):
    """replicate's parameters, as parsed."""

    mode: Mode
    checkpoint: str | None
    start: str
    skip_ttl_deletes: bool
    turnover_role: str | None
    turnover_at: int | None
    skip_records: tuple[str, ...]


@click.command(
    "replicate",
    context_settings=CONTEXT_SETTINGS,
    epilog=f"{ADDRESS_HELP}\n\n"
    + exit_codes_help(
        "caught up (--until-caught-up) or stopped at --max-seconds, every record applied",
        "records expired before they were applied (a gap): run diff-tables --repair",
    ),
)
@click.argument("primary")
@click.argument("replica")
@click.option(
    "--mode",
    type=click.Choice(["image", "fetch"]),
    default="image",
    show_default=True,
    help="image: write each record's new image; fetch: re-read the primary for each key.",
)
@click.option("--checkpoint", help=_CHECKPOINT_HELP)
@click.option(
    "--from",
    "start",
    type=click.Choice(["trim-horizon", "latest"]),
    default="trim-horizon",
    show_default=True,
    help="Where to start in the shards open at the very first start (no checkpoint yet).",
)
@follow_options("Exit 0 once every shard is quiet (see --quiet-polls/--quiet-seconds).")
@click.option("--skip-ttl-deletes", is_flag=True, help="Do not replicate deletes made by TTL.")
@click.option(
    "--turnover-role",
    type=click.Choice(["BEFORE", "AFTER"], case_sensitive=False),
    help="Hand-over: replicate only records created before/after --turnover-at.",
)
@click.option("--turnover-at", type=int, help="Hand-over time, epoch milliseconds.")
@click.option(
    "--skip-record",
    "skip_records",
    multiple=True,
    metavar="SEQ",
    help="Skip the record with this sequence number on purpose (logged with its keys); "
    "repeatable. For a record refused as inconsistent.",
)
@give_up_option
@side_auth_options("primary", "replica")
@endpoint_options
@common_options
@as_params(ReplicateParams)
def replicate(params: ReplicateParams) -> None:
    """Follow PRIMARY's DynamoDB Stream and apply its changes to REPLICA."""

    def body() -> int:
        p, r = params.specs(pool=params.concurrency, give_up_after=params.give_up_after)
        filters = _filters(params.skip_ttl_deletes, params.turnover_role, params.turnover_at)
        options = params.follow("LATEST" if params.start == "latest" else "TRIM_HORIZON")
        job = FollowJob(
            p,
            r,
            mode=params.mode,
            filters=filters,
            options=options,
            skip_records=_skip_records(params.skip_records),
        )
        store = _store(job, params.checkpoint, params.endpoint_url, params.quiet)
        # a gap with --fail-on-gap: GapError, exit 1 (data may be missing; exit_codes.py)
        result = follow(job, store, on_status=_reporter(params.quiet))
        return _summary(result, store, params.quiet)

    run_job(body, debug=params.debug, quiet=params.quiet)
