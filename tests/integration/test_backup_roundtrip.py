"""Backup -> restore --create round trips, byte for byte, on S3 and in a folder."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dynamodb_replicator.cli.app import cli
from helpers import Endpoint, put_items, scan_all

BIG = "x" * (390 * 1024)


def _items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i in range(40):
        items.append(
            {
                "pk": {"S": f"p{i % 7}"},
                "sk": {"N": str(i)},
                "g": {"S": f"g{i % 3}"},
                "l": {"N": f"{i}.5"},
                "n38": {"N": "9" * 37 + str(i % 10)},
                "neg": {"N": "-0.000000000000000000000000000000000001"},
                "empty": {"S": ""},
                "uni": {"S": "héllo ✓ 🦆 \u2028 \x00"},
                "bin": {"B": bytes([i, 0, 255])},
                "bs": {"BS": [b"\x00", b"\xff" + bytes([i])]},
                "ns": {"NS": ["1", "12345678901234567890123456789012345678"]},
                "ss": {"SS": ["a", "é"]},
                "m": {"M": {"b": {"B": b"\x01\x02"}, "l": {"L": [{"B": b"\xfe"}, {"NULL": True}]}}},
                "t": {"BOOL": i % 2 == 0},
            }
        )
    items.append({"pk": {"S": "big"}, "sk": {"N": "0"}, "blob": {"S": BIG}, "g": {"S": "g0"}})
    return items


@pytest.fixture
def source_table(make_table: Callable[..., str], ddb_client: Any) -> str:
    table = make_table(("pk", "S"), ("sk", "N"), gsi={"by-g": ("g", "S")}, lsi={"by-l": ("l", "N")})
    put_items(ddb_client, table, _items())
    return table


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _sorted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda i: (i["pk"]["S"], int(i["sk"]["N"])))


def _indexes(desc: dict[str, Any], kind: str) -> dict[str, Any]:
    return {i["IndexName"]: i["KeySchema"] for i in desc.get(kind, [])}


def _assert_same(ddb_client: Any, source: str, copy: str) -> None:
    assert _sorted(scan_all(ddb_client, copy)) == _sorted(scan_all(ddb_client, source))
    a = ddb_client.describe_table(TableName=source)["Table"]
    b = ddb_client.describe_table(TableName=copy)["Table"]
    assert b["KeySchema"] == a["KeySchema"]
    assert sorted(b["AttributeDefinitions"], key=str) == sorted(a["AttributeDefinitions"], key=str)
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        assert _indexes(b, kind) == _indexes(a, kind)
        assert _indexes(b, kind)


def test_s3_one_segment_round_trip(
    ddb: Endpoint,
    ddb_client: Any,
    s3_endpoint: Endpoint,
    s3_client: Any,
    make_bucket: Callable[..., str],
    source_table: str,
    new_table: Callable[[], str],
) -> None:
    bucket = make_bucket()
    s3 = ["--s3-endpoint-url", s3_endpoint.url]
    result = _run(
        "backup-table", f"{ddb.url}/{source_table}", f"s3://{bucket}/b", "--jobid", "j", *s3
    )
    assert result.exit_code == 0, result.output
    assert f"jobid j at s3://{bucket}/b/j: 1 segment(s), 41 items" in result.output
    assert re.search(r"\n0 of [1-9]\d* requests failed and were retried \(0\.0%\)", result.output)

    manifest = json.loads(
        s3_client.get_object(Bucket=bucket, Key="b/j/0.manifest.json")["Body"].read()
    )
    assert manifest["item_count"] == 41
    assert manifest["segment"] == 0
    assert manifest["segments"] == 1
    definition = manifest["table_description"]
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    assert [i["IndexName"] for i in definition["GlobalSecondaryIndexes"]] == ["by-g"]
    assert [i["IndexName"] for i in definition["LocalSecondaryIndexes"]] == ["by-l"]
    assert manifest["started_at"] <= manifest["finished_at"]
    for field in ("StreamSpecification", "TimeToLive", "SSE", "TableClass", "Tags"):
        assert field in definition

    copy = new_table()
    result = _run("restore-table", f"s3://{bucket}/b/j", f"{ddb.url}/{copy}", "--create", *s3)
    assert result.exit_code == 0, result.output
    assert "restore complete: 41 items from 1 segment(s)" in result.output
    assert re.search(r"\n0 of [1-9]\d* requests failed and were retried \(0\.0%\)", result.output)
    _assert_same(ddb_client, source_table, copy)


@pytest.mark.slow
@pytest.mark.dynalite
def test_folder_four_segments_round_trip_in_worker_processes(
    ddb: Endpoint,
    ddb_client: Any,
    source_table: str,
    new_table: Callable[[], str],
    tmp_path: Path,
) -> None:
    dest = f"file://{tmp_path}/backups"
    result = _run(
        "backup-table", f"{ddb.url}/{source_table}", dest, "--jobid", "f4",
        "--segments", "4", "--workers", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    job = tmp_path / "backups" / "f4"
    assert sorted(p.name for p in job.iterdir()) == sorted(
        ["_started", *[f"{s}" for s in range(4)], *[f"{s}.manifest.json" for s in range(4)]]
    )
    counts = [json.loads((job / f"{s}.manifest.json").read_text())["item_count"] for s in range(4)]
    assert sum(counts) == 41

    verified = _run("verify-backup", str(job))
    assert verified.exit_code == 0, verified.output
    assert "backup intact: 41 items in 4 segment(s)" in verified.output

    copy = new_table()
    result = _run("restore-table", str(job), f"{ddb.url}/{copy}", "--create", "--workers", "2")
    assert result.exit_code == 0, result.output
    _assert_same(ddb_client, source_table, copy)


def _ttl_status(ddb_client: Any, table: str) -> str:
    return str(
        ddb_client.describe_time_to_live(TableName=table)["TimeToLiveDescription"][
            "TimeToLiveStatus"
        ]
    )


def test_restore_turns_ttl_on_as_backed_up_and_warns_unless_no_ttl(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    new_table: Callable[[], str],
    tmp_path: Path,
) -> None:
    table = make_table()
    ddb_client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    put_items(ddb_client, table, [{"pk": {"S": "old"}, "expires": {"N": "1"}}])
    dest = f"file://{tmp_path}/ttl"
    assert _run("backup-table", f"{ddb.url}/{table}", dest, "--jobid", "t").exit_code == 0

    with_ttl = new_table()
    result = _run("restore-table", f"{dest}/t", f"{ddb.url}/{with_ttl}", "--create")
    assert result.exit_code == 0, result.output
    assert "TTL is on for 'expires'" in result.output
    assert "--no-ttl" in result.output
    assert _ttl_status(ddb_client, with_ttl) in {"ENABLED", "ENABLING"}

    kept = new_table()
    result = _run("restore-table", f"{dest}/t", f"{ddb.url}/{kept}", "--create", "--no-ttl")
    assert result.exit_code == 0, result.output
    assert "TTL is on" not in result.output
    assert _ttl_status(ddb_client, kept) == "DISABLED"
    assert scan_all(ddb_client, kept) == [{"pk": {"S": "old"}, "expires": {"N": "1"}}]
