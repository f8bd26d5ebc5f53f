"""A fault-injecting HTTP/1.1 proxy in front of a DynamoDB-compatible server.

For faults a server cannot produce on demand: throttling, 500/503 answers, connections reset
before a request is forwarded or in the middle of the response (after the server has acted on
it), ``BatchWriteItem`` / ``BatchGetItem`` answered with part of the request as leftovers, and
added latency. Errors are written in DynamoDB's JSON error format, so botocore parses them as it
parses the real service's.

Which request gets which fault is a pure function of the seed, the request's operation and
body (shard iterators left out: they differ on every run), and how many times that same request
was seen before: a fixed seed gives the same faults
for the same requests, whatever order concurrent workers send them in. A retry of a request is
a new draw (its occurrence number differs), so a fault is never permanent unless the rate is 1.

The proxy runs in a background thread with its own event loop::

    with ChaosProxy("http://127.0.0.1:8000", FaultPlan(seed=7, rate=0.2)) as proxy:
        ...  # point clients at proxy.url
    print(proxy.counts())  # {"requests": 812, "throttle": 40, "reset-after": 17, ...}

It is server-agnostic: it forwards bytes, rewrites only the bodies of batch requests it answers
partly, and recomputes the ``x-amz-crc32`` header of a body it changed. It does not re-sign
requests (local servers do not check signatures).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import re
import socket
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

__all__ = ["BATCH_KINDS", "DEFAULT_WEIGHTS", "KINDS", "ChaosProxy", "FaultPlan"]

#: Every kind of fault, in the order reports list them.
KINDS = (
    "throttle",  # 400 ProvisionedThroughputExceededException
    "throttling",  # 400 ThrottlingException
    "500",  # 500 InternalServerError
    "503",  # 503 ServiceUnavailable
    "reset-before",  # connection reset, the request never reaches the server
    "reset-after",  # forwarded (the server acts on it), reset half-way through the response
    "unprocessed",  # batch requests only: part answered as UnprocessedItems / UnprocessedKeys
    "latency",  # forwarded after a delay
)
#: Kinds that apply only to BatchWriteItem and BatchGetItem.
BATCH_KINDS = frozenset({"unprocessed"})
#: Relative weights of the kinds (a batch request draws ``unprocessed`` more often).
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "throttle": 3,
    "throttling": 1,
    "500": 1,
    "503": 1,
    "reset-before": 1,
    "reset-after": 1,
    "unprocessed": 6,
    "latency": 2,
}

_DYNAMO = "com.amazonaws.dynamodb.v20120810#"
_ERRORS: Mapping[str, tuple[int, str, str]] = {
    "throttle": (
        400,
        _DYNAMO + "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    ),
    "throttling": (
        400,
        "com.amazon.coral.availability#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
    "500": (500, _DYNAMO + "InternalServerError", "Internal server error"),
    "503": (
        503,
        "com.amazon.coral.availability#ServiceUnavailableException",
        "Service unavailable",
    ),
}
_REASONS = {200: "OK", 400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}
#: Parts of a request that differ from run to run for the same work (opaque shard iterators):
#: left out of the draw so that a fixed seed gives the same faults on every run.
_UNSTABLE = re.compile(rb'"ShardIterator"\s*:\s*"[^"]*"')
_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
)


@dataclass(frozen=True)
class FaultPlan:
    """What to inject: a share ``rate`` of requests gets a fault, drawn from ``weights``.

    ``only`` limits faults to the operations it names (None: every operation); ``spare``
    names operations never faulted. ``hold`` is the share of a batch's requests an
    ``unprocessed`` fault hands back (1.0: all of them); ``latency`` bounds the delay of a
    ``latency`` fault in seconds.
    """

    seed: int = 0
    rate: float = 0.2
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    only: frozenset[str] | None = None
    spare: frozenset[str] = frozenset()
    hold: float = 0.5
    latency: tuple[float, float] = (0.01, 0.1)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate {self.rate} is not between 0 and 1")
        unknown = set(self.weights) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {KINDS}")

    def draw(
        self, operation: str, body: bytes, occurrence: int
    ) -> tuple[str | None, random.Random]:
        """The fault for the ``occurrence``-th sight of this request (None: forward as is), and
        the generator that decides its details (which leftovers, how long a delay)."""
        digest = hashlib.sha256(operation.encode() + b"\n" + body).hexdigest()
        rng = random.Random(f"{self.seed}:{digest}:{occurrence}")
        excluded = operation in self.spare or (self.only is not None and operation not in self.only)
        if excluded or rng.random() >= self.rate:
            return None, rng
        batch = operation in ("BatchWriteItem", "BatchGetItem")
        kinds = [
            (kind, weight)
            for kind, weight in self.weights.items()
            if weight > 0 and (batch or kind not in BATCH_KINDS)
        ]
        if not kinds:
            return None, rng
        names, weights = zip(*kinds, strict=True)
        return rng.choices(names, weights)[0], rng


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def operation(self) -> str:
        """``BatchWriteItem`` from ``X-Amz-Target: DynamoDB_20120810.BatchWriteItem``."""
        target = self.header("x-amz-target") or ""
        return target.rsplit(".", 1)[-1]


@dataclass
class _Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def encode(self, *, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() not in _HOP_HEADERS]
        lines.append(f"Content-Length: {len(self.body)}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def _json_response(status: int, payload: Mapping[str, Any]) -> _Response:
    body = json.dumps(payload).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", hashlib.sha1(body).hexdigest()[:32].upper()),
        ("x-amz-crc32", str(zlib.crc32(body))),
    ]
    if "__type" in payload:
        headers.append(("x-amzn-ErrorType", str(payload["__type"]).rsplit("#", 1)[-1]))
    return _Response(status, _REASONS.get(status, "Error"), headers, body)


def _error_response(kind: str) -> _Response:
    status, error_type, message = _ERRORS[kind]
    return _json_response(status, {"__type": error_type, "message": message})


def _with_body(response: _Response, payload: Mapping[str, Any]) -> _Response:
    """``response`` with a new JSON body and its ``x-amz-crc32`` recomputed."""
    body = json.dumps(payload).encode()
    headers = [(k, v) for k, v in response.headers if k.lower() != "x-amz-crc32"]
    headers.append(("x-amz-crc32", str(zlib.crc32(body))))
    return _Response(response.status, response.reason, headers, body)


def _split_batch(
    operation: str, payload: dict[str, Any], rng: random.Random, hold: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the request items to forward, those to hand back as leftovers); both keyed by table.

    Each request (or key) is held back with probability ``hold``; a table none of whose
    requests is forwarded is dropped from the forwarded part.
    """
    forward: dict[str, Any] = {}
    held: dict[str, Any] = {}
    for table, body in payload.get("RequestItems", {}).items():
        requests = body if operation == "BatchWriteItem" else body.get("Keys", [])
        kept: list[Any] = []
        gone: list[Any] = []
        for request in requests:
            (gone if rng.random() < hold else kept).append(request)
        if operation == "BatchWriteItem":
            if kept:
                forward[table] = kept
            if gone:
                held[table] = gone
        else:
            if kept:
                forward[table] = {**body, "Keys": kept}
            if gone:
                held[table] = {**body, "Keys": gone}
    return forward, held


def _merge_leftovers(operation: str, parsed: dict[str, Any], held: Mapping[str, Any]) -> None:
    if operation == "BatchWriteItem":
        out = parsed.setdefault("UnprocessedItems", {})
        for table, requests in held.items():
            out.setdefault(table, []).extend(requests)
    else:
        keys_out = parsed.setdefault("UnprocessedKeys", {})
        for table, body in held.items():
            entry = keys_out.setdefault(table, {k: v for k, v in body.items() if k != "Keys"})
            entry.setdefault("Keys", []).extend(body["Keys"])


async def _read_head(reader: asyncio.StreamReader) -> list[str] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None
    return head.decode("latin-1").split("\r\n")[:-2]


def _parse_headers(lines: list[str]) -> list[tuple[str, str]]:
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return headers


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    """A message body by Content-Length or chunked encoding; to EOF if neither is given."""
    lowered = {k.lower(): v for k, v in headers}
    if "chunked" in lowered.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if "content-length" in lowered:
        return await reader.readexactly(int(lowered["content-length"]))
    return await reader.read()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (RST), as a dropped connection looks to the client."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ChaosProxy:
    """The proxy: ``start()`` binds 127.0.0.1 on a free port (or ``port``) and serves in a
    background thread; ``url`` is where clients go; ``stop()`` closes every connection and
    joins the thread. ``plan`` may be replaced while running (``set_plan``)."""

    def __init__(
        self,
        upstream: str,
        plan: FaultPlan | None = None,
        *,
        port: int = 0,
        upstream_timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be http://HOST:PORT, not {upstream!r}")
        self.upstream = (parts.hostname, parts.port or 80)
        self._plan = plan or FaultPlan()
        self._port = port
        self._timeout = upstream_timeout
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._by_operation: Counter[str] = Counter()
        self._seen: Counter[tuple[str, bytes]] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    # --- control ------------------------------------------------------------------------------

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def set_plan(self, plan: FaultPlan) -> None:
        """Change the faults from now on (e.g. a storm of 100% throttling, then back)."""
        self._plan = plan

    def set_rate(self, rate: float) -> None:
        self._plan = replace(self._plan, rate=rate)

    def counts(self) -> dict[str, int]:
        """``requests`` seen, and faults injected by kind (kinds not injected are absent)."""
        with self._lock:
            return dict(self._counts)

    def faults(self) -> int:
        """How many faults were injected in all."""
        with self._lock:
            return sum(v for k, v in self._counts.items() if k != "requests")

    def operations(self) -> dict[str, int]:
        """Requests seen by operation name."""
        with self._lock:
            return dict(self._by_operation)

    def start(self) -> ChaosProxy:
        if self._thread is not None:
            raise RuntimeError("the proxy is already running")
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve, "127.0.0.1", self._port)
                )
                port = self._server.sockets[0].getsockname()[1]
                self.url = f"http://127.0.0.1:{port}"
            except BaseException as exc:
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="chaos-proxy", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving, reset open connections, and join the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        if thread.is_alive():
            raise RuntimeError("the chaos proxy did not stop within 30 s")
        self._thread = None
        self._loop = None

    def __enter__(self) -> ChaosProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # their handlers see the connection gone and return
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # --- serving ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                if not await self._answer(request, writer):
                    return  # the connection was reset on purpose
                if (request.header("connection") or "").lower() == "close":
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            writer.transport.abort()
            return
        except asyncio.CancelledError:  # shutting down: end quietly, the connection is gone
            writer.transport.abort()
            return
        finally:
            self._writers.discard(writer)
        with contextlib.suppress(OSError):
            writer.close()
            await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> _Request | None:
        lines = await _read_head(reader)
        if lines is None:
            return None
        method, target, version = lines[0].split(" ", 2)
        headers = _parse_headers(lines[1:])
        body = await _read_body(reader, headers)
        return _Request(method, target, version, headers, body)

    def _count(self, operation: str, kind: str | None) -> None:
        with self._lock:
            self._counts["requests"] += 1
            self._by_operation[operation] += 1
            if kind is not None:
                self._counts[kind] += 1

    def _draw(self, request: _Request) -> tuple[str | None, random.Random]:
        operation = request.operation
        body = _UNSTABLE.sub(b'"ShardIterator":""', request.body)
        with self._lock:
            self._seen[(operation, body)] += 1
            occurrence = self._seen[(operation, body)]
        return self._plan.draw(operation, body, occurrence)

    async def _answer(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection was reset."""
        kind, rng = self._draw(request)
        operation = request.operation
        if kind == "unprocessed" and operation not in ("BatchWriteItem", "BatchGetItem"):
            kind = None
        self._count(operation, kind)
        if kind is not None and kind in _ERRORS:
            writer.write(_error_response(kind).encode(keep_alive=True))
            await writer.drain()
            return True
        if kind == "reset-before":
            _reset(writer)
            return False
        if kind == "latency":
            low, high = self._plan.latency
            await asyncio.sleep(rng.uniform(low, high))
        if kind == "unprocessed":
            response = await self._partial_batch(request, operation, rng)
        else:
            response = await self._forward(request)
        if kind == "reset-after":
            raw = response.encode(keep_alive=True)
            writer.write(raw[: len(raw) - max(1, len(response.body) // 2)])
            await writer.drain()
            _reset(writer)
            return False
        writer.write(response.encode(keep_alive=True))
        await writer.drain()
        return True

    async def _partial_batch(
        self, request: _Request, operation: str, rng: random.Random
    ) -> _Response:
        payload = json.loads(request.body)
        forward, held = _split_batch(operation, payload, rng, self._plan.hold)
        if not forward:  # nothing left to send: the answer is every request as a leftover
            parsed: dict[str, Any] = {"Responses": {}} if operation == "BatchGetItem" else {}
            _merge_leftovers(operation, parsed, held)
            return _json_response(200, parsed)
        sent = replace(request, body=json.dumps({**payload, "RequestItems": forward}).encode())
        response = await self._forward(sent)
        if response.status != 200:
            return response
        parsed = json.loads(response.body)
        _merge_leftovers(operation, parsed, held)
        return _with_body(response, parsed)

    async def _forward(self, request: _Request) -> _Response:
        return await asyncio.wait_for(self._exchange(request), self._timeout)

    async def _exchange(self, request: _Request) -> _Response:
        """Send ``request`` upstream on a connection of its own and read the whole answer."""
        host, port = self.upstream
        reader, writer = await asyncio.open_connection(host, port)
        try:
            lines = [f"{request.method} {request.target} HTTP/1.1"]
            for name, value in request.headers:
                if name.lower() in _HOP_HEADERS or name.lower() in ("accept-encoding", "expect"):
                    continue
                lines.append(f"{name}: {value}")
            lines += [
                f"Content-Length: {len(request.body)}",
                "Accept-Encoding: identity",
                "Connection: close",
            ]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body)
            await writer.drain()
            head = await _read_head(reader)
            if head is None:
                raise ConnectionResetError("the upstream server closed without answering")
            _version, status, *reason = head[0].split(" ", 2)
            headers = _parse_headers(head[1:])
            body = await _read_body(reader, headers)
            return _Response(int(status), reason[0] if reason else "", headers, body)
        finally:
            writer.transport.abort()
