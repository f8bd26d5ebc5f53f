"""Table addresses: one parser for every command.

Accepted forms::

    REGION/TABLE                 AWS (or the endpoint of --endpoint-url / AWS_ENDPOINT_URL_DYNAMODB)
    HOST:PORT/TABLE              a plain-http endpoint, as the original tool accepts
    localhost:PORT/TABLE
    http://HOST:PORT/TABLE       an explicit endpoint
    https://HOST[:PORT]/TABLE

Parsing is pure: the caller passes the environment it wants honoured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import UsageError

__all__ = [
    "ACCEPTED_FORMS",
    "TableAddress",
    "is_role_arn",
    "is_table_name",
    "parse_table_address",
    "resolve_region",
]

ACCEPTED_FORMS = (
    "REGION/TABLE, HOST:PORT/TABLE, http://HOST:PORT/TABLE or https://HOST[:PORT]/TABLE"
)

DEFAULT_REGION = "us-east-1"

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$|^[a-z]+$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$")


@dataclass(frozen=True)
class TableAddress:
    """Where a table lives: its name, its region and (for non-AWS servers) an endpoint URL."""

    table: str
    region: str
    endpoint_url: str | None = None

    @property
    def is_aws(self) -> bool:
        """True when requests go to AWS itself (no endpoint override)."""
        return self.endpoint_url is None

    def __str__(self) -> str:
        if self.endpoint_url:
            return f"{self.endpoint_url}/{self.table} ({self.region})"
        return f"{self.region}/{self.table}"


def is_table_name(text: str) -> bool:
    """Whether ``text`` is a valid DynamoDB table name (3-255 of letters, digits, ``_-.``)."""
    return bool(_TABLE_NAME.match(text))


def is_role_arn(text: str) -> bool:
    """Whether ``text`` looks like an IAM role ARN (``arn:aws:iam::123456789012:role/NAME``)."""
    return bool(_ROLE_ARN.match(text))


def resolve_region(explicit: str | None, environ: Mapping[str, str]) -> str:
    """The region for endpoint-form addresses: --region, AWS_REGION, AWS_DEFAULT_REGION, else us-east-1.

    DynamoDB Local keeps data apart per access key and region, so this must match what the
    user's other clients use.
    """
    return (
        explicit or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    )


def _bad(text: str, why: str) -> UsageError:
    return UsageError(
        f"malformed table address {text!r}: {why}",
        hint=f"use one of: {ACCEPTED_FORMS}",
    )


def _check_table(text: str, table: str) -> str:
    if not is_table_name(table):
        raise _bad(text, "a table name is 3-255 characters of letters, digits, '_', '-' and '.'")
    return table


def parse_table_address(
    text: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> TableAddress:
    """Parse one table address.

    ``endpoint_url`` (from ``--endpoint-url``) or ``AWS_ENDPOINT_URL_DYNAMODB`` /
    ``AWS_ENDPOINT_URL`` in ``environ`` re-point ``REGION/TABLE`` addresses at another server, so
    command lines written for AWS run unchanged against a local one. Endpoint-form addresses take
    their region from ``region`` or the environment.
    """
    env: Mapping[str, str] = environ if environ is not None else {}
    text = text.strip()
    if "/" not in text:
        raise _bad(text, "no '/' between the location and the table name")

    if text.startswith(("http://", "https://")):
        scheme, rest = text.split("://", 1)
        location, sep, table = rest.rpartition("/")
        if not sep or not location or "/" in location:
            raise _bad(text, "expected SCHEME://HOST[:PORT]/TABLE")
        return TableAddress(
            table=_check_table(text, table),
            region=resolve_region(region, env),
            endpoint_url=f"{scheme}://{location}",
        )

    location, _, table = text.partition("/")
    if "/" in table:
        raise _bad(text, "more than one '/'")
    if _HOST_PORT.match(location):
        return TableAddress(
            table=_check_table(text, table),
            region=resolve_region(region, env),
            endpoint_url=f"http://{location}",
        )
    if not _REGION.match(location):
        raise _bad(text, f"{location!r} is neither a region (like us-east-1) nor HOST:PORT")
    override = endpoint_url or env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL")
    return TableAddress(
        table=_check_table(text, table),
        region=location,
        endpoint_url=override.rstrip("/") if override else None,
    )
