"""Our own retry budget, against a real server: a long run of throttles that would drain
botocore's retry quota still finishes, and a dead endpoint fails after the stated time naming
the keys left. Throttles are injected at the HTTP layer (a ``before-send`` hook), so they pass
through the whole client stack as a server's would."""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner

from dynamodb_replicator.cli import cli
from dynamodb_replicator.dynamo import ClientOptions, Put, TableSpec, batch_write
from dynamodb_replicator.dynamo.address import parse_table_address
from dynamodb_replicator.errors import IncompleteBatchError
from dynamodb_replicator.items import KeySchema
from helpers import Endpoint, put_items, scan_all


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


THROTTLE = (
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
    b'"message":"slow down"}'
)


class ThrottleTwoInThree:
    """A ``before-send`` hook answering two of every three requests with a throttle."""

    def __init__(self) -> None:
        self.sent = 0
        self.throttled = 0
        self.lock = threading.Lock()

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        with self.lock:
            self.sent += 1
            if self.sent % 3 == 0:
                return None
            self.throttled += 1
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 400, headers, _Raw(THROTTLE))


def test_more_throttles_than_botocores_quota_allows_still_finish_the_job(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    primary, replica = make_table(), make_table()
    items = [{"pk": {"S": f"k{i:04d}"}, "n": {"N": str(i)}} for i in range(300)]
    put_items(ddb_client, primary, items)
    hook = ThrottleTwoInThree()
    original = TableSpec.client

    def throttled_client(self: TableSpec) -> Any:
        client = original(self)
        client.meta.events.register("before-send.dynamodb", hook)
        # retry quickly: the schedule is the unit tests' business, the budget is this test's
        client.policy = replace(client.policy, base=0.001, cap=0.005)
        return client

    monkeypatch.setattr(TableSpec, "client", throttled_client)
    result = CliRunner().invoke(
        cli,
        [
            "diff-tables",
            f"us-east-1/{primary}",
            f"us-east-1/{replica}",
            "--backfill",
            "--endpoint-url",
            ddb.url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert hook.throttled > 500
    assert sorted(scan_all(ddb_client, replica), key=lambda i: i["pk"]["S"]) == items
    rate = re.search(r"(\d+) of (\d+) requests failed and were retried \((.*)%\)", result.stderr)
    assert rate is not None, result.stderr
    errors, requests = int(rate.group(1)), int(rate.group(2))
    assert errors > 500
    assert 0.6 < errors / requests < 0.7


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dead_endpoint_fails_after_the_stated_time_naming_the_keys() -> None:
    address = parse_table_address(f"http://127.0.0.1:{_refused_port()}/table", environ={})
    client = TableSpec(address, options=ClientOptions(give_up_after=1.0)).client()
    items = [{"pk": {"S": f"k{i}"}} for i in range(30)]
    began = time.monotonic()
    with pytest.raises(IncompleteBatchError) as caught:
        batch_write(client, "table", [Put(i) for i in items], KeySchema("pk", "S"))
    took = time.monotonic() - began
    assert 1.0 <= took < 2.0
    assert "every attempt failed for" in caught.value.message
    assert "give up after 1 s" in caught.value.message
    assert [k["pk"]["S"] for k in caught.value.keys] == [f"k{i}" for i in range(30)]
    assert client.counts().requests > 3
