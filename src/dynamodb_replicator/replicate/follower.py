"""The stand-alone stream follower: shards, lineage, polling, checkpoints, until-caught-up.

It reads a table's DynamoDB Stream through the Streams API and hands each page of records to an
``apply`` callback (the same parse, plan and apply code as the Lambda handler). After each
applied page the shard's last applied sequence number is checkpointed, so a restart resumes with
no gap and no loss.

Lineage: a shard is read only once its parent is finished (drained and closed) or gone from the
stream (trimmed). Open shards are read concurrently, at most ``concurrency`` at a time, and each
shard by one reader in order.

``until_caught_up``: the Streams API never says where an open shard ends (and local servers keep
one shard open forever), so "caught up" is defined on the follower's own monotonic clock: every
readable open shard has returned ``quiet_polls`` empty pages in a row, spanning at least
``quiet_seconds`` since its last non-empty page (or since the start), every closed shard is
finished, and no shard waits on its parent. Record timestamps are not used: DynamoDB Local
truncates them to the minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..dynamo import StreamsClient
from ..dynamo.aws import Outcome, aws_errors, expected
from ..dynamo.retry import CallCounts
from ..errors import ConfigError, GapError, JobInterrupted, NotCaughtUpError, ReplicatorError
from .checkpoint import CheckpointState, CheckpointStore, ShardCheckpoint
from .stream_records import normalise_record
from .streams import Shard, list_shards, read_records

__all__ = [
    "ApplyBatch",
    "ApplyOutcome",
    "FollowOptions",
    "FollowResult",
    "FollowStatus",
    "Follower",
    "ShardGap",
    "ShardProgress",
]

log = logging.getLogger(__name__)


_MAX_ITERATOR_REFRESH = 3


# --- what the follower calls and reports ------------------------------------------------------


@dataclass(frozen=True)
class ApplyOutcome:
    """What an ``apply`` call did: records applied in order up to ``last_sequence``.

    ``error`` set: the records after ``last_sequence`` were not applied, and the follower
    checkpoints up to ``last_sequence`` and stops with that error. ``skipped_on_request``
    counts the records passed over because they were named to be skipped.
    """

    last_sequence: str | None
    error: ReplicatorError | None = None
    skipped_on_request: int = 0


ApplyBatch = Callable[[str, list[dict[str, Any]]], ApplyOutcome]


@dataclass(frozen=True)
class ShardGap:
    """Records lost to the stream's 24-hour retention: after ``after_sequence`` (``None``: from
    the shard's start) up to before ``resumed_at`` (``None``: nothing readable was left)."""

    shard_id: str
    after_sequence: str | None
    resumed_at: str | None = None

    def describe(self) -> str:
        start = f"after {self.after_sequence}" if self.after_sequence else "from its start"
        end = f"before {self.resumed_at}" if self.resumed_at else "to the oldest record still kept"
        return f"shard {self.shard_id}: records {start} {end} were trimmed"


@dataclass(frozen=True)
class ShardProgress:
    """How far one shard has been read, for writers that must prove it (heartbeats).

    ``sequence``: the last record applied (``None``: none yet). ``empty_read_at``: the wall
    time (epoch seconds) at which the latest read that returned no records was requested, so
    nothing after ``sequence`` was readable then (``None``: no empty read yet).
    """

    shard_id: str
    parent_id: str | None
    sequence: str | None
    finished: bool
    readable: bool
    empty_read_at: float | None


@dataclass(frozen=True)
class FollowOptions:
    """How to follow: start position, caught-up definition, bounds and concurrency."""

    start_position: str = "TRIM_HORIZON"  # or "LATEST": only for shards open at the first start
    until_caught_up: bool = False
    quiet_polls: int = 3
    quiet_seconds: float = 2.0
    max_seconds: float | None = None
    fail_on_gap: bool = False
    concurrency: int = 4
    page_limit: int = 1000
    idle_sleep: float = 0.25
    relist_seconds: float = 10.0
    status_seconds: float = 5.0
    renew_seconds: float = 15.0


@dataclass(frozen=True)
class FollowStatus:
    """A snapshot for progress displays and structured log lines."""

    shards_reading: int
    shards_waiting: int
    shards_finished: int
    records: int
    records_per_second: float
    lag_seconds: float | None
    elapsed: float


@dataclass(frozen=True)
class FollowResult:
    """How a run ended: records applied, gaps found (any gap means exit 1), caught up or not.

    ``max_lag_seconds`` is the largest replication lag seen when a batch was applied: the apply
    time minus the newest record's creation time (as coarse as the server's timestamps).
    ``calls`` counts the requests made and the errors among them that were retried.
    """

    records: int
    batches: int
    shards_finished: int
    gaps: tuple[ShardGap, ...]
    caught_up: bool
    max_lag_seconds: float | None = None
    skipped_on_request: int = 0
    calls: CallCounts = field(default_factory=CallCounts)


@dataclass
class _ShardRun:
    """Mutable per-shard reading state, owned by the follower (one reader at a time)."""

    shard: Shard
    sequence: str | None
    finished: bool
    start_position: str
    iterator: str | None = None
    empty_polls: int = 0
    last_records_at: float = 0.0
    open_gap: ShardGap | None = None
    prefetch: Future[dict[str, Any]] | None = None
    prefetch_at: float = 0.0
    empty_read_at: float | None = None


@dataclass
class _Poll:
    """The result of one read of one shard."""

    records: list[dict[str, Any]] = field(default_factory=list)
    outcome: ApplyOutcome | None = None
    ended: bool = False
    gap: ShardGap | None = None
    newest_created: float | None = None
    requested_at: float = 0.0


# --- the follower -----------------------------------------------------------------------------


class Follower:
    """Follows one stream into ``apply``, checkpointing to ``store`` (whose lease it holds)."""

    def __init__(
        self,
        streams: StreamsClient,
        stream_arn: str,
        store: CheckpointStore,
        apply: ApplyBatch,
        options: FollowOptions = FollowOptions(),
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_status: Callable[[FollowStatus], None] | None = None,
        on_gap: Callable[[ShardGap], None] | None = None,
    ) -> None:
        self.streams = streams
        self.stream_arn = stream_arn
        self.store = store
        self.apply = apply
        self.options = options
        self.clock = clock
        self.wall = wall
        self.sleep = sleep
        self.on_status = on_status
        self.on_gap = on_gap
        self.runs: dict[str, _ShardRun] = {}
        self.gaps: list[ShardGap] = []
        self.records = 0
        self.batches = 0
        self.skipped_on_request = 0
        self.newest_created: float | None = None
        self.max_lag: float | None = None
        self._started = 0.0
        self._first_start = True
        self._listed: set[str] = set()
        self._prefetcher: ThreadPoolExecutor | None = None

    # --- state ------------------------------------------------------------------------------

    def _load(self) -> None:
        state = self.store.load()
        if state is None:
            return
        self._first_start = False
        if state.stream_arn != self.stream_arn:
            if _table_of(state.stream_arn) != _table_of(self.stream_arn):
                raise ConfigError(
                    f"checkpoint {self.store.describe()} belongs to another table's stream "
                    f"({state.stream_arn})",
                    hint="give each primary its own --checkpoint",
                )
            log.warning(
                "checkpoint %s was for stream %s; the table's stream is now %s: "
                "reading every shard of the new stream from its start",
                self.store.describe(),
                state.stream_arn,
                self.stream_arn,
            )
            return
        for shard_id, saved in state.shards.items():
            self.runs[shard_id] = _ShardRun(
                Shard(shard_id, None, saved.finished),
                saved.sequence,
                saved.finished,
                "TRIM_HORIZON",
                last_records_at=self._started,
            )

    def _state(self) -> CheckpointState:
        return CheckpointState(
            self.stream_arn,
            {sid: ShardCheckpoint(r.sequence, r.finished) for sid, r in self.runs.items()},
        )

    def _save(self) -> None:
        self.store.save(self._state())

    def _relist(self) -> None:
        """Learn new shards and parents; on the very first start, apply ``start_position``."""
        listed = list_shards(self.streams, self.stream_arn)
        for shard in listed:
            run = self.runs.get(shard.shard_id)
            if run is not None:
                run.shard = shard
                continue
            position = "TRIM_HORIZON"
            finished = False
            if self._first_start and self.options.start_position == "LATEST":
                if shard.closed:
                    finished = True  # history before the start: skipped on purpose
                else:
                    position = "LATEST"
            self.runs[shard.shard_id] = _ShardRun(
                shard, None, finished, position, last_records_at=self.clock()
            )
            log.info("shard %s found (parent %s)", shard.shard_id, shard.parent_id)
        self._listed = {s.shard_id for s in listed}

    def _readable(self, run: _ShardRun) -> bool:
        if run.finished:
            return False
        parent = run.shard.parent_id
        if parent is None or parent not in self._listed:
            return True
        parent_run = self.runs.get(parent)
        return parent_run is None or parent_run.finished

    # --- reading one shard (runs in a worker thread; one task per shard at a time) ------------

    def _iterator(self, run: _ShardRun) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": run.shard.shard_id}
        if run.sequence is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=run.sequence)
        else:
            kwargs["ShardIteratorType"] = run.start_position
        response = self.streams.get_shard_iterator(**kwargs)
        return str(response["ShardIterator"])

    def _trim_horizon(self, run: _ShardRun) -> str:
        response = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn,
            ShardId=run.shard.shard_id,
            ShardIteratorType="TRIM_HORIZON",
        )
        return str(response["ShardIterator"])

    def _get_records(self, run: _ShardRun, poll: _Poll) -> dict[str, Any]:
        """GetRecords, re-acquiring expired iterators and turning trimmed data into a gap."""
        refreshes = 0
        while True:
            # Expected while they can still be handled here: an expired iterator (re-acquired,
            # a few times) and trimmed data (a gap, once); otherwise they fail like any error.
            handled: dict[str, Outcome] = {}
            if refreshes < _MAX_ITERATOR_REFRESH:
                handled["ExpiredIteratorException"] = expected
            if poll.gap is None:
                handled["TrimmedDataAccessException"] = expected
            with aws_errors(f"reading shard {run.shard.shard_id}", codes=handled) as caught:
                if run.iterator is None:
                    run.iterator = self._iterator(run)
                return read_records(self.streams, run.iterator, self.options.page_limit)
            if caught.code == "ExpiredIteratorException":
                refreshes += 1
                log.info("shard %s: iterator expired; re-acquiring", run.shard.shard_id)
                run.iterator = None
                continue
            poll.gap = ShardGap(run.shard.shard_id, run.sequence)
            if self.options.fail_on_gap:
                return {"Records": [], "NextShardIterator": run.iterator}
            run.iterator = self._trim_horizon_checked(run)

    def _trim_horizon_checked(self, run: _ShardRun) -> str:
        with aws_errors(f"GetShardIterator on shard {run.shard.shard_id}"):
            iterator = self._trim_horizon(run)
        return iterator

    def _prefetch(self, run: _ShardRun) -> None:
        """Start reading the shard's next page, so it arrives while this one is applied."""
        if self._prefetcher is None or run.iterator is None:
            return
        run.prefetch_at = self.wall()
        run.prefetch = self._prefetcher.submit(
            read_records, self.streams, run.iterator, self.options.page_limit
        )

    def _prefetched(self, run: _ShardRun) -> dict[str, Any] | None:
        """The page read ahead at ``run.iterator``; ``None`` when there is none or it failed
        (the normal read then repeats it, handling expired iterators and trimmed data)."""
        future, run.prefetch = run.prefetch, None
        if future is None:
            return None
        with aws_errors("read-ahead", otherwise=expected) as failed:
            response: dict[str, Any] = future.result()
        if failed:
            shard = run.shard.shard_id
            log.debug("shard %s: read-ahead failed (%s); reading again", shard, failed.error)
            return None
        return response

    def _poll(self, run: _ShardRun) -> _Poll:
        poll = _Poll(requested_at=run.prefetch_at if run.prefetch is not None else self.wall())
        response = self._prefetched(run)
        if response is None:
            poll.requested_at = self.wall()
            response = self._get_records(run, poll)
        if poll.gap is not None and self.options.fail_on_gap:
            return poll
        run.iterator = response.get("NextShardIterator")
        poll.ended = run.iterator is None
        poll.records = [normalise_record(r) for r in response.get("Records", [])]
        if poll.records:
            self._prefetch(run)
            poll.outcome = self.apply(run.shard.shard_id, poll.records)
            stamps = [
                r["dynamodb"].get("ApproximateCreationDateTime")
                for r in poll.records
                if isinstance(r["dynamodb"].get("ApproximateCreationDateTime"), int | float)
            ]
            poll.newest_created = max(stamps) if stamps else None
        return poll

    # --- bookkeeping after a poll (main thread) -----------------------------------------------

    def _absorb(self, run: _ShardRun, poll: _Poll) -> bool:
        """Fold a poll into the state; True if records were applied."""
        if poll.gap is not None:
            run.open_gap = poll.gap
            if self.options.fail_on_gap:
                self.gaps.append(poll.gap)
                if self.on_gap is not None:
                    self.on_gap(poll.gap)
                self._save()
                raise GapError(
                    f"data lost to the stream's retention: {poll.gap.describe()}",
                    hint="run diff-tables --repair to bring the replica back in line",
                )
        if poll.records and run.open_gap is not None:
            gap = ShardGap(
                run.open_gap.shard_id,
                run.open_gap.after_sequence,
                poll.records[0]["dynamodb"].get("SequenceNumber"),
            )
            self._report_gap(gap)
            run.open_gap = None
        if poll.outcome is not None:
            if poll.outcome.last_sequence is not None:
                run.sequence = poll.outcome.last_sequence
            if poll.outcome.error is not None:
                self._save()
                raise poll.outcome.error
            self.records += len(poll.records)
            self.batches += 1
            self.skipped_on_request += poll.outcome.skipped_on_request
            run.empty_polls = 0
            run.last_records_at = self.clock()
            if poll.newest_created is not None:
                self.newest_created = max(self.newest_created or 0.0, poll.newest_created)
                applied_lag = max(0.0, self.wall() - poll.newest_created)
                self.max_lag = max(self.max_lag or 0.0, applied_lag)
        elif not poll.records:
            run.empty_polls += 1
            if poll.gap is None:
                run.empty_read_at = poll.requested_at
        if poll.ended:
            if run.open_gap is not None:
                self._report_gap(run.open_gap)
                run.open_gap = None
            run.finished = True
            log.info("shard %s finished", run.shard.shard_id)
        if poll.outcome is not None or poll.ended:
            self._save()
        return poll.outcome is not None

    def _report_gap(self, gap: ShardGap) -> None:
        self.gaps.append(gap)
        if self.on_gap is not None:
            self.on_gap(gap)
        log.error("GAP: %s; run diff-tables --repair", gap.describe())

    # --- the loop -----------------------------------------------------------------------------

    def _caught_up(self) -> bool:
        opts = self.options
        now = self.clock()
        for run in self.runs.values():
            if run.finished:
                continue
            if not self._readable(run) or run.shard.closed:
                return False
            if run.empty_polls < opts.quiet_polls or now - run.last_records_at < opts.quiet_seconds:
                return False
        return True

    def progress(self) -> tuple[ShardProgress, ...]:
        """Every known shard's progress (call between rounds, e.g. from ``on_status``)."""
        return tuple(
            ShardProgress(
                r.shard.shard_id,
                r.shard.parent_id,
                r.sequence,
                r.finished,
                self._readable(r),
                r.empty_read_at,
            )
            for r in self.runs.values()
        )

    def status(self) -> FollowStatus:
        elapsed = max(self.clock() - self._started, 1e-9)
        reading = sum(1 for r in self.runs.values() if self._readable(r))
        finished = sum(1 for r in self.runs.values() if r.finished)
        lag = None if self.newest_created is None else max(0.0, self.wall() - self.newest_created)
        return FollowStatus(
            shards_reading=reading,
            shards_waiting=len(self.runs) - reading - finished,
            shards_finished=finished,
            records=self.records,
            records_per_second=self.records / elapsed,
            lag_seconds=lag,
            elapsed=elapsed,
        )

    def _result(self, caught_up: bool) -> FollowResult:
        return FollowResult(
            records=self.records,
            batches=self.batches,
            shards_finished=sum(1 for r in self.runs.values() if r.finished),
            gaps=tuple(self.gaps),
            caught_up=caught_up,
            max_lag_seconds=self.max_lag,
            skipped_on_request=self.skipped_on_request,
        )

    def run(self) -> FollowResult:
        """Take the lease, follow until caught up / bounded / interrupted, then release it."""
        self.store.acquire()
        try:
            return self._run()
        finally:
            self.store.release()

    def _run(self) -> FollowResult:
        opts = self.options
        self._started = self.clock()
        self._load()
        self._relist()
        self._first_start = False  # every shard found from now on is read from its start
        self._save()
        next_list = self._started + opts.relist_seconds
        next_status = self._started + opts.status_seconds
        next_renew = self._started + opts.renew_seconds
        workers = max(1, opts.concurrency)
        with (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shard") as pool,
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read-ahead") as ahead,
        ):
            self._prefetcher = ahead
            try:
                while True:
                    now = self.clock()
                    if opts.max_seconds is not None and now - self._started >= opts.max_seconds:
                        return self._out_of_time()
                    if now >= next_list:
                        self._relist()
                        next_list = now + opts.relist_seconds
                    if now >= next_renew:  # keep an expiring lease while idle
                        self.store.renew()
                        next_renew = now + opts.renew_seconds
                    applied, ended = self._round(pool)
                    if ended:
                        self._relist()  # children of a finished shard may be readable now
                    if self.on_status is not None and self.clock() >= next_status:
                        self.on_status(self.status())
                        next_status = self.clock() + opts.status_seconds
                    if opts.until_caught_up and self._caught_up():
                        self._relist()
                        if self._caught_up():
                            self._save()
                            return self._result(caught_up=True)
                    if not applied:
                        self.sleep(opts.idle_sleep)
            except KeyboardInterrupt:
                pool.shutdown(wait=True, cancel_futures=True)
                ahead.shutdown(wait=True, cancel_futures=True)
                self._save()
                raise JobInterrupted(
                    f"interrupted after {self.records} record(s); checkpoint saved to "
                    f"{self.store.describe()}"
                ) from None
            finally:
                self._prefetcher = None

    def _out_of_time(self) -> FollowResult:
        self._save()
        if not self.options.until_caught_up:
            return self._result(caught_up=False)
        raise NotCaughtUpError(
            f"not caught up after --max-seconds {self.options.max_seconds:g} "
            f"({self.records} record(s) applied; checkpoint saved)",
            hint="run again to continue from the checkpoint, or raise --max-seconds",
        )

    def _round(self, pool: ThreadPoolExecutor) -> tuple[bool, bool]:
        """Poll every readable shard once (bounded concurrency); (records applied, a shard ended)."""
        ready = [r for r in self.runs.values() if self._readable(r)]
        futures: list[tuple[_ShardRun, Future[_Poll]]] = [
            (run, pool.submit(self._poll, run)) for run in ready
        ]
        applied = ended = False
        error: BaseException | None = None
        for run, future in futures:
            try:
                poll = future.result()
                applied = self._absorb(run, poll) or applied
                ended = ended or poll.ended
            except BaseException as exc:  # finish the other shards' bookkeeping, then raise
                if error is None:
                    error = exc
        if error is not None:
            self._save()
            raise error
        return applied, ended


def _table_of(stream_arn: str) -> str:
    """The table part of a stream ARN (``arn:...:table/NAME/stream/LABEL`` -> ``NAME``).

    Only the name is read: region and account are not trustworthy on local servers.
    """
    _, found, rest = stream_arn.partition(":table/")
    return rest.split("/stream/", 1)[0] if found else stream_arn
