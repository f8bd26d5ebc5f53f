"""Damaged and foreign backups: refused before writing, stopped mid-restore, reported by
verify-backup; original-tool backups restored; verify-backup --against a live table."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dynamodb_replicator.cli.app import cli
from helpers import Endpoint, put_items, scan_all

ITEMS = [{"pk": {"S": f"k{i:03d}"}, "v": {"N": str(i)}, "b": {"B": bytes([i])}} for i in range(60)]


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def primary(make_table: Callable[..., str], ddb_client: Any) -> str:
    table = make_table()
    put_items(ddb_client, table, ITEMS)
    return table


@pytest.fixture
def job(ddb: Endpoint, primary: str, tmp_path: Path) -> Path:
    """A good two-segment backup in a folder (segments run one after the other, in-process)."""
    result = _run(
        "backup-table", f"{ddb.url}/{primary}", str(tmp_path / "good"),
        "--jobid", "j", "--segments", "2", "--workers", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp_path / "good" / "j"


def _damaged(job: Path, tmp_path: Path, how: str) -> Path:
    copy = tmp_path / how / "j"
    shutil.copytree(job, copy)
    data = copy / "1"
    if how == "truncated":
        data.write_bytes(data.read_bytes()[:-10])
    elif how == "missing-segment":
        data.unlink()
    elif how == "missing-manifest":
        (copy / "1.manifest.json").unlink()
    elif how == "flipped":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        data.write_bytes(bytes(raw))
    return copy


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("truncated", "segment 1: object is"),
        ("missing-segment", "segment 1: manifest present but the data object is missing"),
        ("missing-manifest", "segment 1: no manifest"),
    ],
)
def test_incomplete_backups_are_refused_before_writing(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    job: Path,
    tmp_path: Path,
    how: str,
    problem: str,
) -> None:
    broken = _damaged(job, tmp_path, how)
    target = make_table()
    result = _run("restore-table", str(broken), f"{ddb.url}/{target}")
    assert result.exit_code == 2, result.output
    assert problem in result.output
    assert "nothing was written" in result.output
    assert scan_all(ddb_client, target) == []

    verified = _run("verify-backup", str(broken))
    assert verified.exit_code == 1, verified.output
    assert "backup damaged or incomplete" in verified.output
    assert problem in verified.output


def test_a_flipped_byte(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], job: Path, tmp_path: Path
) -> None:
    broken = _damaged(job, tmp_path, "flipped")
    target = make_table()
    result = _run("restore-table", str(broken), f"{ddb.url}/{target}", "--verify-first")
    assert result.exit_code == 2, result.output
    assert "segment 1" in result.output
    assert scan_all(ddb_client, target) == []

    result = _run("restore-table", str(broken), f"{ddb.url}/{target}")
    assert result.exit_code == 3, result.output
    assert "segment 1" in result.output
    assert "nothing of segment 1 was written" in result.output
    assert (
        len(scan_all(ddb_client, target))
        == json.loads((job / "0.manifest.json").read_text())["item_count"]
    )

    verified = _run("verify-backup", str(broken))
    assert verified.exit_code == 1, verified.output
    assert "segment 1" in verified.output


def test_restore_target_checks(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], job: Path
) -> None:
    other_keys = make_table(("id", "N"))
    result = _run("restore-table", str(job), f"{ddb.url}/{other_keys}", "--create")
    assert result.exit_code == 2
    assert "key" in result.output

    full = make_table()
    put_items(ddb_client, full, ITEMS[:1])
    result = _run("restore-table", str(job), f"{ddb.url}/{full}")
    assert result.exit_code == 2
    assert "already holds items" in result.output
    result = _run("restore-table", str(job), f"{ddb.url}/{full}", "--force")
    assert result.exit_code == 0, result.output
    assert len(scan_all(ddb_client, full)) == len(ITEMS)

    result = _run("restore-table", str(job), f"{ddb.url}/no-such-table-y")
    assert result.exit_code == 2
    assert "not found" in result.output


def test_one_segment_at_a_time_and_one_object(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], job: Path
) -> None:
    target = make_table()
    for segment in ("0", "1"):
        result = _run("restore-table", str(job), f"{ddb.url}/{target}", "--segment", segment)
        assert result.exit_code == 0, result.output
    assert len(scan_all(ddb_client, target)) == len(ITEMS)

    single = make_table()
    result = _run("restore-table", str(job / "1"), f"{ddb.url}/{single}")
    assert result.exit_code == 0, result.output
    expected = json.loads((job / "1.manifest.json").read_text())["item_count"]
    assert len(scan_all(ddb_client, single)) == expected


def _original_line(item: dict[str, Any]) -> str:
    """A line as the original tool wrote it (wire JSON, binary as base64)."""
    text = {
        name: {"B": base64.b64encode(value["B"]).decode()} if "B" in value else value
        for name, value in item.items()
    }
    return json.dumps(text)


def test_original_tool_backup_on_s3(
    ddb: Endpoint,
    ddb_client: Any,
    s3_endpoint: Endpoint,
    s3_client: Any,
    make_bucket: Callable[..., str],
    make_table: Callable[..., str],
) -> None:
    bucket = make_bucket()
    for segment, part in enumerate((ITEMS[:25], ITEMS[25:])):
        body = gzip.compress("".join(_original_line(i) + "\n" for i in part).encode())
        s3_client.put_object(Bucket=bucket, Key=f"some-prefix/old-job/{segment}", Body=body)
    target = make_table()
    s3 = ["--s3-endpoint-url", s3_endpoint.url]
    source = f"s3://{bucket}/some-prefix/old-job"
    result = _run("restore-table", source, f"{ddb.url}/{target}", *s3)
    assert result.exit_code == 0, result.output
    assert "integrity cannot be checked" in result.stderr
    assert "cannot be verified before writing" in result.stderr
    got = sorted(scan_all(ddb_client, target), key=lambda i: i["pk"]["S"])
    assert got == ITEMS

    verified = _run("verify-backup", source, *s3)
    assert verified.exit_code == 0, verified.output
    assert "only gzip and line decoding" in verified.stderr

    result = _run("restore-table", source, f"{ddb.url}/new-table-z", "--create", *s3)
    assert result.exit_code == 2
    assert "--create needs a backup with manifests" in result.output


def test_verify_against_a_live_table(
    ddb: Endpoint, ddb_client: Any, primary: str, job: Path
) -> None:
    table = f"{ddb.url}/{primary}"
    result = _run("verify-backup", str(job), "--against", table)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"scanned: backup {job} 60, table {table}" in result.stderr
    assert "discrepancies: missing 0, different 0, extraneous 0" in result.stderr
    assert "remaining discrepancies: 0" in result.stderr
    assert "backup intact: 60 items in 2 segment(s)" in result.stderr
    assert "agrees with it" in result.stderr
    assert "primary" not in result.stderr.replace(primary, "")

    ddb_client.delete_item(TableName=primary, Key={"pk": {"S": "k001"}})
    ddb_client.put_item(TableName=primary, Item={"pk": {"S": "k002"}, "v": {"N": "-1"}})
    ddb_client.put_item(TableName=primary, Item={"pk": {"S": "new"}})
    result = _run("verify-backup", str(job), "--against", table)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert '[missing] {"pk":{"S":"k001"}}' in lines
    assert '[different] {"pk":{"S":"k002"}} attributes: b, v' in lines
    assert '[extraneous] {"pk":{"S":"new"}}' in lines
    assert len(lines) == 3
    assert "discrepancies: missing 1, different 1, extraneous 1" in result.stderr
    assert "differs from it in 3 item(s)" in result.stderr
    assert "time window" in result.stderr

    jsonl = _run("verify-backup", str(job), "--against", table, "--format", "jsonl", "-q")
    assert jsonl.exit_code == 1, jsonl.output
    assert {json.loads(line)["kind"] for line in jsonl.stdout.splitlines()} == {
        "missing",
        "different",
        "extraneous",
    }
    assert jsonl.stderr == ""


def test_verify_against_a_damaged_backup(
    ddb: Endpoint, primary: str, job: Path, tmp_path: Path
) -> None:
    broken = _damaged(job, tmp_path, "missing-manifest")
    result = _run("verify-backup", str(broken), "--against", f"{ddb.url}/{primary}")
    assert result.exit_code == 1, result.output
    assert "[damaged] segment 1: no manifest" in result.stdout
    assert "backup damaged or incomplete" in result.stderr


def test_verify_against_a_table_keyed_differently_is_refused(
    ddb: Endpoint, make_table: Callable[..., str], job: Path
) -> None:
    other = make_table(("id", "N"))
    result = _run("verify-backup", str(job), "--against", f"{ddb.url}/{other}")
    assert result.exit_code == 2, result.output
    assert "key schemas differ" in result.output


@pytest.mark.parametrize("name", ["_started", "0.manifest.json"])
def test_restoring_a_record_instead_of_data_is_refused(
    ddb: Endpoint, make_table: Callable[..., str], job: Path, name: str
) -> None:
    result = _run("restore-table", str(job / name), f"{ddb.url}/{make_table()}", "--force")
    assert result.exit_code == 2, result.output
    assert "not a data object" in result.output


@pytest.mark.parametrize(
    ("name", "damage", "problem"),
    [
        ("1.manifest.json", "truncate", "1.manifest.json is not valid JSON"),
        ("1.manifest.json", "garbage", "1.manifest.json is not valid JSON"),
        ("1.manifest.json", "empty-object", "1.manifest.json has format version 0"),
        ("_started", "garbage", "_started is not valid JSON"),
        ("_started", "truncate", "_started is not valid JSON"),
        ("_started", "empty-object", "_started lacks a valid field"),
    ],
)
def test_damaged_metadata_is_damage_not_a_crash(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    job: Path,
    tmp_path: Path,
    name: str,
    damage: str,
    problem: str,
) -> None:
    broken = tmp_path / "meta" / "j"
    shutil.copytree(job, broken)
    record = broken / name
    if damage == "truncate":
        record.write_bytes(record.read_bytes()[:40])
    elif damage == "garbage":
        record.write_bytes(b"\x8b\x00 not json at all \xff")
    else:
        record.write_text("{}")

    verified = _run("verify-backup", str(broken))
    assert verified.exit_code == 1, verified.output
    assert "backup damaged or incomplete" in verified.output
    assert problem in verified.output

    target = make_table()
    result = _run("restore-table", str(broken), f"{ddb.url}/{target}")
    assert result.exit_code == 2, result.output
    assert problem in result.output
    assert "nothing was written" in result.output
    assert scan_all(ddb_client, target) == []
    if name == "1.manifest.json":  # the one object, named on its own
        single = _run("restore-table", str(broken / "1"), f"{ddb.url}/{target}")
        assert single.exit_code == 2, single.output
        assert problem in single.output
        assert scan_all(ddb_client, target) == []


def test_verify_lists_every_problem_not_the_first(job: Path, tmp_path: Path) -> None:
    broken = tmp_path / "many" / "j"
    shutil.copytree(job, broken)
    (broken / "_started").write_text("{")
    (broken / "0.manifest.json").write_bytes((broken / "0.manifest.json").read_bytes()[:30])
    data = bytearray((broken / "1").read_bytes())
    data[len(data) // 2] ^= 0x01
    (broken / "1").write_bytes(bytes(data))

    verified = _run("verify-backup", str(broken))
    assert verified.exit_code == 1, verified.output
    assert "_started is not valid JSON" in verified.output
    assert "segment 0: " in verified.output
    assert "0.manifest.json is not valid JSON" in verified.output
    assert "segment 1: " in verified.output


def test_a_job_run_one_segment_per_machine(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], primary: str, tmp_path: Path
) -> None:
    def backup(*extra: str) -> Result:
        return _run("backup-table", f"{ddb.url}/{primary}", str(tmp_path), "--jobid", "m", *extra)

    for segment in ("0", "2"):
        result = backup("--segment", segment, "--segments", "4")
        assert result.exit_code == 0, result.output
    verified = _run("verify-backup", str(tmp_path / "m"))
    assert verified.exit_code == 1, verified.output
    assert "segments present: 0, 2; still missing: 1, 3 (of 4;" in verified.output
    assert "no data object" not in verified.output
    assert verified.output.count("\n") <= 3, verified.output

    refused = backup()
    assert refused.exit_code == 2, refused.output
    assert "in 4 segment(s)" in refused.output
    assert "run this backup under another jobid, e.g. --jobid m-1" in refused.output
    assert "--segments 4" in refused.output

    for segment in ("1", "3"):
        result = backup("--segment", segment, "--segments", "4")
        assert result.exit_code == 0, result.output
    verified = _run("verify-backup", str(tmp_path / "m"))
    assert verified.exit_code == 0, verified.output
    target = make_table()
    for segment in ("0", "1", "2", "3"):
        result = _run(
            "restore-table", str(tmp_path / "m"), f"{ddb.url}/{target}", "--segment", segment
        )
        assert result.exit_code == 0, result.output
    assert len(scan_all(ddb_client, target)) == len(ITEMS)


def test_backup_table_over_damaged_records(
    ddb: Endpoint, primary: str, job: Path, tmp_path: Path
) -> None:
    args = ("backup-table", f"{ddb.url}/{primary}", str(job.parent), "--jobid", "j")
    (job / "1.manifest.json").write_text("{")
    resumed = _run(*args, "--segments", "2", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "segment 0: kept (--resume" in resumed.output
    assert _run("verify-backup", str(job)).exit_code == 0

    (job / "_started").write_text("garbage")
    refused = _run(*args, "--segments", "2")
    assert refused.exit_code == 2, refused.output
    assert "holds an unreadable _started" in refused.output
    assert "--jobid j-2" in refused.output
