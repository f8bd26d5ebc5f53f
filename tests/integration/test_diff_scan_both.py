"""diff-tables ``--method scan-both``: each table read once, items matched by key.

The results must equal the ``lookup`` method's whatever order or segments a server returns the
items in; scan order is disturbed by event hooks on the replica's client (the pages' items
reversed, the table's two halves read in swapped order, or another segment's items served),
which no real server does on demand.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from dynamodb_replicator.diff import DiffOptions, run_diff
from dynamodb_replicator.diff.passes import Finder
from dynamodb_replicator.diff.segment import SegmentJob, make_sides
from dynamodb_replicator.dynamo import TableSpec, describe_table, parse_table_address
from helpers import Endpoint, make_client, put_items, scan_all

N = 60


def item(i: int, **attrs: Any) -> dict[str, Any]:
    return {"pk": {"S": f"k{i:03d}"}, "n": {"N": str(i)}, **attrs}


def spec(ddb: Endpoint, table: str) -> TableSpec:
    return TableSpec(parse_table_address(f"{ddb.url}/{table}"))


def outcome(result: Any) -> list[tuple[str, str]]:
    return sorted((d.kind.value, d.key["pk"]["S"]) for d in result.discrepancies)


@pytest.fixture
def damaged(ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]) -> tuple[str, str]:
    """Tables of N items, the replica written in another order, with 2 missing, 2 different
    and 2 extraneous items."""
    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, [item(i) for i in range(N)])
    copy = [item(i) for i in range(2, N)]
    copy[5] = item(7, n={"N": "7.0"}, extra={"S": "x"})  # different (a new attribute)
    copy[6] = item(8, n={"N": "9"})  # different value
    copy += [item(1000), item(1001)]  # extraneous
    random.Random(7).shuffle(copy)
    put_items(ddb_client, replica, copy)
    return primary, replica


EXPECTED = [
    ("different", "k007"),
    ("different", "k008"),
    ("extraneous", "k1000"),
    ("extraneous", "k1001"),
    ("missing", "k000"),
    ("missing", "k001"),
]

FAST = DiffOptions(recheck_delay=0)


@pytest.mark.moto
@pytest.mark.parametrize("segments", [1, 3])
def test_scan_both_finds_what_lookup_finds(
    ddb: Endpoint, damaged: tuple[str, str], segments: int
) -> None:
    p, r = (spec(ddb, t) for t in damaged)
    both = run_diff(p, r, FAST, total_segments=segments)
    lookup = run_diff(p, r, replace(FAST, method="lookup"), total_segments=segments)
    assert outcome(both) == outcome(lookup) == EXPECTED
    assert both.stats.compared == lookup.stats.compared == N + 2
    assert both.stats.scanned_primary == N
    assert both.stats.scanned_replica == N
    # Each table is read once: fewer units (moto: fewer requests) than scan + batch get.
    assert 0 < both.stats.read_units < lookup.stats.read_units
    assert both.stats.read_units_per_item < lookup.stats.read_units_per_item


@pytest.mark.moto
def test_identical_tables_agree(ddb: Endpoint, ddb_client: Any, make_table: Any) -> None:
    primary, replica = make_table(), make_table()
    items = [item(i, b={"B": bytes([i])}) for i in range(N)]
    put_items(ddb_client, primary, items)
    put_items(ddb_client, replica, list(reversed(items)))
    result = run_diff(spec(ddb, primary), spec(ddb, replica), FAST, total_segments=2)
    assert result.agree
    assert result.discrepancies == ()
    assert result.stats.compared == N
    assert result.stats.rechecked == 0


def _finder(
    ddb: Endpoint,
    tables: tuple[str, str],
    options: DiffOptions,
    disturb: Callable[[Any], None],
    segment: int | None = None,
    total: int | None = None,
) -> Finder:
    primary, replica = (spec(ddb, t) for t in tables)
    client = make_client("dynamodb", ddb)
    schema = describe_table(client, tables[0], tables[0]).key_schema
    job = SegmentJob(primary, replica, schema, options)
    replica_client = replica.client()
    disturb(replica_client)
    return Finder(
        make_sides(job, primary.client(), replica_client),
        segment=segment,
        total_segments=total,
    )


def _reverse_pages(client: Any) -> None:
    def reverse(parsed: Any, **_: Any) -> None:
        parsed["Items"] = list(reversed(parsed.get("Items", [])))

    client.meta.events.register("after-call.dynamodb.Scan", reverse)


def _halves_swapped(middle: str) -> Callable[[Any], None]:
    """The replica's scan reads the keys after ``middle`` first, then those up to it (moto
    scans in key order): whole pages out of order, as two tables a server orders apart."""
    wrap = {"pk": {"S": "~wrap"}}

    def disturb(client: Any) -> None:
        phase = {"now": "second half"}

        def start(params: Any, **_: Any) -> None:
            if phase["now"] == "second half" and "ExclusiveStartKey" not in params:
                params["ExclusiveStartKey"] = {"pk": {"S": middle}}
            elif params.get("ExclusiveStartKey") == wrap:
                del params["ExclusiveStartKey"]

        def page(parsed: Any, **_: Any) -> None:
            if phase["now"] == "second half" and "LastEvaluatedKey" not in parsed:
                phase["now"] = "first half"
                parsed["LastEvaluatedKey"] = wrap
            elif phase["now"] == "first half":
                items = parsed.get("Items", [])
                kept = [i for i in items if i["pk"]["S"] <= middle]
                if len(kept) < len(items) or "LastEvaluatedKey" not in parsed:
                    phase["now"] = "done"
                    parsed["Items"] = kept
                    parsed.pop("LastEvaluatedKey", None)

        client.meta.events.register("provide-client-params.dynamodb.Scan", start)
        client.meta.events.register("after-call.dynamodb.Scan", page)

    return disturb


def _other_segment(total: int) -> Callable[[Any], None]:
    def disturb(client: Any) -> None:
        def shift(params: Any, **_: Any) -> None:
            if "Segment" in params:
                params["Segment"] = (params["Segment"] + 1) % total

        client.meta.events.register("provide-client-params.dynamodb.Scan", shift)

    return disturb


@pytest.mark.moto
def test_result_does_not_depend_on_scan_order(ddb: Endpoint, damaged: tuple[str, str]) -> None:
    """A tiny window, the replica's pages reversed and small: evictions, never a wrong result."""
    options = replace(FAST, window=3, fallback_share=1.0, page_size=7)
    finder = _finder(ddb, damaged, options, _reverse_pages)
    found = finder.run()
    assert sorted((d.kind.value, d.key["pk"]["S"]) for d in found) == EXPECTED
    assert finder.sides.tally.get("compared") == N + 2
    assert finder.sides.tally.get("fallbacks") == 0


@pytest.mark.moto
def test_result_does_not_depend_on_segment_assignment(
    ddb: Endpoint, damaged: tuple[str, str]
) -> None:
    """The replica's segment k serves segment k+1's items: every segment still adds up."""
    total = 3
    found = []
    for segment in range(total):
        finder = _finder(ddb, damaged, FAST, _other_segment(total), segment, total)
        found.extend((d.kind.value, d.key["pk"]["S"]) for d in finder.run())
    assert sorted(found) == EXPECTED


@pytest.mark.moto
def test_a_page_larger_than_the_window_waits_whole_for_its_twin(
    ddb: Endpoint, ddb_client: Any, make_table: Any
) -> None:
    """Pages of 10 items against a window of 2, in the same order on both sides (within each
    page reversed): every item is matched by the scans, none is looked up."""
    primary, replica = make_table(), make_table()
    items = [item(i) for i in range(N)]
    put_items(ddb_client, primary, items)
    put_items(ddb_client, replica, items)
    options = replace(FAST, window=2, fallback_share=0.1, page_size=10)
    gets: list[str] = []

    def count(client: Any) -> None:
        _reverse_pages(client)
        client.meta.events.register(
            "before-call.dynamodb.BatchGetItem", lambda **_: gets.append("get")
        )

    finder = _finder(ddb, (primary, replica), options, count)
    assert finder.run() == []
    assert finder.sides.tally.get("compared") == N
    assert finder.sides.tally.get("fallbacks") == 0
    assert gets == []


@pytest.mark.moto(
    only=True,
    reason="the replica's scan is split at a key, which relies on moto scanning in key order",
)
def test_window_overflow_falls_back_to_lookup(ddb: Endpoint, damaged: tuple[str, str]) -> None:
    options = replace(FAST, window=2, fallback_share=0.1, page_size=10)
    finder = _finder(ddb, damaged, options, _halves_swapped("k029"))
    found = finder.run()
    assert sorted((d.kind.value, d.key["pk"]["S"]) for d in found) == EXPECTED
    tally = finder.sides.tally
    assert tally.get("fallbacks") == 1
    assert tally.get("compared") == N + 2  # counted once, by the lookup passes
    assert tally.get("scanned_primary") == N


@pytest.mark.moto
def test_scan_both_repairs_the_replica(
    ddb: Endpoint, ddb_client: Any, damaged: tuple[str, str]
) -> None:
    p, r = (spec(ddb, t) for t in damaged)
    repaired = run_diff(p, r, replace(FAST, repair=True), total_segments=2)
    assert outcome(repaired) == EXPECTED
    assert repaired.stats.repaired == len(EXPECTED)
    after = run_diff(p, r, FAST, total_segments=2)
    assert after.agree
    key = lambda i: i["pk"]["S"]  # noqa: E731
    assert sorted(scan_all(ddb_client, damaged[1]), key=key) == sorted(
        scan_all(ddb_client, damaged[0]), key=key
    )


@pytest.mark.moto
def test_method_option_on_the_command_line(ddb: Endpoint, damaged: tuple[str, str]) -> None:
    from click.testing import CliRunner

    from dynamodb_replicator.cli.app import cli

    for method in ("scan-both", "lookup"):
        result = CliRunner().invoke(
            cli,
            [
                "diff-tables",
                f"us-east-1/{damaged[0]}",
                f"us-east-1/{damaged[1]}",
                "--endpoint-url",
                ddb.url,
                "--recheck-delay",
                "0",
                "--method",
                method,
            ],
        )
        assert result.exit_code == 1, result.output
        assert len(result.stdout.splitlines()) == len(EXPECTED)
        assert f"keys compared {N + 2}, read units per key compared" in result.stderr
    bad = CliRunner().invoke(
        cli, ["diff-tables", "us-east-1/a", "us-east-1/b", "--method", "guess"]
    )
    assert bad.exit_code == 2


def _starved_and_shifted(total: int) -> Callable[[Any], None]:
    """Replica scans serve another segment (so keys go unmatched and are looked up) and every
    batch get of the replica leaves its keys unprocessed."""

    def disturb(client: Any) -> None:
        _other_segment(total)(client)

        def starve(parsed: Any, **_: Any) -> None:
            for table, items in list(parsed.get("Responses", {}).items()):
                if items:
                    keys = [{"pk": i["pk"]} for i in items]
                    parsed.setdefault("UnprocessedKeys", {})[table] = {"Keys": keys}
                parsed["Responses"][table] = []

        client.meta.events.register("after-call.dynamodb.BatchGetItem", starve)

    return disturb


@pytest.mark.moto
def test_exhausted_lookup_retries_name_the_keys(ddb: Endpoint, damaged: tuple[str, str]) -> None:
    """Keys the windows leave unmatched are read with bounded retries that name what is left."""
    from dynamodb_replicator.errors import RetriesExhaustedError

    total = 2
    options = replace(FAST, max_retries=1)

    def run_all() -> None:
        for segment in range(total):
            _finder(ddb, damaged, options, _starved_and_shifted(total), segment, total).run()

    with pytest.raises(RetriesExhaustedError) as caught:
        run_all()
    assert caught.value.keys
    assert all(key["pk"]["S"].startswith("k") for key in caught.value.keys)
