"""Every DynamoDB call retried under the project's own budget, not botocore's.

botocore's standard retry mode draws each retry from a quota shared by the whole client (500
tokens, 5 per throttling retry, more per other retry): a long job against a noisy endpoint drains
it, and then one transient error fails the job. So our clients make one attempt per botocore call
(:mod:`.clients`) and :class:`RetryingClient` retries each request itself, with the schedule of
:mod:`.backoff`: bounded attempts, full-jitter backoff, and a give-up only when every attempt of
the request failed for ``give_up_after`` seconds (a dead endpoint, not a noisy one).

Under a deadline (the Lambda handler's), no attempt starts that could not finish before it, and
each attempt's connect and read timeouts shrink to the time left: botocore fixes its timeouts when
a client is made, so such attempts are sent through a session with the shorter timeouts.

Each client counts its requests and the errors it retried, for the jobs' summaries.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.httpsession import URLLib3Session

from ..errors import CallDeadlineError, aws_error_code
from .aws import THROTTLE_CODES
from .backoff import Backoff, Clock

__all__ = [
    "MIN_ATTEMPT_SECONDS",
    "CallCounts",
    "RetryingClient",
    "attempt_timeouts",
    "bounded",
    "call_counts",
    "giving_up_after",
    "retryable",
    "retrying",
    "with_give_up_of",
]

log = logging.getLogger(__name__)

#: Errors worth another attempt: throttling and the server's own transient failures.
RETRYABLE_CODES = THROTTLE_CODES | {
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "LimitExceededException",
    "RequestTimeout",
    "RequestTimeoutException",
}

#: No attempt starts with less time than this before the deadline.
MIN_ATTEMPT_SECONDS = 0.25


def retryable(exc: BaseException) -> bool:
    """True for a failure another attempt may not meet: throttling, 5xx, a lost connection."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return aws_error_code(exc) in RETRYABLE_CODES or int(status) >= 500
    return isinstance(exc, BotoConnectionError | HTTPClientError)


@dataclass(frozen=True)
class CallCounts:
    """Requests sent and the errors among them that were retried; they add up with ``+``."""

    requests: int = 0
    errors: int = 0

    def __add__(self, other: CallCounts) -> CallCounts:
        return CallCounts(self.requests + other.requests, self.errors + other.errors)

    def __sub__(self, other: CallCounts) -> CallCounts:
        return CallCounts(self.requests - other.requests, self.errors - other.errors)

    @property
    def rate(self) -> float:
        """Retried errors per request (0 when nothing was sent)."""
        return self.errors / self.requests if self.requests else 0.0

    def describe(self) -> str:
        """``"3 of 120 requests failed and were retried (2.5%)"``."""
        return (
            f"{self.errors} of {self.requests} requests failed and were retried ({self.rate:.1%})"
        )


class _Counter:
    """Thread-safe :class:`CallCounts` of one client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = CallCounts()

    def add(self, *, errors: int = 0) -> None:
        with self._lock:
            self._counts = self._counts + CallCounts(1, errors)

    def counts(self) -> CallCounts:
        with self._lock:
            return self._counts


def attempt_timeouts(left: float, connect: float, read: float) -> tuple[float, float] | None:
    """Connect and read timeouts for an attempt that must end within ``left`` seconds.

    ``None`` when the configured ones fit. Otherwise both shrink so that together they fit in
    ``left`` rounded down to a multiple of :data:`MIN_ATTEMPT_SECONDS` (so only a few distinct
    settings are ever made), most of it for reading (connecting takes milliseconds, when it
    works); raises :class:`CallDeadlineError` when less than that is left.
    """
    if connect + read <= left:
        return None
    budget = math.floor(left / MIN_ATTEMPT_SECONDS) * MIN_ATTEMPT_SECONDS
    if budget < MIN_ATTEMPT_SECONDS:
        raise CallDeadlineError(
            f"{max(left, 0.0):.2f} s left before the deadline: too little to start a call",
            hint="raise the function timeout or lower the batch size",
        )
    short_connect = min(connect, budget / 4)
    return short_connect, min(read, budget - short_connect)


class _AttemptTimeouts(threading.local):
    value: tuple[float, float] | None = None


class _ShortTimeoutSender:
    """A ``before-send`` hook that sends the request of an attempt whose timeouts were shortened
    (set for the calling thread by :class:`RetryingClient`) through a session made with them."""

    def __init__(self, config: Any) -> None:
        self._config = config
        self._sessions: dict[tuple[float, float], URLLib3Session] = {}
        self._lock = threading.Lock()
        self.current = _AttemptTimeouts()

    def _session(self, timeouts: tuple[float, float]) -> URLLib3Session:
        with self._lock:
            session = self._sessions.get(timeouts)
            if session is None:
                # botocore takes a CA bundle path for ``verify`` and a (connect, read) pair for
                # ``timeout``; its type stubs say ``bool`` and ``int``.
                session = URLLib3Session(
                    verify=os.environ.get("AWS_CA_BUNDLE") or True,  # type: ignore[arg-type]
                    proxies=self._config.proxies,
                    timeout=timeouts,  # type: ignore[arg-type]
                    max_pool_connections=self._config.max_pool_connections,
                    proxies_config=self._config.proxies_config,
                )
                self._sessions[timeouts] = session
            return session

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        timeouts = self.current.value
        if timeouts is None:
            return None  # botocore sends it with the client's own timeouts
        return self._session(timeouts).send(request)

    @contextmanager
    def using(self, timeouts: tuple[float, float] | None) -> Iterator[None]:
        self.current.value = timeouts
        try:
            yield
        finally:
            self.current.value = None


class RetryingClient:
    """A botocore DynamoDB (or Streams) client whose every operation retries under ``policy``.

    Operations are called as on the botocore client (``client.scan(TableName=...)``); anything
    else (``meta``, ``exceptions``, paginators, waiters) is the botocore client's. A call that
    runs out of attempts raises the last botocore error, with a note saying why it gave up.
    """

    def __init__(
        self,
        client: Any,
        *,
        policy: Backoff = Backoff(),
        _counter: _Counter | None = None,
        _sender: _ShortTimeoutSender | None = None,
    ) -> None:
        self._client = client
        self.policy = policy
        self._counter = _counter or _Counter()
        if _sender is None:
            _sender = _ShortTimeoutSender(client.meta.config)
            client.meta.events.register("before-send", _sender)
        self._sender = _sender
        self._operations = frozenset(client.meta.method_to_api_mapping)

    @property
    def botocore_client(self) -> Any:
        """The client underneath (one attempt per call)."""
        return self._client

    def counts(self) -> CallCounts:
        """Requests sent through this client (and its :meth:`until` views) so far."""
        return self._counter.counts()

    def until(self, deadline: float | None, clock: Clock | None = None) -> RetryingClient:
        """The same client (same counts) whose calls end before ``deadline`` (of ``clock``)."""
        return self._under(
            replace(self.policy, deadline=deadline, clock=clock or self.policy.clock)
        )

    def giving_up_after(self, seconds: float) -> RetryingClient:
        """The same client (same counts) giving up on a dead endpoint after ``seconds`` at most."""
        give_up = min(seconds, self.policy.give_up_after)
        return self._under(replace(self.policy, give_up_after=give_up))

    def _under(self, policy: Backoff) -> RetryingClient:
        return RetryingClient(
            self._client, policy=policy, _counter=self._counter, _sender=self._sender
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._operations:
            return getattr(self._client, name)
        return functools.partial(self._call, name)

    def _timeouts(self, operation: str, last: BaseException | None) -> tuple[float, float] | None:
        if self.policy.deadline is None:
            return None
        config = self._client.meta.config
        left = self.policy.deadline - self.policy.clock()
        try:
            return attempt_timeouts(left, config.connect_timeout, config.read_timeout)
        except CallDeadlineError as exc:
            after = f" (the last attempt failed: {last})" if last is not None else ""
            raise CallDeadlineError(
                f"{self._api(operation)}: {exc.message}{after}", hint=exc.hint, cause=last
            ) from last

    def _api(self, operation: str) -> str:
        return str(self._client.meta.method_to_api_mapping.get(operation, operation))

    def _call(self, operation: str, /, **kwargs: Any) -> Any:
        budget = self.policy.budget()
        method = getattr(self._client, operation)
        last: BaseException | None = None
        while True:
            timeouts = self._timeouts(operation, last)
            try:
                with self._sender.using(timeouts):
                    response = method(**kwargs)
            # the retry layer: classifies the raw botocore error and re-raises it unchanged
            except (ClientError, BotoCoreError) as exc:
                if not retryable(exc):
                    self._counter.add()
                    raise
                if not budget.wait():
                    self._counter.add()
                    exc.add_note(budget.reason)
                    log.debug("%s: %s: %s", self._api(operation), budget.reason, exc)
                    raise
                self._counter.add(errors=1)
                log.debug("%s failed (%s); retry %d", self._api(operation), exc, budget.attempts)
                last = exc
                continue
            self._counter.add()
            return response


C = TypeVar("C")


def retrying(client: C, *, policy: Backoff = Backoff()) -> C:
    """``client`` wrapped in a :class:`RetryingClient`, typed as ``client``: the wrapper has the
    same operations, each retried under ``policy`` (the one place that says so to the checker)."""
    return cast(C, RetryingClient(client, policy=policy))


def giving_up_after(client: C, seconds: float) -> C:
    """``client`` giving up on a dead endpoint after ``seconds`` at most (unchanged when it is
    not a :class:`RetryingClient`)."""
    if isinstance(client, RetryingClient):
        return cast(C, client.giving_up_after(seconds))
    return client


def bounded(client: C, policy: Backoff) -> C:
    """``client`` with its calls bounded by ``policy.deadline`` (unchanged when there is none,
    or when it is not a :class:`RetryingClient`)."""
    if isinstance(client, RetryingClient) and policy.deadline is not None:
        return cast(C, client.until(policy.deadline, policy.clock))
    return client


def with_give_up_of(client: Any, policy: Backoff) -> Backoff:
    """``policy`` giving up when ``client`` does (its ``--give-up-after``), for retries of
    leftovers made around the client's calls."""
    if isinstance(client, RetryingClient):
        return replace(policy, give_up_after=client.policy.give_up_after)
    return policy


def call_counts(*clients: Any) -> CallCounts:
    """The summed :class:`CallCounts` of ``clients`` (plain botocore clients count nothing)."""
    total = CallCounts()
    for client in clients:
        if isinstance(client, RetryingClient):
            total = total + client.counts()
    return total
