"""Shared fixtures: hermetic AWS settings, the test servers, clients, tables and buckets.

Servers (session-scoped, started on first use, each a child process on a free port):
    moto_server     -> Endpoint  moto's server (DynamoDB, DynamoDB Streams, S3): the default
    dynalite        -> Endpoint  dynalite (npm; DynamoDB only: no Streams, transactions, TTL)
    dynamodb_local  -> Endpoint  the user's Amazon DynamoDB Local, only when
                                 ``$DYNAMODB_LOCAL_ENDPOINT`` names it (never started here)
    s3_endpoint     -> Endpoint  the S3 server (moto)

Per test:
    ddb             -> Endpoint  DynamoDB under test: moto, or DynamoDB Local when
                                 ``$DYNAMODB_LOCAL_ENDPOINT`` is set. A test marked
                                 ``@pytest.mark.dynalite`` also runs on dynalite
                                 (``dynalite(only=True, reason=...)``: instead of moto, for
                                 what moto does not do as DynamoDB promises); one marked
                                 ``@pytest.mark.moto`` also runs on moto when the default is
                                 DynamoDB Local. Ids: ``[moto]``, ``[dynalite]``, ``[ddblocal]``.
                                 ``@pytest.mark.ddblocal(reason=...)``: needs DynamoDB Local;
                                 skipped (and listed by ``-ra``) unless the variable is set.
    ddb_client, streams_client, s3_client       boto3 low-level clients
    make_table(hash_key=("pk", "S"), range_key=None, *, stream=None, gsi=None, lsi=None,
               client=None) -> str
    make_bucket(name=None, *, client=None) -> str

Item helpers: ``from helpers import put_items, scan_all`` (see tests/helpers.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:  # make `import helpers` work in every import mode
    sys.path.insert(0, _TESTS_DIR)

from helpers import (  # noqa: E402
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
    DYNAMODB_LOCAL_ENDPOINT_VAR,
    REGION,
    Endpoint,
    ServerProcess,
    ServerStartError,
    dynalite_command,
    dynamodb_local_endpoint,
    make_client,
    moto_command,
)

KeyAttr = tuple[str, str]  # (attribute name, "S" | "N" | "B")


# --- hermetic environment ---------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _hermetic_aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test sees the developer's AWS settings (only dummy credentials and us-east-1) or
    writes into the developer's state folder."""
    empty = tmp_path_factory.mktemp("aws-config")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("AWS_"):  # profiles, endpoints, session tokens, CA bundles...
                mp.delenv(name)
        mp.setenv("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY_ID)
        mp.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_ACCESS_KEY)
        mp.setenv("AWS_REGION", REGION)
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_CONFIG_FILE", str(empty / "config"))  # do not exist: read as empty
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        # replicate's default checkpoints: never in the developer's real state folder
        mp.setenv("DYNAMODB_REPLICATOR_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        yield


# --- servers ----------------------------------------------------------------------------------


def _default_backend() -> str:
    """``ddblocal`` when the user points the suite at their DynamoDB Local, else ``moto``."""
    return "ddblocal" if os.environ.get(DYNAMODB_LOCAL_ENDPOINT_VAR, "").strip() else "moto"


def _serve(name: str, command: Any, workdir: Path) -> Iterator[Endpoint]:
    """Start a server process for the session; fail (never skip) if it cannot run."""
    server = ServerProcess(name, command, workdir)
    try:
        endpoint = server.start()
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server(
    _hermetic_aws_env: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    """moto's server (DynamoDB, DynamoDB Streams, S3) in its own process on a free port."""
    yield from _serve("moto", moto_command, tmp_path_factory.mktemp("moto"))


@pytest.fixture(scope="session")
def dynalite(
    _hermetic_aws_env: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    """dynalite (Node.js 20+, from the npm package) in memory on a free port."""
    yield from _serve("dynalite", dynalite_command, tmp_path_factory.mktemp("dynalite"))


@pytest.fixture(scope="session")
def dynamodb_local(_hermetic_aws_env: None) -> Endpoint:
    """The user's Amazon DynamoDB Local (``$DYNAMODB_LOCAL_ENDPOINT``); skips when unset."""
    try:
        endpoint = dynamodb_local_endpoint()
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    if endpoint is None:
        pytest.skip(f"needs Amazon DynamoDB Local: set {DYNAMODB_LOCAL_ENDPOINT_VAR}")
    return endpoint


@pytest.fixture(scope="session")
def s3_endpoint(moto_server: Endpoint) -> Endpoint:
    return moto_server


def _backends(definition: Any) -> list[str]:
    """The DynamoDB servers a test runs on: the default, plus those its markers add."""
    dynalite_marker = definition.get_closest_marker("dynalite")
    backends = [_default_backend()]
    if dynalite_marker is not None and dynalite_marker.kwargs.get("only") and backends == ["moto"]:
        backends = []  # moto cannot run it (the marker's reason says why): dynalite instead
    moto_marker = definition.get_closest_marker("moto")
    if moto_marker is not None and moto_marker.kwargs.get("only"):
        backends = ["moto"]  # relies on moto's behaviour (the marker's reason says which)
    elif moto_marker is not None and "moto" not in backends:
        backends.append("moto")
    if dynalite_marker is not None:
        backends.append("dynalite")
    return backends


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test using ``ddb`` runs once per backend its markers ask for (ids name the server)."""
    if "ddb" in metafunc.fixturenames:
        backends = _backends(metafunc.definition)
        if len(backends) > 1 or backends != [_default_backend()]:
            metafunc.parametrize("ddb", backends, indirect=True, ids=backends)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``ddblocal`` are skipped, with their reason, unless DynamoDB Local is set."""
    if _default_backend() == "ddblocal":
        return
    for item in items:
        marker = item.get_closest_marker("ddblocal")
        if marker is None:
            continue
        reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
        if not reason:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.ddblocal needs a reason")
        item.add_marker(
            pytest.mark.skip(
                reason=f"needs Amazon DynamoDB Local (set {DYNAMODB_LOCAL_ENDPOINT_VAR}): {reason}"
            )
        )


_BACKEND_FIXTURES = {"moto": "moto_server", "dynalite": "dynalite", "ddblocal": "dynamodb_local"}


@pytest.fixture
def ddb(request: pytest.FixtureRequest) -> Endpoint:
    """The DynamoDB endpoint under test (the default backend unless parametrized)."""
    backend = getattr(request, "param", _default_backend())
    if backend not in _BACKEND_FIXTURES:
        raise ValueError(f"unknown DynamoDB backend {backend!r}")
    return request.getfixturevalue(_BACKEND_FIXTURES[backend])  # type: ignore[no-any-return]


# --- clients ----------------------------------------------------------------------------------


@pytest.fixture
def ddb_client(ddb: Endpoint) -> Iterator[Any]:
    client = make_client("dynamodb", ddb)
    yield client
    client.close()


@pytest.fixture
def streams_client(ddb: Endpoint) -> Iterator[Any]:
    client = make_client("dynamodbstreams", ddb)
    yield client
    client.close()


@pytest.fixture
def s3_client(s3_endpoint: Endpoint) -> Iterator[Any]:
    client = make_client(
        "s3",
        s3_endpoint,
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    yield client
    client.close()


# --- tables and buckets -----------------------------------------------------------------------

IndexSpec = KeyAttr | Sequence[KeyAttr]


def _index_keys(spec: IndexSpec) -> list[KeyAttr]:
    """``("a", "S")`` -> one key; ``[("a", "S"), ("b", "N")]`` -> hash and range."""
    if len(spec) == 2 and all(isinstance(part, str) for part in spec):
        return [(str(spec[0]), str(spec[1]))]
    keys = [(str(name), str(kind)) for name, kind in spec]  # type: ignore[misc]
    if not 1 <= len(keys) <= 2:
        raise ValueError(f"an index key has 1 or 2 attributes, not {keys!r}")
    return keys


def _key_schema(keys: Sequence[KeyAttr]) -> list[dict[str, str]]:
    return [
        {"AttributeName": name, "KeyType": kind}
        for (name, _), kind in zip(keys, ("HASH", "RANGE"), strict=False)
    ]


def _wait_active(client: Any, table: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        desc = client.describe_table(TableName=table)["Table"]
        indexes = desc.get("GlobalSecondaryIndexes", [])
        if desc["TableStatus"] == "ACTIVE" and all(
            index.get("IndexStatus", "ACTIVE") == "ACTIVE" for index in indexes
        ):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"table {table} not ACTIVE after {timeout:.0f} s: {desc}")
        time.sleep(0.05)


@pytest.fixture
def make_table(ddb_client: Any) -> Iterator[Callable[..., str]]:
    """Factory: create a uniquely named on-demand table, wait until ACTIVE, return its name.

    ``gsi={"by_x": ("x", "S")}`` or ``{"by_x": [("x", "S"), ("y", "N")]}``;
    ``lsi={"by_y": ("y", "N")}`` (the table's hash key is implied; needs ``range_key``).
    Projections are ALL. Every table made is deleted at teardown.
    """
    created: list[tuple[Any, str]] = []

    def factory(
        hash_key: KeyAttr = ("pk", "S"),
        range_key: KeyAttr | None = None,
        *,
        stream: str | None = None,
        gsi: Mapping[str, IndexSpec] | None = None,
        lsi: Mapping[str, KeyAttr] | None = None,
        client: Any = None,
    ) -> str:
        client = client or ddb_client
        name = f"t-{uuid.uuid4().hex[:8]}"
        table_keys = [hash_key] if range_key is None else [hash_key, range_key]
        attributes: dict[str, str] = {}

        def define(keys: Sequence[KeyAttr]) -> None:
            for attr, kind in keys:
                if attributes.setdefault(attr, kind) != kind:
                    raise ValueError(
                        f"attribute {attr!r} declared as both {attributes[attr]}/{kind}"
                    )

        define(table_keys)
        params: dict[str, Any] = {
            "TableName": name,
            "KeySchema": _key_schema(table_keys),
            "BillingMode": "PAY_PER_REQUEST",
        }
        if gsi:
            params["GlobalSecondaryIndexes"] = []
            for index_name, spec in gsi.items():
                keys = _index_keys(spec)
                define(keys)
                params["GlobalSecondaryIndexes"].append(
                    {
                        "IndexName": index_name,
                        "KeySchema": _key_schema(keys),
                        "Projection": {"ProjectionType": "ALL"},
                    }
                )
        if lsi:
            if range_key is None:
                raise ValueError("a local secondary index needs a table with a range key")
            params["LocalSecondaryIndexes"] = []
            for index_name, key in lsi.items():
                keys = [hash_key, key]
                define(keys)
                params["LocalSecondaryIndexes"].append(
                    {
                        "IndexName": index_name,
                        "KeySchema": _key_schema(keys),
                        "Projection": {"ProjectionType": "ALL"},
                    }
                )
        params["AttributeDefinitions"] = [
            {"AttributeName": attr, "AttributeType": kind} for attr, kind in attributes.items()
        ]
        if stream is not None:
            params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}

        client.create_table(**params)
        created.append((client, name))
        _wait_active(client, name)
        return name

    yield factory

    for client, name in reversed(created):
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=name)


@pytest.fixture
def new_table(ddb_client: Any) -> Iterator[Callable[[], str]]:
    """Factory: a fresh table name for a command to create (``restore-table --create``);
    every table so named is deleted at teardown."""
    made: list[str] = []

    def factory() -> str:
        made.append(f"r-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield factory
    for name in made:
        with contextlib.suppress(ddb_client.exceptions.ResourceNotFoundException):
            ddb_client.delete_table(TableName=name)


@pytest.fixture
def make_bucket(s3_client: Any) -> Iterator[Callable[..., str]]:
    """Factory: create an S3 bucket (``b-<uuid8>`` unless named); emptied and deleted after."""
    created: list[tuple[Any, str]] = []

    def factory(name: str | None = None, *, client: Any = None) -> str:
        client = client or s3_client
        bucket = name or f"b-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        created.append((client, bucket))
        return bucket

    yield factory

    for client, bucket in reversed(created):
        _delete_bucket(client, bucket)


def _delete_bucket(client: Any, bucket: str) -> None:
    try:
        uploads = client.get_paginator("list_multipart_uploads")
        for page in uploads.paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(
                    Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
        versions = client.get_paginator("list_object_versions")
        for page in versions.paginate(Bucket=bucket):
            objects = [
                {"Key": entry["Key"], "VersionId": entry["VersionId"]}
                for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if objects:
                client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        client.delete_bucket(Bucket=bucket)
    except client.exceptions.NoSuchBucket:
        pass
