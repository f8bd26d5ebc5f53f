"""SigV4 signing of the lean operations' requests, without botocore's per-request event chain.

botocore signs a request on its ``request-created`` event, where three handlers run for every
call: the signer (which derives the signing key and splits the URL again each time), a rebuild
of the User-Agent header, and the informational retry headers. For a bulk restore that chain is
a fifth of the client's CPU. :func:`install` replaces the endpoint's ``create_request`` for the
lean operations with one that signs the same way with a cached signing key and URL parts, adds
the same retry headers, and keeps the User-Agent botocore built for the call. The signature
equals botocore's for the same request and clock (tested); anything unusual (another signature
version, per-request credentials, an identity cache, unsigned or streamed payloads, no
credentials) goes through botocore's own chain.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SIGV4_TIMESTAMP
from botocore.awsrequest import create_request_object
from botocore.utils import is_valid_ipv6_endpoint_url, normalize_url_path

__all__ = ["install", "sign_v4"]

logger = logging.getLogger(__name__)

_UNSIGNED_HEADERS = frozenset(SIGNED_HEADERS_BLACKLIST)
_DEFAULT_PORTS = {"http": 80, "https": 443}

Clock = Callable[[], datetime.datetime]


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


@lru_cache(maxsize=64)
def _url_parts(url: str) -> tuple[str, str, str]:
    """(canonical path, canonical query string, host header) of a request URL."""
    parts = urlsplit(url)
    path = quote(normalize_url_path(parts.path), safe="/~")
    pairs = (
        sorted(pair.partition("=")[::2] for pair in parts.query.split("&")) if parts.query else []
    )
    query = "&".join(f"{key}={value}" for key, value in pairs)
    host = parts.hostname or ""
    if is_valid_ipv6_endpoint_url(url):
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return path, query, host


@lru_cache(maxsize=16)
def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _drop(headers: dict[str, Any], name: str) -> None:
    for present in [key for key in headers if key.lower() == name]:
        del headers[present]


def sign_v4(
    method: str,
    url: str,
    headers: dict[str, Any],
    body: bytes,
    credentials: Any,
    scope: tuple[str, str],
    now: datetime.datetime,
) -> str:
    """Sign a request with SigV4 as botocore does, adding the headers to ``headers``.

    ``credentials`` are frozen credentials (``access_key``, ``secret_key``, ``token``);
    ``scope`` is (region, service). Works on a plain dict, before botocore wraps the headers in
    its slower mapping. Returns the timestamp signed.
    """
    region, service = scope
    stamp = now.strftime(SIGV4_TIMESTAMP)
    day = stamp[:8]
    for name in ("authorization", "x-amz-date", "x-amz-security-token"):
        _drop(headers, name)
    headers["X-Amz-Date"] = stamp
    if credentials.token:
        headers["X-Amz-Security-Token"] = credentials.token
    path, query, host = _url_parts(url)
    signed: dict[str, str] = {}
    payload = None
    for name, value in headers.items():
        lname = name.lower()
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        if lname == "x-amz-content-sha256":
            payload = text
        if lname not in _UNSIGNED_HEADERS:
            signed[lname] = (
                f"{signed[lname]},{' '.join(text.split())}"
                if lname in signed
                else " ".join(text.split())
            )
    signed.setdefault("host", host)
    names = sorted(signed)
    canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in names)
    signed_names = ";".join(names)
    if payload is None:
        payload = hashlib.sha256(body).hexdigest()
    canonical = "\n".join((method.upper(), path, query, canonical_headers, signed_names, payload))
    credential_scope = f"{day}/{region}/{service}/aws4_request"
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{credential_scope}\n{digest}"
    key = _signing_key(credentials.secret_key, day, region, service)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{credential_scope}, "
        f"SignedHeaders={signed_names}, Signature={signature}"
    )
    return stamp


def _retry_headers(headers: dict[str, Any], context: dict[str, Any]) -> None:
    """botocore's informational retry headers (``add_retry_headers``), on a plain dict."""
    retries = context.get("retries")
    if retries:
        headers["amz-sdk-invocation-id"] = retries["invocation-id"]
        headers["amz-sdk-request"] = "; ".join(
            f"{key}={retries[key]}" for key in ("ttl", "attempt", "max") if key in retries
        )


class _Signing:
    """The endpoint's ``create_request``, signing the lean operations itself."""

    def __init__(
        self, endpoint: Any, signer: Any, operations: frozenset[str], clock: Clock
    ) -> None:
        self._endpoint = endpoint
        self._signer = signer
        self._operations = operations
        self._clock = clock
        self._botocore_create = endpoint.create_request

    def create_request(self, params: dict[str, Any], operation_model: Any = None) -> Any:
        plan = self._plan(params, operation_model)
        if plan is None:
            return self._botocore_create(params, operation_model)
        credentials, scope = plan
        headers = dict(params["headers"])
        stamp = sign_v4(
            params["method"], params["url"], headers, params["body"], credentials, scope,
            self._clock(),
        )  # fmt: skip
        _retry_headers(headers, params["context"])
        request = create_request_object({**params, "headers": headers})
        request.context["timestamp"] = stamp
        request.stream_output = False
        return self._endpoint.prepare_request(request)

    def _plan(
        self, params: dict[str, Any], operation_model: Any
    ) -> tuple[Any, tuple[str, str]] | None:
        """(frozen credentials, (region, service)) to sign with, or ``None`` for botocore's
        way."""
        if operation_model is None or operation_model.name not in self._operations:
            return None
        context = params.get("context", {})
        signing = context.get("signing", {})
        if (
            signing.get("request_credentials")
            or signing.get("identity_cache") is not None
            or context.get("payload_signing_enabled", True) is not True
            or context.get("checksum")
            or not isinstance(params.get("body"), bytes)
            or params.get("query_string")
            or any(name.lower() == "date" for name in params.get("headers", {}))
        ):
            return None
        signer = self._signer
        credentials = getattr(signer, "_credentials", None)
        if credentials is None:
            return None  # botocore raises NoCredentialsError
        if signer._choose_signer(operation_model.name, "standard", context) != "v4":
            return None
        region = signing.get("region") or signer._region_name
        service = signing.get("signing_name") or signer._signing_name
        return credentials.get_frozen_credentials(), (region, service)


def install(client: Any, operations: frozenset[str], clock: Clock = _utcnow) -> bool:
    """Sign ``operations`` of ``client`` without botocore's event chain; ``False`` if its
    internals are not the expected ones (the client keeps botocore's signing)."""
    endpoint = getattr(client, "_endpoint", None)
    signer = getattr(client, "_request_signer", None)
    needed = ("_credentials", "_region_name", "_signing_name", "_choose_signer")
    if (
        endpoint is None
        or signer is None
        or not all(hasattr(signer, name) for name in needed)
        or not callable(getattr(endpoint, "prepare_request", None))
    ):
        logger.warning("request signing left to botocore: client internals differ")
        return False
    if isinstance(getattr(endpoint.create_request, "__self__", None), _Signing):
        return True
    endpoint.create_request = _Signing(endpoint, signer, operations, clock).create_request
    return True
