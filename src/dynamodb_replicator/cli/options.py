"""Options shared by the commands, the typed objects they parse into, and turning those into
library objects.

Each command's body takes one frozen params object (``@as_params(DiffTablesParams)``) built from
click's parsed values, so mypy sees a typed field for every option instead of a string key. The
params classes are made of the shared groups below (``CommonParams`` for ``common_options``,
...), field for option, named as click names the option's value.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from ..backup import StorageSpec, parse_destination
from ..diff import FORMATS
from ..dynamo import ACCEPTED_FORMS, Auth, ClientOptions, TableSpec, parse_table_address
from ..dynamo.address import is_role_arn
from ..dynamo.clients import DEFAULT_GIVE_UP_AFTER
from ..errors import UsageError
from ..segments import AUTO, INDEX_VARIABLES, Engine, Fault, LocalEngine, segment_from_environ
from ..segments.dask import DaskEngine

__all__ = [
    "CONTEXT_SETTINGS",
    "RATE",
    "SEGMENT",
    "STANDALONE_COMMANDS",
    "WORKERS_HINT",
    "ClusterParams",
    "CommonParams",
    "Embedding",
    "EndpointParams",
    "GiveUpParams",
    "PairParams",
    "ResultsParams",
    "S3Params",
    "SegmentParams",
    "as_params",
    "cluster_options",
    "common_options",
    "endpoint_options",
    "engine_from_options",
    "format_option",
    "parse_segment_options",
    "resolve_segment",
    "results_dir_from_options",
    "results_options",
    "s3_option",
    "segment_options",
    "side_auth_options",
    "stack_options",
    "table_spec",
]

F = TypeVar("F", bound=Callable[..., Any])
P = TypeVar("P")


def as_params(params: Callable[..., P]) -> Callable[[Callable[[P], None]], Callable[..., None]]:
    """Give a command body one frozen ``params`` object instead of click's keyword arguments.

    Put it right above the body (below the ``click.option`` decorators): click calls the
    returned callback with every parsed value by name, and ``params`` (a frozen dataclass whose
    fields are exactly the command's parameters) is built from them. The body keeps its name and
    docstring, which click shows as the command's help.
    """

    def decorate(body: Callable[[P], None]) -> Callable[..., None]:
        @functools.wraps(body)
        def callback(**values: Any) -> None:
            body(params(**values))

        return callback

    return decorate


# --- the shared groups of parameters -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CommonParams:
    """``common_options``: --debug, --quiet."""

    debug: bool
    quiet: bool


@dataclass(frozen=True, kw_only=True)
class EndpointParams:
    """``endpoint_options``: --endpoint-url, --region."""

    endpoint_url: str | None
    region: str | None


@dataclass(frozen=True, kw_only=True)
class PairParams(EndpointParams):
    """PRIMARY and REPLICA with ``side_auth_options("primary", "replica")`` and
    ``endpoint_options``."""

    primary: str
    replica: str
    primary_profile: str | None
    primary_role_arn: str | None
    replica_profile: str | None
    replica_role_arn: str | None

    def specs(
        self, *, pool: int = 10, give_up_after: float | None = None
    ) -> tuple[TableSpec, TableSpec]:
        """Both tables' :class:`TableSpec`, each with its side's credentials."""
        give_up = DEFAULT_GIVE_UP_AFTER if give_up_after is None else give_up_after

        def side(text: str, profile: str | None, role_arn: str | None) -> TableSpec:
            return table_spec(
                text,
                region=self.region,
                endpoint_url=self.endpoint_url,
                profile=profile,
                role_arn=role_arn,
                pool=pool,
                give_up_after=give_up,
            )

        return (
            side(self.primary, self.primary_profile, self.primary_role_arn),
            side(self.replica, self.replica_profile, self.replica_role_arn),
        )


@dataclass(frozen=True, kw_only=True)
class SegmentParams:
    """``segment_options``: --segment, --segments, --workers."""

    segment: str | None
    segments: int | None
    workers: int | None


@dataclass(frozen=True, kw_only=True)
class ClusterParams:
    """``cluster_options``: --dask-scheduler, --dask-retries (defaults: the local pool)."""

    dask_scheduler: str | None = None
    dask_retries: int = 2


@dataclass(frozen=True, kw_only=True)
class ResultsParams:
    """``results_options``: --results-dir."""

    results_dir: str | None


@dataclass(frozen=True, kw_only=True)
class GiveUpParams:
    """``give_up_option``: --give-up-after."""

    give_up_after: float


@dataclass(frozen=True, kw_only=True)
class S3Params:
    """``s3_option``: --s3-endpoint-url."""

    s3_endpoint_url: str | None


# --- the shared options --------------------------------------------------------------------------

#: Every command's click settings: ``-h`` as well as ``--help``, whether it runs as a
#: subcommand or as a stand-alone program (``diff-tables -h``).
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def stack_options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying ``decorators`` in the order written (the first one outermost)."""

    def apply(fn: F) -> F:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


def common_options(fn: F) -> F:
    """--debug and --quiet, on every command."""
    return stack_options(
        click.option("--debug", is_flag=True, help="Show tracebacks and debug logs."),
        click.option("--quiet", "-q", is_flag=True, help="No progress display; warnings only."),
    )(fn)


def endpoint_options(fn: F) -> F:
    """--endpoint-url and --region, for addresses that name a region or an endpoint."""
    return stack_options(
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
    return stack_options(*decorators)


#: The commands installed as programs of their own too (``diff-tables``, as in the original
#: tool); the others run only as ``dynamodb-replicator COMMAND``.
STANDALONE_COMMANDS = frozenset(
    {"diff-tables", "backup-table", "restore-table", "diff-record", "replicate-record"}
)

#: A rate of capacity units per second (--rate-read, --rate-write): more than zero; leave the
#: option out for no limit.
RATE = click.FloatRange(min=0, min_open=True)

#: The fix for a bad ``--workers``.
WORKERS_HINT = "give 1 or more worker processes, or leave --workers out for the default"

#: ``--segment``'s type: a number, or ``auto`` (an array job's index, read when the job runs).
SEGMENT = click.STRING
_AUTO_HELP = f"'auto' takes it from {' or '.join(INDEX_VARIABLES)} (array jobs)"


def resolve_segment(value: int | str | None) -> int | None:
    """``--segment``'s value as a number; ``auto`` reads the array index from the environment."""
    if value is None or isinstance(value, int):
        return value
    text = value.strip()
    if text == AUTO:
        return segment_from_environ(os.environ)
    try:
        return int(text)
    except ValueError:
        raise UsageError(
            f"--segment {value!r} is neither a segment number nor 'auto'",
            hint="give a number 0..M-1, or auto in an array job",
        ) from None


def segment_options(fn: F) -> F:
    """--segment/--segments/--workers: parallel scan segments."""
    return stack_options(
        click.option(
            "--segment",
            type=SEGMENT,
            help=f"Segment identifier (0-based); needs --segments. {_AUTO_HELP}.",
        ),
        click.option("--segments", type=int, help="Total number of segments of the parallel scan."),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            help="Worker processes when running all --segments here (default: CPU count).",
        ),
    )(fn)


def parse_segment_options(
    segment: int | str | None, segments: int | None, workers: int | None
) -> tuple[list[int], int, int]:
    """(segments to run here, total segments, workers); out-of-range values are usage errors.

    ``segment`` may be ``"auto"``: the array job's index (a usage error when none is set).
    """
    if segment is not None and segments is None:
        raise UsageError("--segment needs --segments", hint="add --segments M (segment < M)")
    segment = resolve_segment(segment)
    total = 1 if segments is None else segments
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
        raise UsageError("--workers must be at least 1", hint=WORKERS_HINT)
    return run, total, workers or default_workers


def give_up_option(fn: F) -> F:
    """--give-up-after SECONDS: when a dead endpoint fails the job."""
    return click.option(
        "--give-up-after",
        type=click.FloatRange(min=0, min_open=True),
        default=DEFAULT_GIVE_UP_AFTER,
        show_default=True,
        metavar="SECONDS",
        help="Fail once every attempt of a request has failed for this long (a dead endpoint); "
        "until then throttling and errors are retried with backoff.",
    )(fn)


def table_spec(
    text: str,
    *,
    region: str | None,
    endpoint_url: str | None,
    profile: str | None = None,
    role_arn: str | None = None,
    pool: int = 10,
    give_up_after: float = DEFAULT_GIVE_UP_AFTER,
) -> TableSpec:
    """A :class:`TableSpec` from a command-line address and its side's credentials."""
    address = parse_table_address(
        text, region=region, endpoint_url=endpoint_url, environ=os.environ
    )
    if role_arn is not None and not is_role_arn(role_arn):
        raise UsageError(
            f"{role_arn!r} is not an IAM role ARN",
            hint="use the form arn:aws:iam::123456789012:role/NAME",
        )
    return TableSpec(
        address=address,
        auth=Auth(profile=profile, role_arn=role_arn),
        options=ClientOptions(max_pool_connections=max(pool, 10), give_up_after=give_up_after),
    )


def cluster_options(fn: F) -> F:
    """--dask-scheduler and --dask-retries: run the segments on a Dask cluster."""
    return stack_options(
        click.option(
            "--dask-scheduler",
            metavar="ADDRESS",
            envvar="DASK_SCHEDULER_ADDRESS",
            show_envvar=True,
            help="Run one task per segment on this Dask scheduler (tcp://HOST:8786); workers "
            "use their own AWS credentials. Needs the 'dask' extra.",
        ),
        click.option(
            "--dask-retries",
            type=click.IntRange(min=0),
            default=2,
            show_default=True,
            help="Re-runs of a failed segment task before the job fails naming it.",
        ),
    )(fn)


@dataclass(frozen=True)
class Embedding:
    """What a program that calls the commands in-process may hand them as click's context
    object (``cli.main(args, obj=Embedding(...))``): a fault hook for the segments' engine."""

    fault: Fault | None = None


def _fault() -> Fault | None:
    """The fault hook of the :class:`Embedding` the commands were invoked with, if any."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj.fault if isinstance(obj, Embedding) else None


def engine_from_options(params: ClusterParams) -> Engine:
    """The engine the options ask for: a Dask cluster, or the local pool."""
    if not params.dask_scheduler:
        return LocalEngine(fault=_fault())
    return DaskEngine(params.dask_scheduler, retries=params.dask_retries, hook=_fault())


def results_options(fn: F) -> F:
    """--results-dir: write this segment's machine-readable result there (array jobs)."""
    return click.option(
        "--results-dir",
        metavar="DIR",
        help="Write this segment's result to DIR/segment-<N>.json (s3://bucket/prefix or a "
        "local ./dir, /abs/dir); combine them with merge-results DIR. Needs --segment.",
    )(fn)


def results_dir_from_options(
    params: ResultsParams,
    segments: list[int] | None,
    s3_endpoint_url: str | None = None,
    *,
    sse: str | None = None,
    sse_kms_key_id: str | None = None,
) -> StorageSpec | None:
    """Where this run's segment result goes; ``--results-dir`` needs exactly one segment.

    Its S3 endpoint: ``s3_endpoint_url`` (the command's --s3-endpoint-url), else
    ``AWS_ENDPOINT_URL_S3``; its encryption: the command's --sse / --sse-kms-key-id, if any.
    """
    if not params.results_dir:
        return None
    if segments is None or len(segments) != 1:
        raise UsageError(
            "--results-dir writes one segment's result: it needs --segment N (or auto)",
            hint="run each segment as its own process (an array job), then merge-results DIR",
        )
    endpoint = s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3")
    return StorageSpec(
        parse_destination(params.results_dir),
        s3_endpoint_url=endpoint,
        sse=sse,
        sse_kms_key_id=sse_kms_key_id,
    )


def format_option(help_text: str) -> Callable[[F], F]:
    """--format human|jsonl: how discrepancy lines are printed (``fmt``)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="human",
        show_default=True,
        help=help_text,
    )


def s3_option(fn: F) -> F:
    """--s3-endpoint-url, for commands that read or write S3."""
    return click.option(
        "--s3-endpoint-url",
        envvar="AWS_ENDPOINT_URL_S3",
        show_envvar=True,
        help="Send S3 requests to this endpoint (an S3-compatible server).",
    )(fn)


ADDRESS_HELP = f"Table addresses: {ACCEPTED_FORMS}."
