"""diff-tables end to end through the CLI, against the test server (moto; dynalite too where marked)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dynamodb_replicator.cli.app import cli
from helpers import Endpoint, make_client, put_items, scan_all


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def diff(ddb: Endpoint, primary: str, replica: str, *extra: str) -> Result:
    return run(
        "diff-tables",
        f"us-east-1/{primary}",
        f"us-east-1/{replica}",
        "--endpoint-url",
        ddb.url,
        "--recheck-delay",
        "0",
        *extra,
    )


def item(pk: str, **attrs: Any) -> dict[str, Any]:
    return {"pk": {"S": pk}, **attrs}


@pytest.fixture
def pair(ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]) -> tuple[str, str]:
    """A primary and a replica with one missing, one different and one extraneous item."""
    primary, replica = make_table(), make_table()
    same = [item(f"same-{i}", n={"N": "12345678901234567890123456789012345678"}) for i in range(5)]
    put_items(
        ddb_client,
        primary,
        [
            *same,
            item("miss", v={"S": "x"}),
            item("diff", a={"S": "1"}, b={"N": "2"}, c={"BOOL": True}),
        ],
    )
    put_items(
        ddb_client,
        replica,
        [*same, item("diff", a={"S": "other"}, c={"BOOL": True}), item("extra")],
    )
    return primary, replica


EXPECTED = [
    '[missing] {"pk":{"S":"miss"}}',
    '[different] {"pk":{"S":"diff"}} attributes: a, b',
    '[extraneous] {"pk":{"S":"extra"}}',
]


def test_reports_each_discrepancy_once_and_exits_1(ddb: Endpoint, pair: tuple[str, str]) -> None:
    result = diff(ddb, *pair)
    assert result.exit_code == 1, result.output
    assert sorted(result.stdout.splitlines()) == sorted(EXPECTED)
    assert "discrepancies: missing 1, different 1, extraneous 1" in result.stderr
    assert "scanned: primary 7, replica 7" in result.stderr


def test_jsonl_format(ddb: Endpoint, pair: tuple[str, str]) -> None:
    result = diff(ddb, *pair, "--format", "jsonl", "--ignore-attributes", "b")
    lines = {json.loads(line)["kind"]: json.loads(line) for line in result.stdout.splitlines()}
    assert lines["different"] == {
        "kind": "different",
        "key": {"pk": {"S": "diff"}},
        "attributes": ["a"],
        "action": "none",
    }
    assert lines["missing"]["attributes"] == []
    assert set(lines) == {"missing", "different", "extraneous"}


@pytest.mark.dynalite
def test_repair_then_second_run_agrees(
    ddb: Endpoint, ddb_client: Any, pair: tuple[str, str]
) -> None:
    primary, replica = pair
    result = diff(ddb, primary, replica, "--repair")
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == sorted(f"{line} (repaired)" for line in EXPECTED)
    assert "repaired 3, skipped 0, failed 0" in result.stderr
    again = diff(ddb, primary, replica)
    assert again.exit_code == 0, again.output
    assert again.stdout == ""
    key = lambda i: i["pk"]["S"]  # noqa: E731
    assert sorted(scan_all(ddb_client, replica), key=key) == sorted(
        scan_all(ddb_client, primary), key=key
    )


def test_dry_run_writes_nothing(ddb: Endpoint, ddb_client: Any, pair: tuple[str, str]) -> None:
    before = scan_all(ddb_client, pair[1])
    result = diff(ddb, *pair, "--repair", "--dry-run")
    assert result.exit_code == 1
    assert "would put 2, would delete 1" in result.stderr
    assert len(scan_all(ddb_client, pair[1])) == len(before)


def test_max_deletes_refuses_whole_repair(
    ddb: Endpoint, ddb_client: Any, pair: tuple[str, str]
) -> None:
    before = scan_all(ddb_client, pair[1])
    result = diff(ddb, *pair, "--repair", "--max-deletes", "0")
    assert result.exit_code == 3
    assert "nothing written" in result.stderr
    assert "--max-deletes 0" in result.stderr
    assert sorted(map(str, scan_all(ddb_client, pair[1]))) == sorted(map(str, before))


@pytest.mark.dynalite
def test_segments_separately_find_what_one_run_finds(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, [item(f"k{i}", v={"N": str(i)}) for i in range(40)])
    put_items(ddb_client, replica, [item(f"k{i}", v={"N": str(i % 7)}) for i in range(5, 45)])
    whole = diff(ddb, primary, replica)
    parts: list[str] = []
    for segment in range(3):
        part = diff(ddb, primary, replica, "--segment", str(segment), "--segments", "3")
        assert part.exit_code in (0, 1), part.output
        parts += part.stdout.splitlines()
    assert whole.exit_code == 1
    assert sorted(parts) == sorted(whole.stdout.splitlines())
    assert len(parts) == 5 + 5 + sum(1 for i in range(5, 40) if i != i % 7)


@pytest.mark.dynalite
def test_all_segments_in_worker_processes(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, [item(f"k{i}") for i in range(30)])
    put_items(ddb_client, replica, [item(f"k{i}") for i in range(2, 30)])
    result = diff(ddb, primary, replica, "--segments", "4", "--workers", "2", "--repair")
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == [
        '[missing] {"pk":{"S":"k0"}} (repaired)',
        '[missing] {"pk":{"S":"k1"}} (repaired)',
    ]


def test_backfill_into_empty_cross_region_replica(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    west = make_client("dynamodb", Endpoint(ddb.url, "eu-west-2", ddb.name))
    primary, replica = make_table(), make_table(client=west)
    items = [
        item(
            f"k{i}",
            big={"N": "-9.9999999999999999999999999999999999999E+125"},
            b={"B": b"\x00\xff"},
        )
        for i in range(30)
    ]
    put_items(ddb_client, primary, items)
    put_items(west, replica, [item("k0", newer={"S": "kept"})])
    result = run(
        "diff-tables",
        f"us-east-1/{primary}",
        f"eu-west-2/{replica}",
        "--backfill",
        "--repair",
        "--endpoint-url",
        ddb.url,
    )
    assert result.exit_code == 0, result.output
    assert "written 29, already present 1" in result.stderr
    got = {i["pk"]["S"]: i for i in scan_all(west, replica)}
    assert got["k0"] == item("k0", newer={"S": "kept"})  # put-if-absent kept the newer item
    assert got["k5"]["b"] == {"B": b"\x00\xff"}


@pytest.mark.moto
@pytest.mark.dynalite
def test_canonical_values_are_not_differences(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, [item("a", n={"N": "1.0"}, s={"SS": ["x", "y", "z"]})])
    put_items(ddb_client, replica, [item("a", n={"N": "1"}, s={"SS": ["z", "x", "y"]})])
    result = diff(ddb, primary, replica)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nope", "us-east-1/t-abc"], "malformed table address"),
        (["us-east-1/t-missing-1", "us-east-1/t-missing-2"], "not found"),
        (["us-east-1/t-aaa", "us-east-1/t-aaa"], "the same table was given twice"),
        (["us-east-1/t-aaa", "us-east-1/t-bbb", "--segment", "1"], "--segment needs --segments"),
        (
            ["us-east-1/t-aaa", "us-east-1/t-bbb", "--segment", "3", "--segments", "3"],
            "out of range",
        ),
    ],
)
def test_bad_inputs_exit_2(ddb: Endpoint, args: list[str], needle: str) -> None:
    result = run("diff-tables", *args, "--endpoint-url", ddb.url)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr


def test_key_schemas_differ_exit_2(ddb: Endpoint, make_table: Callable[..., str]) -> None:
    primary, replica = make_table(), make_table(("pk", "N"))
    result = diff(ddb, primary, replica)
    assert result.exit_code == 2
    assert "key schemas differ" in result.stderr


def test_diff_record_and_replicate_record(
    ddb: Endpoint, ddb_client: Any, pair: tuple[str, str]
) -> None:
    primary, replica = pair
    base = [f"us-east-1/{primary}", f"us-east-1/{replica}"]
    shown = run("diff-record", *base, '{"pk": "diff"}', "--endpoint-url", ddb.url)
    assert shown.exit_code == 1, shown.output
    assert "changed: a" in shown.stdout
    assert "only in primary: b" in shown.stdout
    copied = run("replicate-record", *base, '{"pk": {"S": "diff"}}', "--endpoint-url", ddb.url)
    assert copied.exit_code == 0, copied.output
    assert copied.stdout.strip() == 'put {"pk":{"S":"diff"}}'
    removed = run("replicate-record", *base, '{"pk": "extra"}', "--endpoint-url", ddb.url)
    assert removed.stdout.strip() == 'deleted {"pk":{"S":"extra"}}'
    assert run("diff-record", *base, '{"pk": "diff"}', "--endpoint-url", ddb.url).exit_code == 0
    bad = run("diff-record", *base, '{"pk": 5}', "--endpoint-url", ddb.url)
    assert bad.exit_code == 2
    assert "bad KEY" in bad.stderr


def test_backfill_cap_and_overwrite(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    primary, replica = make_table(), make_table()
    put_items(ddb_client, primary, [item(f"k{i}", v={"N": "1"}) for i in range(30)])
    capped = diff(ddb, primary, replica, "--backfill", "--max-writes", "5")
    assert capped.exit_code == 3, capped.output
    assert "--max-writes 5" in capped.stderr
    assert "segment 0 failed" not in capped.stderr  # the cap's own error, with a summary
    assert "written 5" in capped.stderr
    assert len(scan_all(ddb_client, replica)) == 5
    put_items(ddb_client, replica, [item("k0", v={"N": "0"})])
    done = diff(ddb, primary, replica, "--backfill", "--overwrite")
    assert done.exit_code == 0, done.output
    assert "written 30" in done.stderr
    assert diff(ddb, primary, replica).exit_code == 0


def test_ignoring_a_key_attribute_is_refused(ddb: Endpoint, make_table: Callable[..., str]) -> None:
    primary, replica = make_table(("pk", "S"), ("sk", "N")), make_table(("pk", "S"), ("sk", "N"))
    result = diff(ddb, primary, replica, "--ignore-attributes", "s*", "--repair")
    assert result.exit_code == 2, result.output
    assert "matches key attribute(s) sk" in result.stderr
