"""Point-in-time restore and roll-forward on moto: a scripted workload (TTL deletes included), a
scan backup stretched over seconds with writes during it, the change log, then restores to
several seconds compared exactly with a model built from the log's own record times (moto's are
sub-second: floored). Damage, missing objects and gaps refuse inside the window and do not
matter outside it; a backup of the original tool serves as a base with --assume-window."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chaos.proxy import ChaosProxy, FaultPlan
from dynamodb_replicator.backup.layout import Location
from dynamodb_replicator.backup.storage import FolderStorage, StorageSpec
from dynamodb_replicator.changelog.format import decode_object, encode_object
from dynamodb_replicator.changelog.layout import (
    MANIFEST_SUFFIX,
    GapMarker,
    ObjectManifest,
    log_location,
    stream_label,
)
from dynamodb_replicator.changelog.reader import read_window
from dynamodb_replicator.changelog.writer import ChangeLogWriter
from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.cli.options import table_spec
from dynamodb_replicator.errors import ConcurrentChangeError
from dynamodb_replicator.items import Item, items_equal
from dynamodb_replicator.pitr.one_key import KeyRestore, restore_key
from helpers import Endpoint, scan_all

ON_MOTO = pytest.mark.parametrize("ddb", ["moto"], indirect=True)
MARGIN = 1
TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
"""The userIdentity of a REMOVE that DynamoDB's TTL made."""


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _put(client: Any, table: str, pk: str, v: int) -> None:
    client.put_item(TableName=table, Item={"pk": {"S": pk}, "v": {"N": str(v)}, "b": {"B": b"\0"}})


def _model(records: list[Any], to_time: int) -> dict[str, Item]:
    """The table at the end of second ``to_time``: every logged write up to it, in log order."""
    state: dict[str, Item] = {}
    for record in records:
        if record.seconds > to_time:
            break
        pk = record.keys["pk"]["S"]
        if record.event_name == "REMOVE":
            state.pop(pk, None)
        else:
            state[pk] = record.new_image
    return state


def _assert_table_is(ddb_client: Any, table: str, want: dict[str, Item]) -> None:
    got = {item["pk"]["S"]: item for item in scan_all(ddb_client, table)}
    assert sorted(got) == sorted(want)
    for pk, item in want.items():
        assert items_equal(got[pk], item), pk


def _log_run(ddb: Endpoint, table: str, logs: Path, checkpoint: Path) -> None:
    """backup-changes until caught up: the stream's new records become objects of the log."""
    done = _cli("backup-changes", f"{ddb.url}/{table}", f"{logs}/", "--quiet", "--until-caught-up",
                "--quiet-seconds", "0.5", "--max-seconds", "60", "--checkpoint", str(checkpoint))  # fmt: skip
    assert done.exit_code == 0, done.output


def _objects(log_dir: Path) -> list[tuple[Path, ObjectManifest]]:
    """Every data object of a log with its manifest, in time order."""
    found = []
    for path in sorted(log_dir.rglob(f"*{MANIFEST_SUFFIX}")):
        manifest = ObjectManifest.from_bytes(path.read_bytes(), str(path))
        found.append((path.with_name(path.name[: -len(MANIFEST_SUFFIX)]), manifest))
    return sorted(found, key=lambda pair: (pair[1].min_seconds, pair[1].first_sequence_number))


def _as_ttl_deletes(log_dir: Path, keys: set[str]) -> int:
    """Make the REMOVEs of ``keys`` TTL deletes, as DynamoDB logs them (moto runs no TTL): the
    record says the service deleted it; each object changed gets its manifest's SHA-256 anew."""
    changed = 0
    for data, manifest in _objects(log_dir):
        records = decode_object(data.read_bytes())
        ttl = [r.event_name == "REMOVE" and r.keys["pk"]["S"] in keys for r in records]
        if not any(ttl):
            continue
        records = [
            dataclasses.replace(r, user_identity=TTL) if t else r
            for r, t in zip(records, ttl, strict=True)
        ]
        encoded = encode_object(records)
        data.write_bytes(encoded.data)
        fixed = dataclasses.replace(manifest, sha256=encoded.sha256, size=len(encoded.data))
        data.with_name(data.name + MANIFEST_SUFFIX).write_bytes(fixed.to_bytes())
        changed += sum(ttl)
    return changed


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _files(job: Path) -> dict[str, bytes]:
    """A backup job's objects by name, as stored."""
    return {path.name: path.read_bytes() for path in sorted(job.iterdir()) if path.is_file()}


def _lines(files: dict[str, bytes]) -> set[bytes]:
    """Every item line of a backup job's data objects."""
    return {
        line
        for name, data in files.items()
        if name.isdigit()
        for line in gzip.decompress(data).splitlines()
    }


def _window(job: Path) -> tuple[int, int]:
    manifests = [json.loads(p.read_text()) for p in job.glob("*.manifest.json")]
    from dynamodb_replicator.backup.layout import Manifest
    from dynamodb_replicator.pitr import scan_window

    window = scan_window(Manifest.from_bytes(json.dumps(m).encode()) for m in manifests)
    return window.start, window.end


@ON_MOTO
def test_restore_to_time_and_roll_forward_equal_the_model(
    ddb: Endpoint,
    ddb_client: Any,
    make_table: Callable[..., str],
    new_table: Callable[[], str],
    tmp_path: Path,
) -> None:
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    for n in range(30):
        _put(ddb_client, table, f"k{n}", n)
    ddb_client.delete_item(TableName=table, Key={"pk": {"S": "k1"}})
    _put(ddb_client, table, "k2", 200)
    for key in ("ttl1", "ttl2"):
        _put(ddb_client, table, key, 7)
    # Logged on their own, well before the scan: objects that lie wholly before S - m.
    logs, checkpoint = tmp_path / "log", tmp_path / "cp.json"
    _log_run(ddb, table, logs, checkpoint)
    early_done = time.time()
    while time.time() < early_done + MARGIN + 2.2:
        time.sleep(0.1)

    # The base scan, stretched over seconds, with one key changed many times during it. moto
    # does not charge scans by size, so --rate-read cannot stretch it: the proxy delays each
    # Scan call (the first segment's by 1 s, then 2 s, ...: they finish apart).
    backups = tmp_path / "backups"
    slow = FaultPlan(rate=1.0, weights={"latency": 1}, only=frozenset({"Scan"}), latency=(1, 3.5))
    with ChaosProxy(ddb.url, slow) as proxy:
        scan = subprocess.Popen(
            [sys.executable, "-m", "dynamodb_replicator.cli", "backup-table",
             f"{proxy.url}/{table}", f"file://{backups}", "--jobid", "base", "--segments", "3",
             "--quiet"],
            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        n = 0
        while scan.poll() is None:
            n += 1
            _put(ddb_client, table, "hot", n)
            if n == 3:
                ddb_client.delete_item(TableName=table, Key={"pk": {"S": "k3"}})
            if n == 5:  # expires during the scan (a TTL delete, below)
                ddb_client.delete_item(TableName=table, Key={"pk": {"S": "ttl2"}})
            time.sleep(0.05)
        output = scan.communicate()[0]
    assert scan.returncode == 0, output
    start, end = _window(backups / "base")
    assert end - start >= 2
    while time.time() < end + MARGIN + 1:
        time.sleep(0.1)

    # After the scan: a same-second burst on one key, inserts, updates, deletes.
    for v in range(10):
        _put(ddb_client, table, "hot", 1000 + v)
    _put(ddb_client, table, "new", 1)
    ddb_client.delete_item(TableName=table, Key={"pk": {"S": "k4"}})
    time.sleep(1.1)
    ddb_client.delete_item(TableName=table, Key={"pk": {"S": "ttl1"}})  # expires (TTL delete)
    _put(ddb_client, table, "k5", 500)
    ddb_client.delete_item(TableName=table, Key={"pk": {"S": "new"}})
    time.sleep(1.1)
    _put(ddb_client, table, "hot", 2000)
    time.sleep(2.1)  # the log's heartbeat (read time) then lies past the last T tried below

    _log_run(ddb, table, logs, checkpoint)
    arn = ddb_client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    log_dir = Path(log_location(Location("folder", str(logs)), table, stream_label(arn)).prefix)
    assert _as_ttl_deletes(log_dir, {"ttl1", "ttl2"}) == 2
    records = [
        r.record for r in read_window(FolderStorage(Location("folder", str(log_dir)))).records
    ]
    assert sum(r.user_identity == TTL for r in records) == 2
    changes = f"{logs}/{table}"
    base = str(backups / "base")

    assert n >= 10  # the hot key changed all through the scan
    hot = [r.seconds for r in records if r.keys["pk"]["S"] == "hot" and r.seconds > end]
    assert max(hot.count(s) for s in hot) >= 10  # a burst within one second
    seconds = sorted({r.seconds for r in records if r.seconds >= end + MARGIN})
    times = sorted({end + MARGIN, *seconds, seconds[-1] + 1})
    assert len(times) >= 4
    ttl1 = next(
        r.seconds for r in records if r.user_identity == TTL and r.keys["pk"]["S"] == "ttl1"
    )
    assert "ttl1" in _model(records, ttl1 - 1)
    assert "ttl1" not in _model(records, ttl1)
    assert ttl1 in times  # restored as it expired, and before (times[0])
    assert "ttl1" in _model(records, times[0])
    assert "ttl2" not in _model(records, times[0])  # expired during the scan
    for to_time in times:
        target = new_table()
        workers = "2" if to_time == times[-1] else "1"  # the roll-forward's merge workers too
        result = _cli("restore-table", base, f"{ddb.url}/{target}", "--create", "--quiet",
                      "--changes", changes, "--to-time", str(to_time), "--margin", str(MARGIN),
                      "--workers", workers)  # fmt: skip
        assert result.exit_code == 0, (to_time, result.output)
        _assert_table_is(ddb_client, target, _model(records, to_time))

    # Before the scan finished plus the margin: refused before writing.
    for early in (end + MARGIN - 1, start):
        target = new_table()
        result = _cli("restore-table", base, f"{ddb.url}/{target}", "--create", "--quiet",
                      "--changes", changes, "--to-time", str(early), "--margin", str(MARGIN))  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "scan finished plus the margin" in result.output
        assert "use the base" not in result.output  # no other base under the prefix serves
    dry = _cli("restore-table", base, f"{ddb.url}/not-written", "--dry-run", "--quiet", "--changes", changes,
               "--to-time", str(times[0]), "--margin", str(MARGIN))  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert "nothing written" in dry.output

    # roll-forward, then restore, equals restore --to-time; a chain of two equals one.
    first, second = times[1], times[-1]
    rolled = _cli("roll-forward", base, f"{tmp_path}/rolled", "--changes", changes, "--to-time",
                  str(first), "--margin", str(MARGIN), "--jobid", "at1", "--quiet")  # fmt: skip
    assert rolled.exit_code == 0, rolled.output
    job = tmp_path / "rolled" / "at1"
    # Partitions merged by worker processes: the same backup, byte for byte, as by one.
    for workers in ("1", "2"):
        again = _cli("roll-forward", base, f"{tmp_path}/workers-{workers}", "--changes", changes,
                     "--to-time", str(first), "--margin", str(MARGIN), "--jobid", "at1",
                     "--workers", workers, "--quiet")  # fmt: skip
        assert again.exit_code == 0, again.output
    one, two = _files(job), _files(tmp_path / "workers-1" / "at1")
    assert one == two == _files(tmp_path / "workers-2" / "at1")
    assert len([name for name in one if name.endswith(".manifest.json")]) == 3
    assert _lines(one) == _lines(_files(tmp_path / "workers-2" / "at1"))
    assert len(_lines(one)) == len(_model(records, first))
    manifest = json.loads((job / "0.manifest.json").read_text())
    assert manifest["started_at"] == manifest["finished_at"]
    assert manifest["point_in_time"]["base"].endswith("base")
    verified = _cli("verify-backup", str(job))
    assert verified.exit_code == 0, verified.output
    target = new_table()
    assert (
        _cli("restore-table", str(job), f"{ddb.url}/{target}", "--create", "--quiet").exit_code == 0
    )
    _assert_table_is(ddb_client, target, _model(records, first))
    chained = _cli("roll-forward", str(job), f"{tmp_path}/rolled", "--changes", changes,
                   "--to-time", str(second), "--margin", str(MARGIN), "--jobid", "at2", "--quiet")  # fmt: skip
    assert chained.exit_code == 0, chained.output
    target = new_table()
    again = _cli("restore-table", str(tmp_path / "rolled" / "at2"), f"{ddb.url}/{target}",
                 "--create", "--quiet")  # fmt: skip
    assert again.exit_code == 0, again.output
    _assert_table_is(ddb_client, target, _model(records, second))

    # A base too recent for T: the refusal names a base under the same prefix that serves.
    shutil.copytree(backups / "base", tmp_path / "rolled" / "older")
    too_recent = _cli("roll-forward", str(tmp_path / "rolled" / "at2"), f"{tmp_path}/rolled",
                      "--changes", changes, "--to-time", str(first), "--margin", str(MARGIN),
                      "--jobid", "at3", "--quiet")  # fmt: skip
    assert too_recent.exit_code == 2, too_recent.output
    assert "rolled/older" in too_recent.output, too_recent.output  # at1 is at T itself: too recent

    # --key into the live table: put back an item deleted since T, delete one absent at T.
    assert "k4" in _model(records, times[0])
    assert "k4" not in _model(records, second)
    put_back = _cli("restore-table", base, f"{ddb.url}/{table}", "--changes", changes,
                    "--to-time", str(times[0]), "--margin", str(MARGIN), "--key", '{"pk": "k4"}',
                    "--quiet")  # fmt: skip
    assert put_back.exit_code == 0, put_back.output
    got = ddb_client.get_item(TableName=table, Key={"pk": {"S": "k4"}}, ConsistentRead=True)
    assert items_equal(got["Item"], _model(records, times[0])["k4"])
    _put(ddb_client, table, "stray", 1)  # written after every T above: absent at T
    removed = _cli("restore-table", base, f"{ddb.url}/{table}", "--changes", changes,
                   "--to-time", str(times[0]), "--margin", str(MARGIN), "--key", '{"pk": "stray"}',
                   "--quiet")  # fmt: skip
    assert removed.exit_code == 0, removed.output
    assert "Item" not in ddb_client.get_item(TableName=table, Key={"pk": {"S": "stray"}})

    # A change to the key between the read and the conditional write: refused, not overwritten.
    slow_put = FaultPlan(
        rate=1.0, weights={"latency": 1}, only=frozenset({"PutItem"}), latency=(1.5, 1.5)
    )
    with ChaosProxy(ddb.url, slow_put) as proxy:
        spec = table_spec(f"{proxy.url}/{table}", region=ddb.region, endpoint_url=None)
        outcome: list[BaseException | KeyRestore] = []

        def run() -> None:
            try:
                outcome.append(
                    restore_key(
                        StorageSpec(Location("folder", base)),
                        FolderStorage(Location("folder", changes)),
                        times[0],
                        spec,
                        '{"pk": "k5"}',
                        margin=MARGIN,
                    )
                )
            except BaseException as exc:  # handed to the test thread
                outcome.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(0.8)  # the restore has read k5 and its PutItem is held by the proxy
        _put(ddb_client, table, "k5", 777)
        worker.join(30)
    assert isinstance(outcome[0], ConcurrentChangeError), outcome
    got = ddb_client.get_item(TableName=table, Key={"pk": {"S": "k5"}}, ConsistentRead=True)
    assert got["Item"]["v"] == {"N": "777"}

    # --latest-backup: the newest job under the prefix that serves T (older, at1 and at2 are
    # there; at1 is the newest whose time plus the margin is at or before T).
    latest = _cli("roll-forward", f"{tmp_path}/rolled", "--latest-backup", f"{tmp_path}/rolled",
                  "--changes", changes, "--to-time", str(first + MARGIN), "--margin", str(MARGIN),
                  "--jobid", "at4", "--quiet")  # fmt: skip
    assert latest.exit_code == 0, latest.output
    assert "rolled/at1 forward" in latest.output, latest.output

    # A time the writer has not been proven to read past: no heartbeat that far.
    future = _cli("roll-forward", base, f"{tmp_path}/rolled", "--changes", changes, "--to-time",
                  str(int(time.time()) + 3600), "--margin", str(MARGIN), "--jobid", "future")  # fmt: skip
    assert future.exit_code == 2, future.output
    assert "missing-heartbeat" in future.output
    assert not (tmp_path / "rolled" / "future").exists()

    # --latest-backup on restore-table: the newest job under the prefix that serves T.
    target = new_table()
    latest = _cli("restore-table", "--latest-backup", f"{tmp_path}/rolled", f"{ddb.url}/{target}",
                  "--create", "--quiet", "--changes", changes, "--to-time", str(first + MARGIN),
                  "--margin", str(MARGIN))  # fmt: skip
    assert latest.exit_code == 0, latest.output
    assert "rolled/at1 forward" in latest.output, latest.output
    _assert_table_is(ddb_client, target, _model(records, first + MARGIN))
    none = _cli("restore-table", "--latest-backup", f"{tmp_path}/rolled", f"{ddb.url}/not-written",
                "--changes", changes, "--to-time", str(start), "--margin", str(MARGIN))  # fmt: skip
    assert none.exit_code == 2, none.output
    assert "no intact backup under" in none.output
    both = _cli("restore-table", base, f"{ddb.url}/not-written", "--latest-backup",
                f"{tmp_path}/rolled", "--changes", changes, "--to-time", str(second))  # fmt: skip
    assert both.exit_code == 2, both.output
    assert "replaces SOURCE" in both.output

    _original_tool_base(ddb, ddb_client, new_table, tmp_path, base, changes, records, times[0])
    _problems_inside_and_outside(ddb, ddb_client, new_table, tmp_path, log_dir, base, table,
                                 records, (start, times[0], second))  # fmt: skip


def _original_tool_base(
    ddb: Endpoint,
    ddb_client: Any,
    new_table: Callable[[], str],
    tmp_path: Path,
    base: str,
    changes: str,
    records: list[Any],
    to_time: int,
) -> None:
    """A backup of the original tool (data objects only, no scan window) is refused as a base
    with one error line naming --assume-window; with it, it serves."""
    start, end = _window(Path(base))
    original = tmp_path / "original"
    original.mkdir()
    for data in Path(base).glob("[0-9]"):
        shutil.copy(data, original / data.name)
    target = new_table()
    args = ["--changes", changes, "--to-time", str(to_time), "--margin", str(MARGIN), "--quiet"]
    refused = _cli("restore-table", str(original), f"{ddb.url}/{target}", "--create", *args)
    assert refused.exit_code == 2, refused.output
    errors = [line for line in refused.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, refused.output
    assert "--assume-window S E" in errors[0], refused.output
    assert target not in ddb_client.list_tables()["TableNames"]
    window = ["--assume-window", str(start), str(end)]
    restored = _cli(
        "restore-table", str(original), f"{ddb.url}/{target}", "--create", *args, *window
    )
    assert restored.exit_code == 0, restored.output
    _assert_table_is(ddb_client, target, _model(records, to_time))
    rolled = _cli("roll-forward", str(original), f"{tmp_path}/from-original", "--jobid", "j",
                  *args, *window)  # fmt: skip
    assert rolled.exit_code == 0, rolled.output
    manifest = json.loads((tmp_path / "from-original" / "j" / "0.manifest.json").read_text())
    assert manifest["point_in_time"]["base_scan_window_assumed"] is True
    assert manifest["table_description"]["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"}
    ]
    ours = _cli("restore-table", base, f"{ddb.url}/not-written", "--dry-run", *args, *window)
    assert ours.exit_code == 2, ours.output
    assert "records its own" in ours.output


def _problems_inside_and_outside(
    ddb: Endpoint,
    ddb_client: Any,
    new_table: Callable[[], str],
    tmp_path: Path,
    log_dir: Path,
    base: str,
    table: str,
    records: list[Any],
    times: tuple[int, int, int],
) -> None:
    """A gap marker, a missing object and a damaged object refuse (exit 2, before writing) in
    the window [S - m, T] and do not matter outside it."""
    start, to_time, later = times
    objects = _objects(log_dir)
    early = [(d, m) for d, m in objects if m.max_seconds < start - MARGIN]
    inside = [
        (d, m) for d, m in objects if m.max_seconds >= start - MARGIN and m.min_seconds <= to_time
    ]
    assert early, objects  # logged on their own, before the scan
    assert inside, objects
    shard = early[0][1].shard_id
    assert shard is not None
    first_early, last_early = early[0][1].first_sequence_number, early[-1][1].last_sequence_number

    def variant(name: str) -> tuple[Path, str]:
        """A copy of the log to break: its stream folder, and the log to name (the table's)."""
        root = tmp_path / name
        shutil.copytree(log_dir.parents[2], root)
        return root / log_dir.relative_to(log_dir.parents[2]), f"{root}/{table}"

    def restore(changes: str, at: int, *extra: str) -> Any:
        return _cli("restore-table", base, f"{ddb.url}/not-written", "--dry-run", "--quiet",
                    "--changes", changes, "--to-time", str(at), "--margin", str(MARGIN), *extra)  # fmt: skip

    def gap(folder: Path, after: str, resumed: str) -> None:
        storage = FolderStorage(Location("folder", str(folder)))
        ChangeLogWriter(storage, writer="follower").gap(GapMarker(shard, after, resumed, 0))

    # Outside: the early objects missing and a gap among their records; a real restore.
    folder, changes = variant("outside")
    for data, _manifest in early:
        (folder / data.relative_to(log_dir)).unlink()
    gap(folder, first_early, last_early)
    target = new_table()
    done = _cli("restore-table", base, f"{ddb.url}/{target}", "--create", "--quiet", "--changes",
                changes, "--to-time", str(to_time), "--margin", str(MARGIN))  # fmt: skip
    assert done.exit_code == 0, done.output
    _assert_table_is(ddb_client, target, _model(records, to_time))
    # Outside: an early object damaged.
    folder, changes = variant("outside-damaged")
    _damage(folder / early[0][0].relative_to(log_dir))
    assert restore(changes, to_time).exit_code == 0
    # Inside: a gap from the early records into the window; a missing object; a damaged one.
    folder, changes = variant("inside-gap")
    gap(folder, last_early, inside[-1][1].last_sequence_number)
    refused = restore(changes, to_time)
    assert refused.exit_code == 2, refused.output
    assert f"gap shard {shard}" in refused.output
    folder, changes = variant("inside-missing")
    (folder / inside[0][0].relative_to(log_dir)).unlink()
    refused = restore(changes, to_time)
    assert refused.exit_code == 2, refused.output
    assert "its data object is missing" in refused.output
    folder, changes = variant("inside-damaged")
    _damage(folder / inside[0][0].relative_to(log_dir))
    target = new_table()
    refused = _cli("restore-table", base, f"{ddb.url}/{target}", "--create", "--quiet",
                   "--changes", changes, "--to-time", str(later), "--margin", str(MARGIN))  # fmt: skip
    assert refused.exit_code == 2, refused.output
    assert "damaged" in refused.output
    assert target not in ddb_client.list_tables()["TableNames"]  # refused before any write
