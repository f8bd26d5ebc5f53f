"""The Lambda deadline bounds every call: a replica that accepts connections and never answers
must not keep the handler past its deadline (each attempt's timeouts shrink to the time left,
and no attempt starts that could not end before it)."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "events"))

from lambda_events import event, ids, stream_record

from dynamodb_replicator.lambda_handler import build_handler


@pytest.fixture
def stalled_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that accepts connections, reads, never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()


class Context:
    """A Lambda context whose deadline is ``seconds`` after it is made."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def test_a_stalled_replica_does_not_overrun_the_deadline(stalled_endpoint: str) -> None:
    env = {
        "AWS_REGION": "us-east-1",
        "REPLICA_TABLE": "replica",
        "REPLICA_ENDPOINT_URL": stalled_endpoint,
        "DEADLINE_MARGIN_MS": "1000",
    }
    lines: list[dict[str, Any]] = []
    handle = build_handler(env, emit=lambda s: lines.append(json.loads(s)))
    evt = event(
        stream_record("INSERT", {"pk": {"S": f"k{i}"}}, {"pk": {"S": f"k{i}"}}, seq=i)
        for i in range(3)
    )
    began = time.monotonic()
    context = Context(3.0)
    result = handle(evt, context)
    took = time.monotonic() - began
    # 3 s left minus the 1 s margin: the handler answers within the 2 s, not after 5 s reads
    assert took < 2.5, f"returned after {took:.1f} s"
    assert context.get_remaining_time_in_millis() > 0
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)
    assert lines[0]["RecordsFailed"] == 3
