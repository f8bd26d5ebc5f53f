"""Test helpers, importable from any test as ``import helpers`` (tests/conftest.py puts this
folder on ``sys.path``).

- :class:`Endpoint`: where a test server listens.
- :class:`ServerProcess`: a test server (moto, dynalite) as a child process on a free port;
  :func:`dynamodb_local_endpoint`: the user's own DynamoDB Local, when they opt in.
- :func:`put_items` / :func:`scan_all`: write and read wire-format items, loudly.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
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


# --- test servers ---------------------------------------------------------------------------

#: Opt-in: the URL of an Amazon DynamoDB Local the user runs (``http://127.0.0.1:8000``). When
#: set, it is the default DynamoDB server of the suite and tests marked ``ddblocal`` run too.
DYNAMODB_LOCAL_ENDPOINT_VAR = "DYNAMODB_LOCAL_ENDPOINT"


class ServerStartError(RuntimeError):
    """A test server could not be started; the message says why and what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def dynamodb_local_endpoint() -> Endpoint | None:
    """The user's DynamoDB Local from ``$DYNAMODB_LOCAL_ENDPOINT``, or None when unset."""
    url = os.environ.get(DYNAMODB_LOCAL_ENDPOINT_VAR, "").strip().rstrip("/")
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise ServerStartError(
            f"${DYNAMODB_LOCAL_ENDPOINT_VAR} must be a URL such as http://127.0.0.1:8000, "
            f"not {url!r}"
        )
    return Endpoint(url, REGION, "dynamodb-local")


def find_dynalite() -> Path:
    """``cli.js`` of the npm package ``dynalite`` installed at the repo root (``npm ci``)."""
    cli = REPO_ROOT / "node_modules" / "dynalite" / "cli.js"
    if not cli.is_file():
        raise ServerStartError(
            f"dynalite not found ({cli}): run `npm ci` at the repo root "
            "(or ./scripts/test, which does); it needs Node.js 20+."
        )
    return cli


def moto_command(port: int, host: str) -> list[str]:
    """moto's own server (DynamoDB, DynamoDB Streams, S3 on one port) in a new interpreter."""
    return [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]


def dynalite_command(port: int, host: str) -> list[str]:
    """dynalite in memory; tables become ACTIVE at once (the tests wait for ACTIVE anyway)."""
    node = shutil.which("node")
    if node is None:
        raise ServerStartError("dynalite needs Node.js 20+, and `node` is not on PATH")
    return [
        node,
        str(find_dynalite()),
        "--host",
        host,
        "--port",
        str(port),
        "--createTableMs",
        "0",
        "--deleteTableMs",
        "0",
        "--updateTableMs",
        "0",
    ]


class ServerProcess:
    """A DynamoDB-compatible test server as a child process on a free port.

    ``command(port, host)`` builds its command line. ``start()`` waits (bounded) until
    ``ListTables`` answers, retrying on another port if the chosen one was taken; ``stop()``
    terminates, then kills. Output goes to ``workdir/<name>.log``.
    """

    HOST = "127.0.0.1"

    def __init__(
        self,
        name: str,
        command: Callable[[int, str], list[str]],
        workdir: Path,
        *,
        region: str = REGION,
        start_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.command = command
        self.workdir = workdir
        self.region = region
        self.start_timeout = start_timeout
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint: Endpoint | None = None

    def start(self) -> Endpoint:
        last_error = ""
        for _attempt in range(3):  # a free port can be taken before the server binds it
            try:
                return self._start_once(free_port(self.HOST))
            except ServerStartError as exc:
                last_error = str(exc)
                if "in use" not in last_error.lower():
                    raise
        raise ServerStartError(last_error)

    def _start_once(self, port: int) -> Endpoint:
        cmd = self.command(port, self.HOST)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        endpoint = Endpoint(f"http://{self.HOST}:{port}", self.region, self.name)
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
                        f"{self.name} exited with code {code} during start-up.\n{self.log_tail()}"
                    )
                try:
                    probe.list_tables(Limit=1)
                except (BotoCoreError, ClientError):
                    if time.monotonic() > deadline:
                        self.stop()
                        raise ServerStartError(
                            f"{self.name} did not answer ListTables on {endpoint.url} "
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
            proc.terminate()  # in memory: nothing to flush, so a short grace period
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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
