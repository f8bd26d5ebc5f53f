"""One call that follows a primary's stream into a replica: the wiring the CLI and demo share.

Checks the two tables before any work (same table twice, key schemas, a stream whose view suits
the mode), then runs a :class:`~.follower.Follower` that applies each batch through the same
:class:`~.pipeline.Replicator` the Lambda handler uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..dynamo import TableSpec, describe_pair, make_client
from ..dynamo.retry import call_counts
from .apply import TableRef
from .checkpoint import CheckpointStore, FileCheckpoint, TableCheckpoint, parse_checkpoint_location
from .config import ReplicatorConfig
from .follower import Follower, FollowOptions, FollowResult, FollowStatus
from .pipeline import Replicator
from .plan import Filters, Mode
from .stream_applier import make_stream_applier
from .streams import find_stream

__all__ = ["FollowJob", "follow", "open_checkpoint"]


@dataclass(frozen=True)
class FollowJob:
    """What to follow and how: both tables, the apply mode and filters, the follower's options,
    and the sequence numbers of records to skip on purpose."""

    primary: TableSpec
    replica: TableSpec
    mode: Mode = "image"
    filters: Filters = field(default_factory=Filters)
    options: FollowOptions = field(default_factory=FollowOptions)
    skip_records: frozenset[str] = frozenset()

    @property
    def checkpoint_name(self) -> str:
        """This job's row in a checkpoint table: the pair of tables it follows."""
        return f"{self.primary.address}->{self.replica.address}"


def follow(
    job: FollowJob,
    store: CheckpointStore,
    *,
    on_status: Callable[[FollowStatus], None] | None = None,
) -> FollowResult:
    """Follow ``job.primary``'s stream into ``job.replica``, checkpointing in ``store``.

    Raises the project's errors: usage/configuration problems before any work, gaps with
    ``--fail-on-gap``, not caught up within ``max_seconds``.
    """
    p, r = job.primary, job.replica
    pair = describe_pair(p, r)
    p_client, r_client = pair.primary.client, pair.replica.client
    stream = find_stream(pair.primary.info, mode=job.mode, where=str(p.address))
    config = ReplicatorConfig(
        replica=r, mode=job.mode, primary=p, filters=job.filters, skip_records=job.skip_records
    )
    replicator = Replicator(
        config, replica=TableRef(r_client, r.name), primary=TableRef(p_client, p.name)
    )
    streams = p.streams_client()
    follower = Follower(
        streams,
        stream.arn,
        store,
        make_stream_applier(replicator),
        job.options,
        on_status=on_status,
    )
    result = follower.run()
    return replace(result, calls=call_counts(p_client, r_client, streams))


def open_checkpoint(location: str, name: str, endpoint_url: str | None) -> CheckpointStore:
    """The checkpoint store ``--checkpoint`` names: a JSON file, or ``ddb://REGION/TABLE``
    holding this job's row ``name`` (reached at ``endpoint_url``; ``None``: the region's)."""
    where = parse_checkpoint_location(location)
    if isinstance(where, Path):
        return FileCheckpoint(where)
    region, table = where
    client = make_client("dynamodb", region=region, endpoint_url=endpoint_url)
    return TableCheckpoint(client, table, name)
