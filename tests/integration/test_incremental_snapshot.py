"""``incremental-snapshot`` on the moto S3 server: a versioned bucket laid out exactly as the
original tool's ``backup`` Lambda function and ``incremental-backfill`` wrote it becomes a backup
that ``verify-backup`` accepts and ``restore-table`` restores to the expected table.

The objects are made here by the original's rules: ``<prefix>/<table>/<hex digest of the key's
JSON text>`` (SHA-256 from its 10.1, MD5 before 10.0), the key JSON in stream order from the
Lambda and in key-schema order from the backfill; body = the item's wire JSON (binary as
base64); REMOVE deleted the object under the Lambda's name only.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner

from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.items import decode_item, items_equal
from helpers import Endpoint, scan_all

BIG = "12345678901234567890123456789012345678"
TABLE = "orders"


def _name(key: dict[str, Any], *, md5: bool = False) -> str:
    text = json.dumps(key, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.md5(text).hexdigest() if md5 else hashlib.sha256(text).hexdigest()


def _schema_order(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"N": sk}}  # incremental-backfill: key schema order


def _stream_order(pk: str, sk: str) -> dict[str, Any]:
    return {"sk": {"N": sk}, "pk": {"S": pk}}  # the Lambda: the stream record's Keys order


def _tick() -> None:
    time.sleep(1.1)  # S3's LastModified has whole seconds on this server


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_original_incremental_bucket_restores_to_the_expected_table(
    ddb: Endpoint,
    ddb_client: Any,
    s3_client: Any,
    s3_endpoint: Endpoint,
    make_bucket: Callable[..., str],
    new_table: Callable[[], str],
) -> None:
    bucket = make_bucket()
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def put(key: dict[str, Any], item: dict[str, Any], *, md5: bool = False) -> None:
        s3_client.put_object(
            Bucket=bucket, Key=f"inc/{TABLE}/{_name(key, md5=md5)}", Body=json.dumps(item)
        )

    def remove(key: dict[str, Any]) -> None:
        s3_client.delete_object(Bucket=bucket, Key=f"inc/{TABLE}/{_name(key)}")

    a_old = {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "old"}}
    a_new = {"sk": {"N": "1"}, "pk": {"S": "a"}, "v": {"S": "new"}, "n": {"N": BIG}}
    b = {"pk": {"S": "b"}, "sk": {"N": "2"}, "v": {"S": "deleted later"}}
    c = {"pk": {"S": "c"}, "sk": {"N": "3"}, "v": {"S": "also deleted"}}
    d = {  # written by a version before 10.0: MD5 names; every wire type, byte-exact
        "pk": {"S": "d"}, "sk": {"N": "-4.5E-100"}, "bin": {"B": "AAH/"}, "n": {"N": BIG},
        "ss": {"SS": ["x", "y"]}, "bs": {"BS": ["AQ==", "Ag=="]}, "ns": {"NS": ["1", BIG]},
        "m": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": False}, {"S": ""}, {"B": ""}]}}},
    }  # fmt: skip
    e1 = {"pk": {"S": "e"}, "sk": {"N": "5"}, "v": {"S": "first"}}
    e2 = {"sk": {"N": "5"}, "pk": {"S": "e"}, "v": {"S": "again"}}

    # t0: the backfill writes a, b, d (schema order); the Lambda inserts b, c and e.
    put(_schema_order("a", "1"), a_old)
    put(_schema_order("b", "2"), b)
    put(_stream_order("b", "2"), b)
    put(_schema_order("d", "-4.5E-100"), d, md5=True)
    put(_stream_order("c", "3"), c)
    put(_stream_order("e", "5"), e1)
    _tick()
    # t1: the Lambda modifies a, removes b (its backfilled name stays) and e;
    # a second backfill writes c again under its schema-order name.
    put(_stream_order("a", "1"), a_new)
    remove(_stream_order("b", "2"))
    remove(_stream_order("e", "5"))
    put(_schema_order("c", "3"), c)
    _tick()
    # t2: the Lambda removes c (its backfilled name stays) and inserts e again.
    remove(_stream_order("c", "3"))
    put(_stream_order("e", "5"), e2)

    s3 = ("--s3-endpoint-url", s3_endpoint.url)
    result = _run(
        "incremental-snapshot", f"s3://{bucket}/inc/{TABLE}", f"s3://{bucket}/ours",
        "--key", "pk:S", "--key", "sk:N", "--jobid", "j1", *s3,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "snapshot complete: jobid j1 at s3://" + bucket + "/ours/j1: 3 item(s) from 8 name(s); "
        "2 deleted key(s); 3 key(s) under more than one name, 2 of them deleted under one and "
        "kept deleted; 0 tie(s)"
    ) in result.output

    verified = _run("verify-backup", f"s3://{bucket}/ours/j1", *s3)
    assert verified.exit_code == 0, verified.output

    copy = new_table()
    restored = _run("restore-table", f"s3://{bucket}/ours/j1", f"{ddb.url}/{copy}", "--create",
                    *s3)  # fmt: skip
    assert restored.exit_code == 0, restored.output
    got = sorted(scan_all(ddb_client, copy), key=lambda i: i["pk"]["S"])
    expected = [decode_item(json.dumps(i)) for i in (a_new, d, e2)]
    assert len(got) == len(expected), got
    for item, wanted in zip(got, expected, strict=True):  # numbers by value, sets unordered
        assert items_equal(item, wanted), (item, wanted)
