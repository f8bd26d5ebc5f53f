"""The table access layer against real servers: scans, batch reads and writes, leftovers, errors.

Unprocessed items and keys are made real with botocore event hooks on a real client: a
``before-parameter-build`` hook removes some requests before they are sent (so the server never
sees them) and an ``after-call`` hook returns exactly those as leftovers, passed between the two
hooks through the request context.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from dynamodb_replicator.dynamo import (
    Backoff,
    Condition,
    Delete,
    Put,
    RateLimiter,
    TableSpec,
    batch_get,
    batch_write,
    check_compatible,
    conditional_delete,
    conditional_put,
    describe_table,
    parse_table_address,
    scan_segment,
)
from dynamodb_replicator.errors import (
    ConfigError,
    IncompleteBatchError,
    RetriesExhaustedError,
    TableNotFoundError,
    UsageError,
)
from dynamodb_replicator.items import KeySchema, items_equal, key_identity
from faults import inject_leftovers
from helpers import Endpoint, make_client, put_items, scan_all

SCHEMA = KeySchema("pk", "S")


def _item(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"k{i:05d}"}, "n": {"N": "12345678901234567890123456789012345678"}}


def _key(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"k{i:05d}"}}


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _pk_of_write(request: dict[str, Any]) -> str:
    body = request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]
    return str(body["pk"]["S"])


# --- scans ------------------------------------------------------------------------------------


@pytest.mark.moto
@pytest.mark.dynalite
def test_parallel_scan_of_four_segments_returns_every_item_once(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    put_items(ddb_client, table, [_item(i) for i in range(600)])
    seen: list[str] = []
    for segment in range(4):
        for page in scan_segment(ddb_client, table, segment=segment, total_segments=4):
            seen.extend(i["pk"]["S"] for i in page.items)
    assert len(seen) == 600
    assert set(seen) == {f"k{i:05d}" for i in range(600)}


@pytest.mark.dynalite
def test_scan_resumes_from_last_evaluated_key(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    put_items(ddb_client, table, [_item(i) for i in range(50)])
    pages = scan_segment(ddb_client, table, page_size=20, consistent=True)
    first = next(pages)
    assert first.last_key is not None
    assert len(first.items) == 20
    rest = [
        i for page in scan_segment(ddb_client, table, start_key=first.last_key) for i in page.items
    ]
    assert len(first.items) + len(rest) == 50
    assert first.consumed > 0


# --- batch write ------------------------------------------------------------------------------


@pytest.mark.dynalite
def test_batch_write_of_ten_thousand_items_lands_completely(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    result = batch_write(ddb_client, table, [Put(_item(i)) for i in range(10_000)], SCHEMA)
    assert result.written == 10_000
    stored = scan_all(ddb_client, table)
    assert len(stored) == 10_000
    assert all(i["n"] == {"N": "12345678901234567890123456789012345678"} for i in stored)


@pytest.mark.moto
@pytest.mark.dynalite
def test_put_then_delete_of_one_key_collapses_to_the_last(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    requests = [Put(_item(1)), Put(_item(2)), Delete(_key(1)), Put(_item(3))]
    result = batch_write(ddb_client, table, requests, SCHEMA)
    assert result.written == 3
    assert sorted(i["pk"]["S"] for i in scan_all(ddb_client, table)) == ["k00002", "k00003"]


@pytest.mark.dynalite(
    only=True, reason="moto returns consumed capacity even to requests that do not ask for it"
)
def test_consumed_capacity_is_asked_for_only_when_counted_or_limited(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    counted = batch_write(ddb_client, table, [Put(_item(i)) for i in range(30)], SCHEMA)
    uncounted = batch_write(
        ddb_client, table, [Put(_item(i)) for i in range(30, 60)], SCHEMA, capacity=False
    )
    limiter = RateLimiter(1_000_000.0)
    limited = batch_write(
        ddb_client,
        table,
        [Put(_item(i)) for i in range(60, 90)],
        SCHEMA,
        capacity=False,
        limiter=limiter,
    )
    assert (counted.written, uncounted.written, limited.written) == (30, 30, 30)
    assert counted.consumed > 0
    assert uncounted.consumed == 0
    assert limited.consumed > 0
    assert limiter.consumed == limited.consumed
    assert len(scan_all(ddb_client, table)) == 90


@pytest.mark.dynalite
def test_unprocessed_items_are_retried_with_backoff_and_land(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    # The first three calls leave every other request unprocessed.
    stats = inject_leftovers(
        ddb_client,
        "BatchWriteItem",
        lambda r, call: call <= 3 and int(_pk_of_write(r)[1:]) % 2 == 0,
    )
    sleep = FakeSleep()
    result = batch_write(
        ddb_client, table, [Put(_item(i)) for i in range(60)], SCHEMA, backoff=Backoff(sleep=sleep)
    )
    assert stats["dropped"] > 0
    assert result.written == 60
    assert result.retries >= 1
    assert sleep.calls
    assert all(0 <= s <= 5.0 for s in sleep.calls)
    assert len(scan_all(ddb_client, table)) == 60


@pytest.mark.dynalite
def test_exhausted_write_retries_name_exactly_the_keys_not_written(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    stuck = {f"k{i:05d}" for i in (3, 10, 17)}
    inject_leftovers(ddb_client, "BatchWriteItem", lambda r, _call: _pk_of_write(r) in stuck)
    sleep = FakeSleep()
    with pytest.raises(RetriesExhaustedError) as info:
        batch_write(
            ddb_client,
            table,
            [Put(_item(i)) for i in range(60)],
            SCHEMA,
            backoff=Backoff(max_attempts=4, sleep=sleep),
        )
    assert len(sleep.calls) == 4
    written = {i["pk"]["S"] for i in scan_all(ddb_client, table)}
    not_written = {f"k{i:05d}" for i in range(60)} - written
    named = {k["pk"]["S"] for k in info.value.keys}
    assert named == not_written
    assert stuck <= named
    assert all(set(k) == {"pk"} for k in info.value.keys)  # keys, not whole items


def test_deadline_stops_retries_early(ddb_client: Any, make_table: Callable[..., str]) -> None:
    table = make_table()
    inject_leftovers(ddb_client, "BatchWriteItem", lambda r, _call: _pk_of_write(r) == "k00001")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    policy = Backoff(
        max_attempts=1000,
        base=0.5,
        cap=0.5,
        deadline=2.0,
        clock=lambda: now[0],
        sleep=sleep,
        rng=lambda: 1.0,
    )
    with pytest.raises(RetriesExhaustedError) as info:
        batch_write(ddb_client, table, [Put(_item(i)) for i in range(5)], SCHEMA, backoff=policy)
    assert [k["pk"]["S"] for k in info.value.keys] == ["k00001"]
    assert now[0] <= 2.0


# --- batch get --------------------------------------------------------------------------------


@pytest.mark.moto
@pytest.mark.dynalite
def test_batch_get_collapses_duplicates_and_skips_missing(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    put_items(ddb_client, table, [_item(i) for i in range(250)])
    keys = [_key(i) for i in range(250)] + [_key(5), _key(7)] + [_key(999)]
    result = batch_get(ddb_client, table, keys, SCHEMA, consistent=True)
    assert sorted(i["pk"]["S"] for i in result.items) == [f"k{i:05d}" for i in range(250)]


@pytest.mark.dynalite
def test_unprocessed_keys_are_retried_and_exhaustion_names_them(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    put_items(ddb_client, table, [_item(i) for i in range(30)])
    inject_leftovers(
        ddb_client, "BatchGetItem", lambda k, call: call <= 2 and k["pk"]["S"] < "k00010"
    )
    result = batch_get(
        ddb_client, table, [_key(i) for i in range(30)], SCHEMA, backoff=Backoff(sleep=FakeSleep())
    )
    assert len(result.items) == 30

    stuck_client = make_client("dynamodb", ddb)
    inject_leftovers(stuck_client, "BatchGetItem", lambda k, _call: k["pk"]["S"] == "k00004")
    with pytest.raises(RetriesExhaustedError) as info:
        batch_get(
            stuck_client,
            table,
            [_key(i) for i in range(30)],
            SCHEMA,
            backoff=Backoff(max_attempts=2, sleep=FakeSleep()),
        )
    assert [key_identity(k, SCHEMA) for k in info.value.keys] == [key_identity(_key(4), SCHEMA)]


# --- lossless values --------------------------------------------------------------------------


@pytest.mark.moto
@pytest.mark.dynalite
def test_values_survive_write_and_read_byte_for_byte(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    big = os.urandom(390 * 1024)
    item = {
        "pk": {"S": "ünïcode-🦆"},
        "n": {"N": "-99999999999999999999999999999999999999"},
        "tiny": {"N": "0.00000000000000000000000000000000000000000000000000000000000000000001"},
        "b": {"B": big},
        "empty": {"S": ""},
        "m": {"M": {"b": {"B": b"\x00\x01"}, "l": {"L": [{"BS": [b"\x02", b"\x03"]}]}}},
    }
    batch_write(ddb_client, table, [Put(item)], SCHEMA)
    got = batch_get(ddb_client, table, [{"pk": item["pk"]}], SCHEMA, consistent=True).items
    assert got == [item]


@pytest.mark.moto
@pytest.mark.dynalite
def test_numbers_keep_their_exact_value_in_any_spelling(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    item = {"pk": {"S": "n"}, "n": {"N": "-9.9999999999999999999999999999999999999E+125"}}
    batch_write(ddb_client, table, [Put(item)], SCHEMA)
    (got,) = batch_get(ddb_client, table, [{"pk": item["pk"]}], SCHEMA, consistent=True).items
    assert items_equal(got, item)  # servers may change the spelling; the value is exact


# --- conditional writes -----------------------------------------------------------------------


@pytest.mark.moto
def test_conditional_put_reports_a_failed_condition_with_the_old_item(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    absent = Condition("attribute_not_exists(#k)", {"#k": "pk"}, {})
    first = conditional_put(ddb_client, table, _item(1), absent)
    assert first.applied
    assert first.old_item is None
    second = conditional_put(ddb_client, table, {**_item(1), "x": {"S": "new"}}, absent)
    assert not second.applied
    assert second.old_item == _item(1)
    gone = conditional_delete(
        ddb_client, table, _key(1), Condition("#n = :n", {"#n": "n"}, {":n": _item(1)["n"]})
    )
    assert gone.applied
    assert gone.old_item == _item(1)


# --- tables and clients -----------------------------------------------------------------------


def test_describe_missing_table_and_schema_checks(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    with pytest.raises(TableNotFoundError, match="not found"):
        describe_table(ddb_client, "no-such-table")
    a, b = make_table(), make_table(hash_key=("id", "N"))
    ai, bi = describe_table(ddb_client, a), describe_table(ddb_client, b)
    assert ai.key_schema == SCHEMA
    pa = parse_table_address(f"{ddb.url}/{a}")
    pb = parse_table_address(f"{ddb.url}/{b}")
    with pytest.raises(ConfigError, match="key schemas differ"):
        check_compatible(pa, pb, ai, bi)
    with pytest.raises(UsageError, match="same table"):
        check_compatible(pa, pa, ai, ai)


def test_table_spec_clients_reach_the_endpoint_and_its_stream(
    ddb: Endpoint, make_table: Callable[..., str]
) -> None:
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    spec = TableSpec(parse_table_address(f"{ddb.url}/{table}", environ={}))
    info = describe_table(spec.client(), table)
    assert info.stream_view_type == "NEW_AND_OLD_IMAGES"
    streams = spec.streams_client(environ={})
    assert streams.meta.endpoint_url == ddb.url
    described = streams.describe_stream(StreamArn=info.stream_arn)
    assert described["StreamDescription"]["StreamStatus"] in {"ENABLED", "ENABLING"}


@pytest.mark.dynalite(
    only=True, reason="moto writes the items of a batch before a rejected one; DynamoDB rejects all"
)
def test_a_permanent_error_names_the_keys_without_claiming_throttling(
    ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table()
    too_big = {"pk": {"S": "k00001"}, "blob": {"B": b"\x00" * (410 * 1024)}}
    requests = [Put(_item(0)), Put(too_big), *[Put(_item(i)) for i in range(2, 40)]]
    with pytest.raises(IncompleteBatchError) as info:
        batch_write(ddb_client, table, requests, SCHEMA, backoff=Backoff(sleep=FakeSleep()))
    assert not isinstance(info.value, RetriesExhaustedError)
    assert info.value.code == "ValidationException"
    written = {i["pk"]["S"] for i in scan_all(ddb_client, table)}
    named = {k["pk"]["S"] for k in info.value.keys}
    assert named == {f"k{i:05d}" for i in range(40)} - written
    assert "k00001" in named
