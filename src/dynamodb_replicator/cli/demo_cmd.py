"""``dynamodb-replicator demo``: the whole story on the embedded local backend, narrated.

Each step runs the project's real code against the embedded server: the stream follower, the
diff engine, and the backup, verify and restore commands (invoked in-process with the command
lines a user would type, which the narration prints).
"""

from __future__ import annotations

import os
import shlex
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click

from ..diff import DiffOptions, DiffResult, run_diff
from ..dynamo import TableSpec, parse_table_address
from ..errors import ReplicatorError
from ..items import Item, key_identity
from ..local import LocalServer
from ..local.story import (
    SCHEMA,
    Damage,
    create_bucket,
    create_tables,
    damage_replica,
    job_objects,
    write_primary,
)
from ..replicate.checkpoint import FileCheckpoint
from ..replicate.follow_job import FollowJob, follow
from ..replicate.follower import FollowOptions
from .backup_cmd import backup_table, restore_table, verify_backup
from .exit_codes import exit_codes_help
from .options import CONTEXT_SETTINGS, STANDALONE_COMMANDS, common_options
from .runner import run_job

__all__ = ["demo"]

#: The commands the demo runs as a user would type them.
_COMMANDS = {c.name: c for c in (backup_table, verify_backup, restore_table)}


class DemoStepFailed(ReplicatorError):
    """A demo step did not end as the story says it must."""


@dataclass
class Story:
    """What the steps share: the server, the tables, the items written and the damage done."""

    endpoint: str
    workdir: Path
    count: int
    items: Mapping[Hashable, Item] = field(default_factory=dict)
    damage: frozenset[Damage] = frozenset()
    timings: list[tuple[str, float, str]] = field(default_factory=list)

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:4])

    def table(self, role: str) -> str:
        """The table playing ``role`` (primary, replica, restored) in this run."""
        return f"demo-{role}-{self.run_id}"

    @property
    def bucket(self) -> str:
        return f"demo-backups-{self.run_id}"

    def spec(self, role: str) -> TableSpec:
        return TableSpec(parse_table_address(self.address(role), environ={}))

    def address(self, role: str) -> str:
        return f"{self.endpoint}/{self.table(role)}"


def _step(story: Story, title: str, fn: Callable[[], str]) -> None:
    click.echo(click.style(f"▸ {title}", bold=True))
    started = time.monotonic()
    try:
        outcome = fn()
    except ReplicatorError as exc:
        raise DemoStepFailed(f"demo step {title!r} failed: {exc.message}", cause=exc) from exc
    took = time.monotonic() - started
    click.echo(f"  {outcome}  ({took:.1f}s)")
    story.timings.append((title, took, outcome))


def shown_command(args: list[str]) -> str:
    """``args`` (a subcommand and its arguments) as a user types it: stand-alone commands by
    their own name, the others as ``dynamodb-replicator COMMAND``, quoted for a shell."""
    argv = args if args[0] in STANDALONE_COMMANDS else ["dynamodb-replicator", *args]
    return shlex.join(argv)


def _show(args: list[str]) -> None:
    click.echo(click.style("  $ " + shown_command(args), dim=True))


def _run_command(args: list[str]) -> int:
    """Run one of this tool's commands in-process, as typed on a terminal; its exit code."""
    _show(args)
    command = _COMMANDS[args[0]]
    code = command.main(
        args=args[1:], prog_name=f"dynamodb-replicator {args[0]}", standalone_mode=False
    )
    return int(code or 0)


# --- the steps --------------------------------------------------------------------------------


def _create_tables(story: Story) -> str:
    view = create_tables(story.spec("primary"), story.spec("replica"))
    return f"primary (stream {view}) and replica created"


def _write_primary(story: Story) -> str:
    written = write_primary(story.spec("primary"), story.count)
    story.items = written.items
    return (
        f"{story.count} items written (every attribute type), {written.updated} updated, "
        f"{written.deleted} deleted: {len(story.items)} remain"
    )


def _follow(story: Story) -> str:
    job = FollowJob(
        story.spec("primary"),
        story.spec("replica"),
        options=FollowOptions(until_caught_up=True, quiet_seconds=1.0, max_seconds=120),
    )
    _show(["replicate", story.address("primary"), story.address("replica"), "--until-caught-up"])
    result = follow(job, FileCheckpoint(story.workdir / "checkpoint.json"))
    if not result.caught_up or result.gaps:
        raise DemoStepFailed("the follower did not catch up cleanly")
    lag = "n/a" if result.max_lag_seconds is None else f"{result.max_lag_seconds:.1f}s"
    return (
        f"{result.records} stream records applied in {result.batches} batches; "
        f"largest replication lag seen: {lag}"
    )


def _diff(story: Story, primary: str, replica: str, *, repair: bool = False) -> DiffResult:
    flags = ["--repair"] if repair else []
    _show(["diff-tables", story.address(primary), story.address(replica), *flags])
    return run_diff(
        story.spec(primary), story.spec(replica), DiffOptions(recheck_delay=0.5, repair=repair)
    )


def _expect_agree(story: Story, primary: str, replica: str) -> str:
    result = _diff(story, primary, replica)
    if result.stats.found:
        raise DemoStepFailed(f"{result.stats.found} discrepancies where none were expected")
    return f"{result.stats.scanned_primary} items compared: 0 discrepancies"


def _damage(story: Story) -> str:
    story.damage = damage_replica(story.spec("replica"), story.items)
    return "replica damaged: 10 items deleted, 10 changed, 10 strays added"


def _find_damage(story: Story) -> str:
    result = _diff(story, "primary", "replica")
    found = {(d.kind.value, key_identity(d.key, SCHEMA)) for d in result.discrepancies}
    if found != story.damage:
        raise DemoStepFailed(
            f"diff-tables found {len(found)} discrepancies; the damage was {len(story.damage)}"
            f" ({len(found - story.damage)} unexpected, {len(story.damage - found)} not found)"
        )
    s = result.stats
    return (
        f"found exactly the damage: {s.missing} missing, {s.different} different, "
        f"{s.extraneous} extraneous (diff-tables exits 1)"
    )


def _repair(story: Story) -> str:
    result = _diff(story, "primary", "replica", repair=True)
    if not result.agree or result.stats.repaired != len(story.damage):
        raise DemoStepFailed(f"repaired {result.stats.repaired} of {len(story.damage)}")
    return f"{result.stats.repaired} repairs written with race-safe conditions"


def _backup(story: Story) -> str:
    create_bucket(story.bucket)
    args = [
        "backup-table",
        story.address("primary"),
        f"s3://{story.bucket}/jobs",
        "--jobid",
        "demo",
        "--segments",
        "4",
        "--workers",
        "1",
        "--quiet",
    ]
    if _run_command(args):
        raise DemoStepFailed("backup-table did not exit 0")
    names = job_objects(story.bucket, "jobs/demo/")
    return f"{len(names)} objects written: {', '.join(names)}"


def _verify(story: Story) -> str:
    if _run_command(["verify-backup", f"s3://{story.bucket}/jobs/demo", "--quiet"]):
        raise DemoStepFailed("verify-backup did not exit 0")
    return "every segment matches its manifest (count, size, SHA-256)"


def _restore(story: Story) -> str:
    args = [
        "restore-table",
        f"s3://{story.bucket}/jobs/demo",
        story.address("restored"),
        "--create",
        "--quiet",
    ]
    if _run_command(args):
        raise DemoStepFailed("restore-table did not exit 0")
    return "restored into a new table created from the manifest"


# --- the command ------------------------------------------------------------------------------


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _summary(story: Story) -> None:
    click.echo("")
    click.echo(click.style("summary", bold=True))
    width = max(len(title) for title, _, _ in story.timings)
    for title, took, _ in story.timings:
        click.echo(f"  {title:<{width}}  {took:6.1f}s  ok")
    total = sum(took for _, took, _ in story.timings)
    click.echo(f"  {'total':<{width}}  {total:6.1f}s")


def _keep(environment: dict[str, str], story: Story) -> None:
    click.echo("")
    click.echo("The server keeps running (Ctrl-C stops it). Point the commands at it with:")
    for name, value in environment.items():
        click.echo(f"  export {name}={value}")
    click.echo(
        "  " + shown_command(["diff-tables", story.address("primary"), story.address("replica")])
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:  # the way to stop the server: not an error
        click.echo("stopped")


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=exit_codes_help("every step of the story ended as it should"),
)
@click.option(
    "--items",
    "count",
    type=click.IntRange(min=100),
    default=1000,
    show_default=True,
    help="Items written to the primary.",
)
@click.option("--keep", is_flag=True, help="Leave the server running afterwards.")
@common_options
def demo(count: int, keep: bool, debug: bool, quiet: bool) -> None:
    """Run the whole story on the embedded local server, step by step.

    Creates a primary with a stream and a replica, writes items of every type, follows the
    stream, proves the tables agree, damages the replica, finds and repairs exactly that damage,
    then backs up, verifies and restores the primary and proves the copy identical. Exits 0, or
    non-zero naming the step that failed.
    """

    def tell(server: LocalServer, environment: dict[str, str], scratch: Path) -> int:
        story = Story(server.endpoint_url, scratch, count)
        click.echo(f"embedded DynamoDB, DynamoDB Streams and S3 on {server.endpoint_url}")
        for title, fn in (
            ("create tables", lambda: _create_tables(story)),
            ("write, update and delete", lambda: _write_primary(story)),
            ("replicate from the stream", lambda: _follow(story)),
            ("diff-tables: agree?", lambda: _expect_agree(story, "primary", "replica")),
            ("damage the replica", lambda: _damage(story)),
            ("diff-tables: find the damage", lambda: _find_damage(story)),
            ("diff-tables --repair", lambda: _repair(story)),
            ("diff-tables: agree again?", lambda: _expect_agree(story, "primary", "replica")),
            ("backup-table, 4 segments", lambda: _backup(story)),
            ("verify-backup", lambda: _verify(story)),
            ("restore-table --create", lambda: _restore(story)),
            (
                "diff-tables: original vs restored",
                lambda: _expect_agree(story, "primary", "restored"),
            ),
        ):
            _step(story, title, fn)
        _summary(story)
        if keep:
            _keep(environment, story)
        return 0

    def body() -> int:
        with LocalServer() as server, tempfile.TemporaryDirectory() as scratch:
            environment = server.environment()  # taken before the demo sets it: what a shell needs
            with _environment(environment):
                return tell(server, environment, Path(scratch))

    run_job(body, debug=debug, quiet=quiet)
