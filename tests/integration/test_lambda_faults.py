"""Injected faults the server cannot produce on demand: UnprocessedItems / UnprocessedKeys,
whole-request throttling, a deadline. Hooks run on the real client against the test server."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "events"))

from lambda_events import event, ids, stream_record

from dynamodb_replicator.dynamo import Backoff
from dynamodb_replicator.lambda_handler import build_handler
from dynamodb_replicator.replicate import Replicator, ReplicatorConfig
from helpers import put_items, scan_all

Request = dict[str, Any]


class FakeHttp:
    def __init__(self, status_code: int = 200):
        self.status_code = status_code
        self.headers: dict[str, str] = {}


class Unprocessed:
    """Drops the write requests ``drop(request, call)`` picks before they are sent (the rest go
    to the server) and hands them back in ``UnprocessedItems``, as a throttled table does."""

    def __init__(self, client: Any, drop: Callable[[Request, int], bool]):
        self.drop = drop
        self.calls = 0
        events = client.meta.events
        events.register("before-parameter-build.dynamodb.BatchWriteItem", self.split)
        events.register("before-call.dynamodb.BatchWriteItem", self.all_dropped)
        events.register("after-call.dynamodb.BatchWriteItem", self.give_back)

    def split(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        ((table, requests),) = params["RequestItems"].items()
        dropped = [r for r in requests if self.drop(r, self.calls)]
        everything = len(dropped) == len(requests)
        if not everything:  # an empty request would fail validation: short-circuit instead
            params["RequestItems"][table] = [r for r in requests if r not in dropped]
        context["dropped"] = (table, dropped, everything)

    def all_dropped(self, context: dict[str, Any], **_: Any) -> Any:
        if context.get("dropped", (None, [], False))[2]:
            return FakeHttp(), {"UnprocessedItems": {}}
        return None

    def give_back(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        table, dropped, _all = context.get("dropped", (None, [], False))
        if dropped:
            parsed.setdefault("UnprocessedItems", {}).setdefault(table, []).extend(dropped)


def pk_of(request: Request) -> str:
    body = request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]
    return str(body["pk"]["S"])


class Context:
    def __init__(self, remaining_ms: int):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


FAST = Backoff(max_attempts=100, base=0.01, cap=0.1)


@pytest.fixture
def replica(make_table: Callable[..., str]) -> str:
    return make_table()


@pytest.fixture
def env(ddb: Any, replica: str) -> dict[str, str]:
    return {
        "AWS_REGION": ddb.region,
        "REPLICA_TABLE": replica,
        "REPLICA_ENDPOINT_URL": ddb.url,
        "DEADLINE_MARGIN_MS": "1000",
    }


def handler_with(
    env: dict[str, str], hook: Callable[[Any], Any], *, backoff: Backoff = FAST, **extra: str
) -> tuple[Callable[..., dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """A handler whose replica (and primary) clients carry ``hook``; its EMF lines; the hooks."""
    lines: list[dict[str, Any]] = []
    hooks: list[Any] = []

    def make(config: ReplicatorConfig) -> Replicator:
        replicator = Replicator.from_config(config, backoff=backoff)
        hooks.append(hook(replicator.replica.client))
        if replicator.primary is not None:
            hooks.append(hook(replicator.primary.client))
        return replicator

    handle = build_handler(
        {**env, **extra}, emit=lambda s: lines.append(json.loads(s)), make_replicator=make
    )
    return handle, lines, hooks


def records_for(n: int) -> dict[str, Any]:
    return event(
        stream_record(
            "INSERT", {"pk": {"S": f"k{i}"}}, {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}, seq=i
        )
        for i in range(n)
    )


def test_unprocessed_items_that_recover(env: dict[str, str], ddb_client: Any, replica: str) -> None:
    # every request dropped on the first two calls, every other one on the third
    def drop(request: Request, call: int) -> bool:
        return call <= 2 or (call == 3 and int(pk_of(request)[1:]) % 2 == 0)

    handle, lines, hooks = handler_with(env, lambda c: Unprocessed(c, drop))
    evt = records_for(30)
    assert handle(evt, Context(30_000)) == {"batchItemFailures": []}
    assert len(scan_all(ddb_client, replica)) == 30
    assert hooks[0].calls > 4  # 2 chunks plus retries
    assert lines[0]["RecordsApplied"] == 30


def test_a_write_that_keeps_failing_is_reported_before_the_deadline(
    env: dict[str, str], ddb_client: Any, replica: str, caplog: pytest.LogCaptureFixture
) -> None:
    handle, lines, _ = handler_with(env, lambda c: Unprocessed(c, lambda r, _: pk_of(r) == "k5"))
    evt = records_for(10)
    started = time.monotonic()
    result = handle(evt, Context(2_500))  # minus the 1 s margin: 1.5 s for retries
    elapsed = time.monotonic() - started
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)[5:]
    assert 0.5 < elapsed < 2.5
    stored = {i["pk"]["S"] for i in scan_all(ddb_client, replica)}
    assert "k5" not in stored
    assert {f"k{i}" for i in range(5)} <= stored
    assert lines[0]["RecordsApplied"] == 5
    assert lines[0]["RecordsFailed"] == 5
    assert "BatchWriteItem" in lines[0]["failure"]
    assert lines[0]["unwritten_keys"] == ['{"pk":{"S":"k5"}}']
    failed = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage().split(" and ")[0] for r in failed] == [f"record {ids(evt)[5]}"]


def test_no_time_left_writes_nothing_and_fails_every_record(
    env: dict[str, str], ddb_client: Any, replica: str
) -> None:
    handle, _, _ = handler_with(env, lambda c: Unprocessed(c, lambda r, _: False))
    evt = records_for(3)
    result = handle(evt, Context(500))  # less than the 1 s margin
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)
    assert scan_all(ddb_client, replica) == []


class Throttled:
    """Whole-request ProvisionedThroughputExceededException on the first ``times`` calls of
    ``operation`` (botocore's own retries are not involved: the request never leaves)."""

    def __init__(self, client: Any, operation: str, times: int):
        self.times = times
        self.calls = 0
        client.meta.events.register(f"before-call.dynamodb.{operation}", self.refuse)

    def refuse(self, **_: Any) -> Any:
        self.calls += 1
        if self.calls <= self.times:
            error = {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
            return FakeHttp(400), {"Error": error, "ResponseMetadata": {}}
        return None


def test_whole_request_throttling_is_retried(
    env: dict[str, str], ddb_client: Any, replica: str
) -> None:
    handle, lines, hooks = handler_with(env, lambda c: Throttled(c, "BatchWriteItem", 2))
    assert handle(records_for(3), Context(30_000)) == {"batchItemFailures": []}
    assert hooks[0].calls == 3  # two throttled attempts, then the write
    assert (lines[0]["requests"], lines[0]["retried_errors"]) == (3, 2)
    assert len(scan_all(ddb_client, replica)) == 3


def test_whole_request_throttling_until_the_deadline_is_reported_not_raised(
    env: dict[str, str], ddb_client: Any, replica: str
) -> None:
    handle, lines, hooks = handler_with(env, lambda c: Throttled(c, "BatchWriteItem", 10**6))
    evt = records_for(3)
    result = handle(evt, Context(2_500))  # minus the 1 s margin: 1.5 s for retries
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)
    assert "ProvisionedThroughputExceededException" in lines[0]["failure"]
    # Lambda's retry of the same batch then succeeds
    hooks[0].times = 0
    assert handle(evt, Context(2_500)) == {"batchItemFailures": []}
    assert len(scan_all(ddb_client, replica)) == 3


class UnprocessedKeys:
    """The first ``times`` BatchGetItem calls read nothing and return every key unprocessed."""

    def __init__(self, client: Any, times: int):
        self.times = times
        self.calls = 0
        client.meta.events.register("before-parameter-build.dynamodb.BatchGetItem", self.keep)
        client.meta.events.register("before-call.dynamodb.BatchGetItem", self.refuse)

    def keep(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["asked"] = params["RequestItems"]

    def refuse(self, context: dict[str, Any], **_: Any) -> Any:
        self.calls += 1
        if self.calls <= self.times:
            return FakeHttp(), {"Responses": {}, "UnprocessedKeys": context["asked"]}
        return None


def test_fetch_mode_retries_unprocessed_keys(
    env: dict[str, str], ddb_client: Any, replica: str, make_table: Callable[..., str]
) -> None:
    primary = make_table()
    items = [{"pk": {"S": f"k{i}"}, "v": {"N": str(i * 10)}} for i in range(4)]
    put_items(ddb_client, primary, items)
    handle, _, hooks = handler_with(
        env,
        lambda c: UnprocessedKeys(c, 2),
        REPLICATION_MODE="fetch",
        PRIMARY_TABLE=primary,
        PRIMARY_ENDPOINT_URL=env["REPLICA_ENDPOINT_URL"],
    )
    evt = records_for(4)
    arn = f"arn:aws:dynamodb:ddblocal:000000000000:table/{primary}/stream/2026-01-01T00:00:00.000"
    for record in evt["Records"]:  # the records of the primary's own stream
        record["eventSourceARN"] = arn
    assert handle(evt, Context(30_000)) == {"batchItemFailures": []}
    assert sorted(scan_all(ddb_client, replica), key=lambda i: i["pk"]["S"]) == items
    assert hooks[1].calls == 3  # the primary's client: two refusals, then the read


def test_concurrent_groups_report_from_the_earliest_failed_key(
    env: dict[str, str], ddb_client: Any, replica: str
) -> None:
    # 100 keys = 4 groups of 25 written 4 at a time; k60 (third group) is always unprocessed
    handle, lines, _ = handler_with(env, lambda c: Unprocessed(c, lambda r, _: pk_of(r) == "k60"))
    evt = records_for(100)
    result = handle(evt, Context(2_500))
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)[60:]
    stored = {i["pk"]["S"] for i in scan_all(ddb_client, replica)}
    assert {f"k{i}" for i in range(60)} <= stored
    assert "k60" not in stored
    assert lines[0]["RecordsApplied"] == 60


def test_a_kinesis_retry_never_replays_a_stale_duplicate_alone(
    env: dict[str, str], ddb_client: Any, replica: str
) -> None:
    """a@t2000 (newest), b (keeps failing), a@t1000 (stale duplicate): the retry must start at
    a's first record, so the newest change of a wins again in the retried batch."""
    from lambda_events import kds_payload, kinesis_record

    def rec(seq: int, pk: str, value: str, created: int) -> dict[str, Any]:
        image = {"pk": {"S": pk}, "v": {"S": value}}
        return kinesis_record(
            kds_payload("MODIFY", {"pk": {"S": pk}}, image, created=created), seq=seq
        )

    evt = event([rec(1, "a", "new", 2000), rec(2, "b", "b", 1500), rec(3, "a", "stale", 1000)])
    failing = {"b"}
    handle, _, _ = handler_with(env, lambda c: Unprocessed(c, lambda r, _: pk_of(r) in failing))
    result = handle(evt, Context(2_500))
    failed = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    assert failed == ids(evt)  # from a's first record, not from b's

    failing.clear()  # Lambda retries from the first failed record, and b now lands
    retry = {"Records": evt["Records"][ids(evt).index(failed[0]) :]}
    assert handle(retry, Context(2_500)) == {"batchItemFailures": []}
    got = {i["pk"]["S"]: i["v"]["S"] for i in scan_all(ddb_client, replica)}
    assert got == {"a": "new", "b": "b"}


# --- partial-batch answers: every record from the first unapplied one on --------------------


def stubbed_throttling(client: Any) -> Stubber:
    """Every BatchWriteItem answered with a throttling error (100% throttling), via Stubber:
    stubbed answers skip botocore's own retries, so the handler's bounded retries are tested."""
    stubber = Stubber(client)
    for _ in range(1_000):
        stubber.add_client_error(
            "batch_write_item",
            service_error_code="ThrottlingException",
            service_message="Rate of requests exceeds the allowed throughput.",
            http_status_code=400,
        )
    stubber.activate()
    return stubber


def rewrites_first_key(n: int, again_at: int) -> dict[str, Any]:
    """``n`` records of distinct keys, except that record ``again_at`` changes k0 again."""

    def rec(i: int) -> dict[str, Any]:
        pk = "k0" if i == again_at else f"k{i}"
        return stream_record(
            "MODIFY", {"pk": {"S": pk}}, {"pk": {"S": pk}, "v": {"N": str(i)}}, seq=i
        )

    return event(rec(i) for i in range(n))


@pytest.mark.moto
@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_six_records_whose_first_write_fails_are_all_reported(
    env: dict[str, str], replica: str, concurrency: str
) -> None:
    evt = rewrites_first_key(6, again_at=3)  # k0 is written once, as of record 3
    handle, lines, _ = handler_with(env, stubbed_throttling, WRITE_CONCURRENCY=concurrency)
    result = handle(evt, Context(30_000))
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)
    assert lines[0]["RecordsApplied"] == 0
    assert lines[0]["RecordsFailed"] == 6


@pytest.mark.moto
def test_full_throttling_reports_all_200_records(env: dict[str, str], replica: str) -> None:
    evt = rewrites_first_key(200, again_at=150)  # k0's write sits in the 6th group of 25
    handle, lines, _ = handler_with(env, stubbed_throttling, WRITE_CONCURRENCY="4")
    result = handle(evt, Context(30_000))
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)
    assert lines[0]["RecordsFailed"] == 200


@pytest.mark.moto
def test_a_later_groups_failure_reports_from_its_keys_first_record(
    env: dict[str, str], ddb_client: Any, replica: str
) -> None:
    # 60 keys in 3 groups written 3 at a time; k0 changes again at record 55 (third group),
    # and that write keeps coming back unprocessed: record 0 is not applied either
    evt = rewrites_first_key(60, again_at=55)
    failing = {"k0"}
    handle, lines, _ = handler_with(
        env, lambda c: Unprocessed(c, lambda r, _: pk_of(r) in failing), WRITE_CONCURRENCY="3"
    )
    result = handle(evt, Context(2_500))
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)
    stored = {i["pk"]["S"] for i in scan_all(ddb_client, replica)}
    assert "k0" not in stored
    assert lines[0]["RecordsApplied"] == 0

    failing.clear()  # Lambda's retry of the whole batch lands k0 as of record 55
    assert handle(evt, Context(30_000)) == {"batchItemFailures": []}
    got = {i["pk"]["S"]: i["v"]["N"] for i in scan_all(ddb_client, replica)}
    assert got["k0"] == "55"
    assert len(got) == 59


@pytest.mark.moto
def test_fetch_mode_failed_chunk_holds_back_the_keys_of_later_chunks(
    env: dict[str, str], ddb_client: Any, replica: str, make_table: Callable[..., str]
) -> None:
    # fetch mode reads 100 keys, then writes them 25 at a time: k0 (changed at records 0 and
    # 29) sits in the second write; the first write fails, so the second is never sent
    primary = make_table()
    put_items(ddb_client, primary, [{"pk": {"S": f"k{i}"}, "v": {"N": "1"}} for i in range(29)])
    evt = rewrites_first_key(30, again_at=29)
    arn = f"arn:aws:dynamodb:ddblocal:000000000000:table/{primary}/stream/2026-01-01T00:00:00.000"
    for record in evt["Records"]:
        record["eventSourceARN"] = arn
    handle, _, _ = handler_with(
        env,
        lambda c: Throttled(c, "BatchWriteItem", 10**6),
        REPLICATION_MODE="fetch",
        PRIMARY_TABLE=primary,
        PRIMARY_ENDPOINT_URL=env["REPLICA_ENDPOINT_URL"],
    )
    result = handle(evt, Context(2_500))  # throttled until the deadline
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ids(evt)
    assert scan_all(ddb_client, replica) == []
