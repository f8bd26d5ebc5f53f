"""Turning botocore failures into the project's errors, in one place."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from ..errors import AwsError, ConfigError, ReplicatorError, TableNotFoundError, aws_error_code

__all__ = ["THROTTLE_CODES", "call", "consumed_units", "translate"]

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


def call(what: str, fn: Callable[..., T], /, *, table: str | None = None, **kwargs: Any) -> T:
    """Run one client call, translating its failure (the client has already retried it)."""
    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, what, table=table) from exc


def consumed_units(response: Mapping[str, Any]) -> float:
    """Capacity units a response reports (``ReturnConsumedCapacity=TOTAL``), whatever its shape."""
    consumed = response.get("ConsumedCapacity")
    if consumed is None:
        return 0.0
    if isinstance(consumed, Mapping):
        return float(consumed.get("CapacityUnits", 0.0))
    return float(sum(c.get("CapacityUnits", 0.0) for c in consumed))
