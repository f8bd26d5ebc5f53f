"""Races and injected faults: replication lag, a repair racing a newer write, throttling.

Throttling cannot be produced on demand by the test servers, so it is injected with botocore
event hooks; everything else runs against the real server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner

from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.diff import Action, DiffOptions, Kind
from dynamodb_replicator.diff.passes import Finder
from dynamodb_replicator.diff.segment import SegmentJob, make_sides
from dynamodb_replicator.dynamo import TableSpec, parse_table_address
from dynamodb_replicator.errors import RetriesExhaustedError
from dynamodb_replicator.items import KeySchema
from helpers import Endpoint, make_client, put_items, scan_all

SCHEMA = KeySchema("pk", "S")


def item(pk: str, **attrs: Any) -> dict[str, Any]:
    return {"pk": {"S": pk}, **attrs}


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def throttle_hook(times: int | None) -> Callable[..., AWSResponse | None]:
    """A before-send hook answering ``times`` requests (all when None) with a throttle."""
    state = {"left": times}

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        if state["left"] is not None:
            if state["left"] <= 0:
                return None
            state["left"] -= 1
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}'
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 400, headers, _Raw(body))

    return hook


def unprocessed_hook(times: int | None) -> Callable[..., None]:
    """An after-call hook turning every key of ``times`` BatchGetItem responses into leftovers."""
    state = {"left": times}

    def hook(parsed: dict[str, Any], **_: Any) -> None:
        if state["left"] is not None:
            if state["left"] <= 0:
                return
            state["left"] -= 1
        responses = parsed.get("Responses", {})
        for table, items in list(responses.items()):
            keys = [{"pk": i["pk"]} for i in items]
            if keys:
                parsed.setdefault("UnprocessedKeys", {})[table] = {"Keys": keys}
            responses[table] = []

    return hook


def _finder(
    ddb: Endpoint,
    primary: str,
    replica: str,
    options: DiffOptions,
    *,
    sleep: Callable[[float], None] = lambda _: None,
    replica_client: Any = None,
) -> Finder:
    spec = lambda name: TableSpec(parse_table_address(f"{ddb.url}/{name}"))  # noqa: E731
    job = SegmentJob(spec(primary), spec(replica), SCHEMA, options)
    sides = make_sides(
        job,
        make_client("dynamodb", ddb),
        replica_client if replica_client is not None else make_client("dynamodb", ddb),
    )
    return Finder(sides, sleep=sleep)


@pytest.fixture
def tables(ddb_client: Any, make_table: Callable[..., str]) -> tuple[str, str]:
    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, [item("a", v={"N": "1"}), item("b", v={"N": "2"})])
    put_items(ddb_client, replica, [item("a", v={"N": "1"})])
    return primary, replica


def test_change_completed_before_recheck_is_cleared(
    ddb: Endpoint, ddb_client: Any, tables: tuple[str, str]
) -> None:
    primary, replica = tables

    def replication_catches_up(_: float) -> None:
        ddb_client.put_item(TableName=replica, Item=item("b", v={"N": "2"}))

    finder = _finder(
        ddb, primary, replica, DiffOptions(recheck_delay=5), sleep=replication_catches_up
    )
    assert finder.run() == []
    assert finder.sides.tally.get("cleared") == 1
    assert finder.sides.tally.get("missing") == 0


def test_repair_racing_a_newer_write_is_skipped_not_overwritten(
    ddb: Endpoint, ddb_client: Any, tables: tuple[str, str]
) -> None:
    primary, replica = tables
    ddb_client.put_item(TableName=replica, Item=item("b", v={"N": "1"}))  # different
    raced = make_client("dynamodb", ddb)
    newer = item("b", v={"N": "3"})

    def newer_write_lands_first(**_: Any) -> None:
        raced.meta.events.unregister("before-call.dynamodb.PutItem", newer_write_lands_first)
        ddb_client.put_item(TableName=primary, Item=newer)
        ddb_client.put_item(TableName=replica, Item=newer)  # replication delivers it

    raced.meta.events.register("before-call.dynamodb.PutItem", newer_write_lands_first)
    finder = _finder(ddb, primary, replica, DiffOptions(repair=True), replica_client=raced)
    (found,) = finder.run()
    assert (found.kind, found.action, found.resolved) == (Kind.DIFFERENT, Action.SKIPPED, True)
    assert ddb_client.get_item(TableName=replica, Key={"pk": {"S": "b"}})["Item"] == newer


def test_throttled_reads_and_writes_complete_without_losing_a_repair(
    ddb: Endpoint, ddb_client: Any, tables: tuple[str, str]
) -> None:
    primary, replica = tables
    flaky = make_client("dynamodb", ddb)  # botocore standard retries, 3 attempts
    flaky.meta.events.register("after-call.dynamodb.BatchGetItem", unprocessed_hook(2))
    flaky.meta.events.register("before-send.dynamodb.PutItem", throttle_hook(1))
    finder = _finder(ddb, primary, replica, DiffOptions(repair=True), replica_client=flaky)
    (found,) = finder.run()
    assert (found.kind, found.action) == (Kind.MISSING, Action.REPAIRED)
    assert len(scan_all(ddb_client, replica)) == 2


def test_exhausted_read_retries_name_the_keys(ddb: Endpoint, tables: tuple[str, str]) -> None:
    primary, replica = tables
    starved = make_client("dynamodb", ddb)
    starved.meta.events.register("after-call.dynamodb.BatchGetItem", unprocessed_hook(None))
    # Pinned to lookup: scan-both matches "a" by scan and never batch-gets it.
    options = DiffOptions(max_retries=2, method="lookup")
    finder = _finder(ddb, primary, replica, options, replica_client=starved)
    with pytest.raises(RetriesExhaustedError) as caught:
        finder.run()
    assert [k["pk"]["S"] for k in caught.value.keys] == ["a"]  # "b" was read: absent


def test_exhausted_repair_writes_exit_3_with_keys(
    ddb: Endpoint, ddb_client: Any, tables: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    primary, replica = tables
    original = TableSpec.client

    def throttled_client(self: TableSpec) -> Any:
        assert self.options.give_up_after == 0.5  # from --give-up-after
        client = original(self)
        client.meta.events.register("before-send.dynamodb.PutItem", throttle_hook(None))
        return client

    monkeypatch.setattr(TableSpec, "client", throttled_client)
    result = CliRunner().invoke(
        cli,
        [
            "diff-tables",
            f"us-east-1/{primary}",
            f"us-east-1/{replica}",
            "--repair",
            "--endpoint-url",
            ddb.url,
            "--recheck-delay",
            "0",
            "--give-up-after",
            "0.5",
        ],
    )
    assert result.exit_code == 3, result.output
    assert result.stdout.strip() == '[missing] {"pk":{"S":"b"}} (failed)'
    assert 'keys not done: {"pk":{"S":"b"}}' in result.stderr
    assert len(scan_all(ddb_client, replica)) == 1
