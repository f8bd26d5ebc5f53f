"""Batch get and batch write with bounded retries of leftovers.

``BatchGetItem`` and ``BatchWriteItem`` succeed with leftovers (``UnprocessedKeys`` /
``UnprocessedItems``) when throttled, and botocore does not retry those. Here they are retried
with exponential backoff and full jitter (:mod:`.backoff`): bounded by attempts without progress,
by time in which no attempt got anywhere, and by an optional deadline. A failed call is retried
by the client (:mod:`.retry`). When either runs out, the error carries exactly the keys that
were not read or written: nothing is dropped silently.

Leftovers of a get whose response reached the 16 MB limit are not throttling: they are asked
for again at once, without spending the retry budget.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..errors import AwsError, CallDeadlineError, IncompleteBatchError, RetriesExhaustedError
from ..items import Item, Key, KeySchema, extract_key, item_size, key_identity
from .aws import aws_errors, consumed_units
from .backoff import Backoff, RetryBudget
from .clients import Client
from .ratelimit import RateLimiter
from .retry import bounded, with_give_up_of
from .scan import projection_args

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef, WriteRequestTypeDef

__all__ = [
    "MAX_GET_KEYS",
    "MAX_REQUEST_BYTES",
    "MAX_WRITE_REQUESTS",
    "BatchResult",
    "Delete",
    "Put",
    "WriteRequest",
    "batch_get",
    "batch_write",
    "collapse_writes",
]

MAX_GET_KEYS = 100
MAX_WRITE_REQUESTS = 25
#: BatchWriteItem's request limit. Never reached by 25 items DynamoDB accepts (at most 400 KB
#: each), so writes are chunked by count alone (sizing every item cost more client CPU than
#: serializing it).
MAX_REQUEST_BYTES = 16 * 1024 * 1024
#: A get response this large was cut by the 16 MB response limit, not by throttling.
_SIZE_CUT = 15 * 1024 * 1024


@dataclass(frozen=True)
class Put:
    """Write ``item`` (replacing any item with its key)."""

    item: Item


@dataclass(frozen=True)
class Delete:
    """Delete the item with ``key``."""

    key: Key


WriteRequest = Put | Delete


@dataclass
class BatchResult:
    """What a batch call did: items read (gets), requests written (writes), cost and retries."""

    items: list[Item] = field(default_factory=list)
    written: int = 0
    consumed: float = 0.0
    retries: int = 0

    def by_key(self, schema: KeySchema) -> dict[Hashable, Item]:
        """The items read, by key identity (for looking keys up after a batch get)."""
        return {key_identity(item, schema): item for item in self.items}


def _request_key(request: WriteRequest, schema: KeySchema) -> Key:
    return extract_key(request.item, schema) if isinstance(request, Put) else request.key


def _wire(request: WriteRequest) -> dict[str, Any]:
    if isinstance(request, Put):
        return {"PutRequest": {"Item": request.item}}
    return {"DeleteRequest": {"Key": request.key}}


def collapse_writes(requests: Iterable[WriteRequest], schema: KeySchema) -> list[WriteRequest]:
    """Keep the last request per key, at the position of that key's first request.

    DynamoDB rejects a batch that names one key twice, and only the last change matters.
    """
    latest: dict[Any, WriteRequest] = {}
    for request in requests:
        latest[key_identity(_request_key(request, schema), schema)] = request
    return list(latest.values())


def _write_chunks(requests: Sequence[WriteRequest]) -> Iterator[list[WriteRequest]]:
    """Calls of at most 25 requests (see :data:`MAX_REQUEST_BYTES`: size needs no check)."""
    for start in range(0, len(requests), MAX_WRITE_REQUESTS):
        yield list(requests[start : start + MAX_WRITE_REQUESTS])


def _exhausted(what: str, left: Sequence[Key], budget: RetryBudget) -> RetriesExhaustedError:
    return RetriesExhaustedError(
        f"{what}: {len(left)} key(s) left after bounded retries ({budget.reason})",
        keys=left,
        hint="the table is throttling or failing; lower --rate-*, raise capacity, then run again",
    )


def _incomplete(error: AwsError, what: str, keys: Sequence[Key]) -> IncompleteBatchError:
    """A failed call (the client already retried it, or no time was left to try): the keys not
    done. Configuration errors (a missing table, no credentials) are not wrapped: they pass."""
    deadline = isinstance(error, CallDeadlineError)  # its message does not name the call
    message = f"{what} failed: {error.message}" if deadline else error.message
    return IncompleteBatchError(
        f"{message} ({len(keys)} key(s) not done)",
        keys=keys,
        hint=error.hint or "see the AWS error above; fix its cause, then run again",
        cause=error.cause or error,
    )


def _unwritten(
    left: Sequence[Mapping[str, Any]], later: Sequence[Sequence[WriteRequest]], schema: KeySchema
) -> list[Key]:
    """Keys of the requests still in flight plus every later chunk's."""
    return [_key_of(w, schema) for w in left] + [_request_key(r, schema) for c in later for r in c]


def batch_write(
    client: Client,
    table: str,
    requests: Iterable[WriteRequest],
    schema: KeySchema,
    *,
    backoff: Backoff = Backoff(),
    limiter: RateLimiter | None = None,
    capacity: bool = True,
) -> BatchResult:
    """Write every request, 25 per call, retrying ``UnprocessedItems`` with backoff.

    Requests for the same key collapse to the last. Chunks are sent in order, each finished
    before the next, so the order of changes to one key is kept. Raises
    :class:`RetriesExhaustedError` naming every key not written (the failing chunk's leftovers
    and all later requests). ``capacity=False`` leaves ``ReturnConsumedCapacity`` out of the
    requests (``consumed`` stays 0), for callers that neither limit their rate nor report the
    units: the server then does not account them call by call; a ``limiter`` always asks.
    """
    extra: dict[str, Any] = {}
    if capacity or limiter is not None:
        extra["ReturnConsumedCapacity"] = "TOTAL"
    pending = collapse_writes(requests, schema)
    result = BatchResult()
    chunks = list(_write_chunks(pending))
    calls = bounded(client, backoff)
    backoff = with_give_up_of(client, backoff)
    what = f"BatchWriteItem on {table}"
    for index, chunk in enumerate(chunks):
        left = [_wire(r) for r in chunk]
        budget = backoff.budget()
        while left:
            if limiter is not None:
                limiter.acquire()
            try:
                with aws_errors(what, table=table):
                    # The one place BatchWriteItem meets our item model: requests and the
                    # unprocessed ones are wire format (``_wire``), which the stubs' types
                    # describe.
                    response: dict[str, Any] = cast(
                        "dict[str, Any]",
                        calls.batch_write_item(
                            RequestItems={table: cast("list[WriteRequestTypeDef]", left)},
                            **extra,
                        ),
                    )
            except AwsError as exc:  # translated above, or no time left (a deadline)
                error = _incomplete(exc, what, _unwritten(left, chunks[index + 1 :], schema))
                raise error from error.cause
            units = consumed_units(response)
            result.consumed += units
            if limiter is not None:
                limiter.consume(units)
            unprocessed = response.get("UnprocessedItems", {}).get(table, [])
            result.written += len(left) - len(unprocessed)
            if len(unprocessed) < len(left):
                budget.progress()
            left = unprocessed
            if left and not budget.wait():
                unwritten = _unwritten(left, chunks[index + 1 :], schema)
                raise _exhausted(what, unwritten, budget)
            if left:
                result.retries += 1
    return result


def _key_of(wire_request: Mapping[str, Any], schema: KeySchema) -> Key:
    if "DeleteRequest" in wire_request:
        return dict(wire_request["DeleteRequest"]["Key"])
    return extract_key(wire_request["PutRequest"]["Item"], schema)


def batch_get(
    client: Client,
    table: str,
    keys: Iterable[Key],
    schema: KeySchema,
    *,
    consistent: bool = False,
    projection: Sequence[str] | None = None,
    backoff: Backoff = Backoff(),
    limiter: RateLimiter | None = None,
) -> BatchResult:
    """Read the items with ``keys`` (missing ones are simply absent from the result).

    Duplicate keys are asked for once; 100 keys per call; ``UnprocessedKeys`` retried with
    backoff. Raises :class:`RetriesExhaustedError` naming every key not read.
    """
    unique: dict[Any, Key] = {}
    for key in keys:
        unique.setdefault(key_identity(key, schema), key)
    todo = list(unique.values())
    result = BatchResult()
    extra: dict[str, Any] = {}
    if projection:
        extra = projection_args(list(dict.fromkeys([*schema.names, *projection])))
    calls = bounded(client, backoff)
    backoff = with_give_up_of(client, backoff)
    what = f"BatchGetItem on {table}"
    for start in range(0, len(todo), MAX_GET_KEYS):
        left: list[Key] = todo[start : start + MAX_GET_KEYS]
        budget = backoff.budget()
        while left:
            request: dict[str, Any] = {"Keys": left, **extra}
            if consistent:
                request["ConsistentRead"] = True
            if limiter is not None:
                limiter.acquire()
            try:
                with aws_errors(what, table=table):
                    # The one place BatchGetItem meets our item model: keys and items are
                    # ``Item``s.
                    response: dict[str, Any] = cast(
                        "dict[str, Any]",
                        calls.batch_get_item(
                            RequestItems={table: cast("KeysAndAttributesTypeDef", request)},
                            ReturnConsumedCapacity="TOTAL",
                        ),
                    )
            except AwsError as exc:  # translated above, or no time left (a deadline)
                error = _incomplete(exc, what, left + todo[start + MAX_GET_KEYS :])
                raise error from error.cause
            units = consumed_units(response)
            result.consumed += units
            if limiter is not None:
                limiter.consume(units)
            got = response.get("Responses", {}).get(table, [])
            result.items.extend(got)
            asked = len(left)
            left = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not left:
                break
            if len(left) < asked:
                budget.progress()
            if sum(item_size(i) for i in got) >= _SIZE_CUT:
                continue  # cut by the response size limit: ask again at once
            if not budget.wait():
                unread = left + todo[start + MAX_GET_KEYS :]
                raise _exhausted(what, unread, budget)
            result.retries += 1
    return result
