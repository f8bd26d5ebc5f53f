"""Restore under throttling the server cannot produce: leftovers recover, or are named."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dynamodb_replicator.backup import restore as restore_module
from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.dynamo import Backoff, TableSpec
from faults import inject_leftovers
from helpers import Endpoint, put_items, scan_all

ITEMS = [{"pk": {"S": f"k{i:03d}"}, "b": {"B": bytes([i])}} for i in range(120)]


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _pk(request: dict[str, Any]) -> str:
    return str(request["PutRequest"]["Item"]["pk"]["S"])


@pytest.fixture
def backup(ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], tmp_path: Path) -> str:
    table = make_table()
    put_items(ddb_client, table, ITEMS)
    dest = f"file://{tmp_path}/faults"
    assert _run("backup-table", f"{ddb.url}/{table}", dest, "--jobid", "j").exit_code == 0
    return f"{dest}/j"


@pytest.fixture
def throttle(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[..., bool]], None]:
    """Restore's clients drop the requests ``drop`` picks; retries do not really sleep."""
    rules: list[Callable[..., bool]] = []
    real_client = TableSpec.client

    def client(self: TableSpec) -> Any:
        made = real_client(self)
        for drop in rules:
            inject_leftovers(made, "BatchWriteItem", drop)
        return made

    fast = functools.partial(
        restore_module.batch_write, backoff=Backoff(max_attempts=5, sleep=lambda _s: None)
    )
    monkeypatch.setattr(TableSpec, "client", client)
    monkeypatch.setattr(restore_module, "batch_write", fast)
    return rules.append


def test_throttled_restore_writes_recover(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], backup: str, throttle: Any
) -> None:
    target = make_table()
    throttle(lambda r, call: call <= 6 and int(_pk(r)[1:]) % 3 == 0)
    result = _run("restore-table", backup, f"{ddb.url}/{target}")
    assert result.exit_code == 0, result.output
    assert sorted(scan_all(ddb_client, target), key=lambda i: i["pk"]["S"]) == ITEMS


def test_restore_names_every_key_it_could_not_write(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str], backup: str, throttle: Any
) -> None:
    target = make_table()
    stuck = {"k007", "k050", "k051"}
    throttle(lambda r, _call: _pk(r) in stuck)
    result = _run("restore-table", backup, f"{ddb.url}/{target}")
    assert result.exit_code == 3, result.output
    written = {i["pk"]["S"] for i in scan_all(ddb_client, target)}
    assert stuck.isdisjoint(written)
    missing = {i["pk"]["S"] for i in ITEMS} - written
    assert f"{len(written)} item(s) written, {len(missing)} key(s) not written" in result.output
    shown = set(re.findall(r'\{"pk":\{"S":"(k\d+)"\}\}', result.output))
    assert shown
    assert shown <= missing
