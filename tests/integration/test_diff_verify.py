"""verify_against: reference items (as a backup would give them) against a live table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dynamodb_replicator.diff import Kind, verify_against
from dynamodb_replicator.dynamo import TableSpec, parse_table_address
from helpers import Endpoint, put_items


def test_reference_pages_against_live_table(
    ddb: Endpoint, ddb_client: Any, make_table: Callable[..., str]
) -> None:
    table = make_table(("pk", "S"), ("sk", "N"))
    live = [
        {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"B": b"\x01"}},
        {"pk": {"S": "a"}, "sk": {"N": "2"}, "v": {"SS": ["y", "x"]}},
        {"pk": {"S": "z"}, "sk": {"N": "9"}},
    ]
    put_items(ddb_client, table, live)
    reference = [
        [{"pk": {"S": "a"}, "sk": {"N": "1.0"}, "v": {"B": b"\x01"}}],  # equal by value
        [
            {"pk": {"S": "a"}, "sk": {"N": "2"}, "v": {"SS": ["x"]}, "w": {"S": ""}},
            {"pk": {"S": "b"}, "sk": {"N": "1"}},
        ],
    ]
    seen: list[Kind] = []
    result = verify_against(
        iter(reference),
        TableSpec(parse_table_address(f"{ddb.url}/{table}")),
        on_discrepancy=lambda d: seen.append(d.kind),
    )
    by_kind = {d.kind: d for d in result.discrepancies}
    assert (
        sorted(seen) == sorted(by_kind) == sorted([Kind.DIFFERENT, Kind.MISSING, Kind.EXTRANEOUS])
    )
    assert by_kind[Kind.DIFFERENT].attributes == ("v", "w")
    assert by_kind[Kind.MISSING].key == {"pk": {"S": "b"}, "sk": {"N": "1"}}
    assert by_kind[Kind.EXTRANEOUS].key == {"pk": {"S": "z"}, "sk": {"N": "9"}}
    assert (result.stats.scanned_primary, result.stats.scanned_replica) == (3, 3)
    assert not result.agree
    assert result.key_names == ("pk", "sk")
