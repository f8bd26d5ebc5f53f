"""Options shared by the commands, and turning them into library objects."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..dynamo import ACCEPTED_FORMS, Auth, ClientOptions, TableSpec, parse_table_address
from ..errors import UsageError

__all__ = [
    "common_options",
    "endpoint_options",
    "parse_segment_options",
    "segment_options",
    "side_auth_options",
    "table_spec",
]

F = TypeVar("F", bound=Callable[..., Any])


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(fn: F) -> F:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


def common_options(fn: F) -> F:
    """--debug and --quiet, on every command."""
    return _stack(
        click.option("--debug", is_flag=True, help="Show tracebacks and debug logs."),
        click.option("--quiet", "-q", is_flag=True, help="No progress display; warnings only."),
    )(fn)


def endpoint_options(fn: F) -> F:
    """--endpoint-url and --region, for addresses that name a region or an endpoint."""
    return _stack(
        click.option(
            "--endpoint-url",
            envvar="AWS_ENDPOINT_URL_DYNAMODB",
            show_envvar=True,
            help="Send REGION/TABLE addresses to this DynamoDB endpoint (e.g. a local server).",
        ),
        click.option(
            "--region",
            help="Region for HOST:PORT/TABLE and http(s):// addresses "
            "(default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1).",
        ),
    )(fn)


def side_auth_options(*sides: str) -> Callable[[F], F]:
    """--<side>-profile and --<side>-role-arn for each side (cross-account jobs)."""
    decorators: list[Callable[[F], F]] = []
    for side in sides:
        decorators.append(
            click.option(f"--{side}-profile", help=f"AWS profile for the {side} table.")
        )
        decorators.append(
            click.option(
                f"--{side}-role-arn",
                help=f"IAM role to assume (STS, auto-refreshed) for the {side} table.",
            )
        )
    return _stack(*decorators)


def segment_options(fn: F) -> F:
    """--segment/--segments/--workers: parallel scan segments."""
    return _stack(
        click.option("--segment", type=int, help="Segment identifier (0-based); needs --segments."),
        click.option("--segments", type=int, help="Total number of segments of the parallel scan."),
        click.option(
            "--workers",
            type=int,
            help="Worker processes when running all --segments here (default: CPU count).",
        ),
    )(fn)


def parse_segment_options(
    segment: int | None, segments: int | None, workers: int | None
) -> tuple[list[int], int, int]:
    """(segments to run here, total segments, workers); out-of-range values are usage errors."""
    if segment is not None and segments is None:
        raise UsageError("--segment needs --segments", hint="add --segments M (segment < M)")
    total = segments or 1
    if total < 1 or total > 1_000_000:
        raise UsageError(f"--segments {total} is out of range", hint="use 1 to 1000000")
    if segment is not None and not 0 <= segment < total:
        raise UsageError(
            f"--segment {segment} is out of range for --segments {total}",
            hint=f"use 0 to {total - 1}",
        )
    run = [segment] if segment is not None else list(range(total))
    default_workers = max(1, min(len(run), os.cpu_count() or 1))
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    return run, total, workers or default_workers


def table_spec(
    text: str,
    *,
    region: str | None,
    endpoint_url: str | None,
    profile: str | None = None,
    role_arn: str | None = None,
    pool: int = 10,
) -> TableSpec:
    """A :class:`TableSpec` from a command-line address and its side's credentials."""
    address = parse_table_address(
        text, region=region, endpoint_url=endpoint_url, environ=os.environ
    )
    return TableSpec(
        address=address,
        auth=Auth(profile=profile, role_arn=role_arn),
        options=ClientOptions(max_pool_connections=max(pool, 10)),
    )


ADDRESS_HELP = f"Table addresses: {ACCEPTED_FORMS}."
