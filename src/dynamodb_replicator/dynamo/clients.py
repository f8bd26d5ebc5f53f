"""Client factory: sessions per side, role assumption, endpoints, retries and pools.

DynamoDB and DynamoDB Streams clients make one attempt per botocore call and retry under the
project's own budget (:class:`~.retry.RetryingClient`); S3 clients keep botocore's retries.
Everything here is described by small frozen dataclasses (:class:`Auth`, :class:`ClientOptions`,
:class:`TableSpec`) so a job can hand them to worker processes, which build their own clients.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast, overload

import botocore.exceptions
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials

from .. import __version__
from ..errors import ConfigError
from . import lean
from .address import TableAddress, resolve_region
from .backoff import Backoff
from .retry import retrying

if TYPE_CHECKING:
    # The boto3 type stubs (a dev dependency) are needed only to type-check, never at run time.
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

__all__ = [
    "DEFAULT_GIVE_UP_AFTER",
    "DUMMY_ACCESS_KEY",
    "OWN_RETRIES",
    "Auth",
    "Client",
    "ClientOptions",
    "RetryMode",
    "S3Client",
    "Service",
    "StreamsClient",
    "TableSpec",
    "make_client",
    "make_session",
    "s3_client",
]

#: Used against non-AWS endpoints when no credentials are configured. DynamoDB Local keeps data
#: apart per access key, so it is the same fixed value everywhere; it is alphanumeric because
#: recent DynamoDB Local versions reject anything else.
DUMMY_ACCESS_KEY = "dummy"

#: A DynamoDB client, a DynamoDB Streams client, an S3 client, as the boto3 type stubs describe
#: them (the names exist at run time too, so that modules may import them without the stubs).
if TYPE_CHECKING:
    Client: TypeAlias = DynamoDBClient
    StreamsClient: TypeAlias = DynamoDBStreamsClient
else:
    Client = StreamsClient = S3Client = Any

#: The services :func:`make_client` makes clients for.
Service = Literal["dynamodb", "dynamodbstreams", "s3"]

#: botocore's retry modes.
RetryMode = Literal["legacy", "standard", "adaptive"]

#: Services whose calls we retry ourselves (botocore makes one attempt per call).
OWN_RETRIES = frozenset({"dynamodb", "dynamodbstreams"})

#: Seconds in which every attempt of a request may fail before the endpoint is taken for dead.
DEFAULT_GIVE_UP_AFTER = 60.0


@dataclass(frozen=True)
class Auth:
    """Credentials of one side of a job: a profile, a role to assume, or the default chain."""

    profile: str | None = None
    role_arn: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None


@dataclass(frozen=True)
class ClientOptions:
    """Transport settings: pool size, timeouts, when to give up on an endpoint, and botocore's
    retry mode for the services that keep botocore's retries (S3)."""

    retry_mode: RetryMode = "adaptive"
    max_attempts: int = 5
    max_pool_connections: int = 10
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    give_up_after: float = DEFAULT_GIVE_UP_AFTER

    def config(self, service: str, **extra: Any) -> Config:
        """botocore's configuration for a client of ``service``."""
        return Config(
            retries=(
                {"mode": "standard", "total_max_attempts": 1}
                if service in OWN_RETRIES
                else {"mode": self.retry_mode, "max_attempts": self.max_attempts}
            ),
            max_pool_connections=self.max_pool_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            **extra,
        )

    def retry_policy(self) -> Backoff:
        """How our clients retry a failed call."""
        return Backoff(give_up_after=self.give_up_after)


def _data_paths() -> list[str]:
    """``AWS_DATA_PATH`` folders, as botocore's own loader reads them."""
    raw = os.environ.get("AWS_DATA_PATH", "")
    return [os.path.expanduser(os.path.expandvars(p)) for p in raw.split(os.pathsep) if p]


#: One loader per process, shared by every session: botocore's loader caches the service models
#: it reads, and a fresh session per client would parse the same JSON files again (~75 ms a
#: client, paid by every worker process for every side it talks to).
_LOADER = botocore.loaders.Loader(extra_search_paths=_data_paths())


def _core_session(region: str) -> botocore.session.Session:
    """A botocore session in ``region`` that reads service models through the process's shared
    loader; its requests name the tool after botocore's own user agent.

    Plain botocore, not boto3: nothing here uses boto3's resources or S3 transfer helpers, and
    importing boto3 (which imports s3transfer) costs every command ~40 ms of start-up.
    """
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    core.set_config_variable("region", region)
    core.user_agent_extra = f"dynamodb-replicator/{__version__}"
    return core


def _assume_role(
    base: botocore.session.Session, region: str, role_arn: str
) -> botocore.session.Session:
    """A session whose credentials come from ``sts:AssumeRole`` and refresh before they expire."""
    sts = cast("STSClient", base.create_client("sts", region_name=region))
    session_name = f"dynamodb-replicator-{uuid.uuid4().hex[:12]}"

    def refresh() -> dict[str, str]:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    core = _core_session(region)
    # botocore has no public setter for refreshable credentials (nor do its type stubs).
    core._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
        refresh_using=refresh, method="sts-assume-role"
    )
    return core


def _keyed_session(auth: Auth, region: str) -> botocore.session.Session:
    """A session with ``auth``'s profile or keys (the default chain when it has neither).

    The profile (``auth``'s, else ``AWS_PROFILE``'s) is read now, so a missing one is a
    :class:`ConfigError` before any request rather than botocore's error at the first client.
    """
    core = _core_session(region)
    if auth.profile is not None:
        core.set_config_variable("profile", auth.profile)
    try:
        core.get_scoped_config()
    except botocore.exceptions.ProfileNotFound as exc:
        if auth.profile is not None:
            what, hint = repr(auth.profile), "check ~/.aws/config or drop the --*-profile option"
        else:
            what = f"{exc.kwargs.get('profile')!r} (from AWS_PROFILE)"
            hint = "check ~/.aws/config or unset AWS_PROFILE"
        raise ConfigError(f"AWS profile {what} not found", hint=hint, cause=exc) from exc
    if auth.access_key_id is not None and auth.secret_access_key is not None:
        core.set_credentials(auth.access_key_id, auth.secret_access_key, auth.session_token)
    return core


def make_session(auth: Auth, region: str, *, local_endpoint: bool) -> botocore.session.Session:
    """A botocore session in ``region`` for one side; dummy credentials for a non-AWS endpoint
    that has none."""
    session = _keyed_session(auth, region)
    if auth.role_arn:
        return _assume_role(session, region, auth.role_arn)
    if local_endpoint and session.get_credentials() is None:
        session.set_credentials(DUMMY_ACCESS_KEY, DUMMY_ACCESS_KEY)
    return session


@overload
def make_client(
    service: Literal["dynamodb"],
    *,
    region: str,
    endpoint_url: str | None,
    auth: Auth = ...,
    options: ClientOptions = ...,
) -> Client: ...


@overload
def make_client(
    service: Literal["dynamodbstreams"],
    *,
    region: str,
    endpoint_url: str | None,
    auth: Auth = ...,
    options: ClientOptions = ...,
) -> StreamsClient: ...


@overload
def make_client(
    service: Literal["s3"],
    *,
    region: str,
    endpoint_url: str | None,
    auth: Auth = ...,
    options: ClientOptions = ...,
) -> S3Client: ...


def make_client(
    service: Service,
    *,
    region: str,
    endpoint_url: str | None,
    auth: Auth = Auth(),
    options: ClientOptions = ClientOptions(),
) -> Client | StreamsClient | S3Client:
    """A low-level client for ``service``; for DynamoDB and Streams, a
    :class:`~.retry.RetryingClient` around it, typed as the client it wraps."""
    session = make_session(auth, region, local_endpoint=endpoint_url is not None)
    extra: dict[str, Any] = {}
    if service == "s3" and endpoint_url is not None:
        # S3-compatible servers often reject the checksums recent botocore sends by default.
        extra = {
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
            "s3": {"addressing_style": "path"},
        }
    lean_path = service in lean.SERVICES
    if lean_path:
        # Our own code builds every DynamoDB request; botocore's validation only costs CPU.
        extra["parameter_validation"] = False
    config = options.config(service, **extra)
    # botocore types every client as BaseClient; the stubs name what each service's client is.
    client = cast(
        "Client | StreamsClient | S3Client",
        session.create_client(
            service, region_name=region, endpoint_url=endpoint_url, config=config
        ),
    )
    if lean_path:
        lean.install(client)
    if service in OWN_RETRIES:
        return retrying(client, policy=options.retry_policy())
    return client


def s3_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    auth: Auth = Auth(),
    options: ClientOptions = ClientOptions(),
    environ: Mapping[str, str] | None = None,
) -> S3Client:
    """An S3 client; ``endpoint_url`` or ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` aim it elsewhere."""
    env = os.environ if environ is None else environ
    endpoint = endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    region = resolve_region(region, env)
    return make_client("s3", region=region, endpoint_url=endpoint, auth=auth, options=options)


@dataclass(frozen=True)
class TableSpec:
    """A table plus how to reach it: picklable, so worker processes build their own clients."""

    address: TableAddress
    auth: Auth = field(default_factory=Auth)
    options: ClientOptions = field(default_factory=ClientOptions)

    @property
    def name(self) -> str:
        return self.address.table

    def client(self) -> Client:
        """A DynamoDB client for this table's endpoint and credentials."""
        return make_client(
            "dynamodb",
            region=self.address.region,
            endpoint_url=self.address.endpoint_url,
            auth=self.auth,
            options=self.options,
        )

    def streams_client(self, environ: Mapping[str, str] | None = None) -> StreamsClient:
        """A DynamoDB Streams client that follows the table's endpoint.

        botocore does not apply ``AWS_ENDPOINT_URL_DYNAMODB`` to the Streams client, so the
        table's endpoint is used unless ``AWS_ENDPOINT_URL_DYNAMODB_STREAMS`` says otherwise.
        """
        env = os.environ if environ is None else environ
        endpoint = env.get("AWS_ENDPOINT_URL_DYNAMODB_STREAMS") or self.address.endpoint_url
        return make_client(
            "dynamodbstreams",
            region=self.address.region,
            endpoint_url=endpoint,
            auth=self.auth,
            options=self.options,
        )

    def with_pool(self, size: int) -> TableSpec:
        """The same table with a connection pool sized for ``size`` concurrent workers."""
        return replace(self, options=replace(self.options, max_pool_connections=max(size, 1)))
