"""``dynamodb-replicator demo``: the whole story on the embedded local backend, narrated."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from ..dynamo import Put, TableSpec, batch_write, describe_table, parse_table_address, scan_segment
from ..errors import ReplicatorError
from ..items import items_equal
from ..local import LocalServer
from ..local.sample import sample_items
from .exit_codes import EXIT_CODES_HELP
from .options import common_options
from .runner import run_job

__all__ = ["demo"]


def _step(title: str, fn: Callable[[], str]) -> tuple[str, float, str]:
    click.echo(f"• {title} ...", nl=False)
    started = time.monotonic()
    try:
        outcome = fn()
    except ReplicatorError as exc:
        click.echo(" failed")
        raise ReplicatorError(f"demo step {title!r} failed: {exc.message}", cause=exc) from exc
    took = time.monotonic() - started
    click.echo(f" {outcome} ({took:.2f}s)")
    return title, took, outcome


def _create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


@click.command(epilog=EXIT_CODES_HELP)
@click.option("--items", "count", type=int, default=2000, show_default=True, help="Items to write.")
@common_options
def demo(count: int, debug: bool, quiet: bool) -> None:
    """Run a round trip on the embedded local server, step by step, and check it byte for byte."""

    def body() -> int:
        with LocalServer() as server:
            click.echo(f"embedded server on {server.endpoint_url}")
            spec = TableSpec(parse_table_address(f"{server.endpoint_url}/demo-primary"))
            client = spec.client()
            items = sample_items(count)
            schema_holder: dict[str, Any] = {}
            results = [
                _step(
                    "create a stream-enabled table", lambda: _create(client, spec, schema_holder)
                ),
                _step(
                    f"write {count} items of every type",
                    lambda: _write(client, spec, items, schema_holder),
                ),
                _step("read them back and compare", lambda: _compare(client, spec, items)),
            ]
        click.echo("")
        for title, took, outcome in results:
            click.echo(f"  {title:<40} {outcome:<30} {took:6.2f}s")
        return 0

    run_job(body, debug=debug, quiet=quiet)


def _create(client: Any, spec: TableSpec, holder: dict[str, Any]) -> str:
    _create_table(client, spec.name)
    holder["schema"] = describe_table(client, spec.name).key_schema
    return "created"


def _write(client: Any, spec: TableSpec, items: list[Any], holder: dict[str, Any]) -> str:
    result = batch_write(client, spec.name, [Put(i) for i in items], holder["schema"])
    return f"{result.written} written"


def _compare(client: Any, spec: TableSpec, items: list[Any]) -> str:
    got = {
        i["pk"]["S"]: i
        for page in scan_segment(client, spec.name, consistent=True)
        for i in page.items
    }
    bad = [i["pk"]["S"] for i in items if not items_equal(i, got.get(i["pk"]["S"], {}))]
    if bad or len(got) != len(items):
        raise ReplicatorError(f"{len(bad)} item(s) differ, {len(got)} read of {len(items)}")
    return f"{len(got)} identical"
