"""The stream follower's options, shared by ``replicate`` and ``backup-changes``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import click

from ..replicate.follower import FollowOptions
from .options import stack_options

__all__ = ["FollowParams", "follow_options"]

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True, kw_only=True)
class FollowParams:
    """``follow_options``: when to stop, and how many shards at once."""

    until_caught_up: bool
    quiet_polls: int
    quiet_seconds: float
    max_seconds: float | None
    fail_on_gap: bool
    concurrency: int

    def follow(self, start_position: str = "TRIM_HORIZON") -> FollowOptions:
        """The follower's options these parameters ask for."""
        return FollowOptions(
            start_position=start_position,
            until_caught_up=self.until_caught_up,
            quiet_polls=self.quiet_polls,
            quiet_seconds=self.quiet_seconds,
            max_seconds=self.max_seconds,
            fail_on_gap=self.fail_on_gap,
            concurrency=self.concurrency,
        )


def follow_options(until_caught_up_help: str) -> Callable[[F], F]:
    """--until-caught-up, --quiet-polls, --quiet-seconds, --max-seconds, --fail-on-gap and
    --concurrency; ``until_caught_up_help`` says what "caught up" finishes for the command."""
    return stack_options(
        click.option("--until-caught-up", is_flag=True, help=until_caught_up_help),
        click.option(
            "--quiet-polls",
            type=click.IntRange(min=1),
            default=3,
            show_default=True,
            help="Caught up: empty polls in a row per open shard.",
        ),
        click.option(
            "--quiet-seconds",
            type=click.FloatRange(min=0),
            default=2.0,
            show_default=True,
            help="Caught up: seconds since the shard's last records.",
        ),
        click.option("--max-seconds", type=click.FloatRange(min=0), help="Bound the whole run."),
        click.option(
            "--fail-on-gap", is_flag=True, help="Stop at once when trimmed records are found."
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(min=1),
            default=4,
            show_default=True,
            help="Shards read at the same time.",
        ),
    )
