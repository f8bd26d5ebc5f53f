"""Turning botocore failures into the project's errors, in one place.

:func:`aws_errors` is where botocore failures are caught, outside the retry layer: a block
of AWS calls runs under it, and each call site says what its special codes mean (a project error
of its own domain, message and hint, or an expected outcome it handles itself);
:func:`translate` gives every other failure its project error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeAlias, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from ..errors import AwsError, ConfigError, ReplicatorError, TableNotFoundError, aws_error_code

__all__ = [
    "THROTTLE_CODES",
    "BotoError",
    "Caught",
    "Outcome",
    "aws_errors",
    "call",
    "consumed_units",
    "expected",
    "raising",
    "translate",
]

T = TypeVar("T")

THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)

_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "AccessDeniedException",
        "MissingAuthenticationTokenException",
    }
)


def translate(exc: BaseException, what: str, *, table: str | None = None) -> ReplicatorError:
    """The project error for a botocore failure during ``what`` (the cause is kept).

    Notes on the exception (why retrying gave up, added by :mod:`.retry`) join the message.
    """
    code = aws_error_code(exc)
    notes = getattr(exc, "__notes__", None)
    if notes:
        what = f"{what} ({'; '.join(str(n) for n in notes)})"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigError(
            f"{what}: no AWS credentials found ({exc})",
            hint="configure credentials (environment, profile, role) or pass --*-profile",
            cause=exc,
        )
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return AwsError(
            f"{what} failed: {exc}",
            hint="check the endpoint (--endpoint-url, the address) and that the server is up",
            cause=exc,
        )
    if code == "ResourceNotFoundException" and table is not None:
        return TableNotFoundError(table, what, cause=exc)
    if code in _CREDENTIAL_CODES:
        return ConfigError(
            f"{what}: {code}: {exc}",
            hint="check the credentials and IAM permissions for this side",
            cause=exc,
        )
    detail = f"{code}: {exc}" if code else str(exc)
    return AwsError(f"{what} failed: {detail}", cause=exc)


BotoError: TypeAlias = ClientError | BotoCoreError
"""What a botocore call raises: an error response (``ClientError``) or any other failure
(no credentials, no connection, a timeout, a bad parameter: ``BotoCoreError`` and its kin)."""

Outcome: TypeAlias = Callable[[BotoError], ReplicatorError | None]
"""What a botocore failure means at one call site: the project error to raise (its cause is set
to the botocore error when the callable left it unset), or ``None``: an expected outcome, not a
failure; the block ends quietly and :class:`Caught` holds the error for the caller."""


def expected(exc: BotoError) -> None:
    """The :data:`Outcome` of a failure the caller handles itself (a missing object, a failed
    condition, a best-effort call): the block ends, the error is kept in :class:`Caught`."""
    return None


def raising(error: type[ReplicatorError], message: str, *, hint: str | None = None) -> Outcome:
    """The :data:`Outcome` that raises ``error(message, hint=hint)``, the botocore error its
    cause: a call site's own domain, message and hint for one code (or for every failure)."""

    def outcome(exc: BotoError) -> ReplicatorError:
        return error(message, hint=hint, cause=exc)

    return outcome


@dataclass
class Caught:
    """The botocore error an :func:`aws_errors` block ended with as an expected outcome
    (``None``: the block ran to its end, or raised). True when there is one."""

    error: BotoError | None = None

    def __bool__(self) -> bool:
        return self.error is not None

    @property
    def code(self) -> str | None:
        """The AWS error code of the expected failure, if any."""
        return aws_error_code(self.error)

    @property
    def response(self) -> Mapping[str, Any]:
        """The error response of an expected ``ClientError`` (empty for anything else):
        what a failed condition returned, for example."""
        return self.error.response if isinstance(self.error, ClientError) else {}


class aws_errors:
    """Map the botocore failures of a ``with`` block to the project's errors.

    ``codes`` says per AWS error code what the failure means here (:func:`raising` an error of
    the call site's domain, or :func:`expected`); ``otherwise`` says it for every other failure
    (default: :func:`translate`, with ``what`` naming the call and ``table`` the table a
    ``ResourceNotFoundException`` means). The project error raised keeps the botocore error as
    its ``cause``. ``with`` yields a :class:`Caught` holding an expected failure, for the caller
    to check after the block (names bound in the block are then unset)::

        with aws_errors(f"HeadObject {url}", codes={"NoSuchKey": expected}) as missing:
            response = client.head_object(Bucket=bucket, Key=key)
        if missing:
            return None

    A class rather than a generator so that type checkers know the block may end early.
    """

    def __init__(
        self,
        what: str,
        *,
        table: str | None = None,
        codes: Mapping[str, Outcome] | None = None,
        otherwise: Outcome | None = None,
    ) -> None:
        self.what = what
        self.table = table
        self.codes = codes or {}
        self.otherwise = otherwise
        self.caught = Caught()

    def __enter__(self) -> Caught:
        return self.caught

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if not isinstance(exc, ClientError | BotoCoreError):
            return False  # success, or not botocore's: goes on as it is
        code = aws_error_code(exc)
        outcome = self.codes.get(code, self.otherwise) if code is not None else self.otherwise
        error = outcome(exc) if outcome is not None else translate(exc, self.what, table=self.table)
        if error is None:
            self.caught.error = exc
            return True
        if error.cause is None:
            error.cause = exc
        raise error from error.cause


def call(what: str, fn: Callable[..., T], /, *, table: str | None = None, **kwargs: Any) -> T:
    """Run one client call, translating its failure (the client has already retried it)."""
    with aws_errors(what, table=table):
        result = fn(**kwargs)
    return result


def consumed_units(response: Mapping[str, Any]) -> float:
    """Capacity units a response reports (``ReturnConsumedCapacity=TOTAL``), whatever its shape."""
    consumed = response.get("ConsumedCapacity")
    if consumed is None:
        return 0.0
    if isinstance(consumed, Mapping):
        return float(consumed.get("CapacityUnits", 0.0))
    return float(sum(c.get("CapacityUnits", 0.0) for c in consumed))
