"""Micro-benchmark: client CPU per item of the bulk calls, botocore vs the lean data path.

No server: every call is answered by a canned HTTP response (a ``before-send`` hook), so what is
measured is the client's own work per item, as CPU time (user + system) of this process, which
stays meaningful on a shared machine. Items are ~200 bytes of every type (a nested map, binary,
a set, a 38-digit number). Compared, per item:

- ``parse``: botocore's JSON parser vs the lean parser on one Scan page (the parser alone);
- ``scan call``: a whole ``client.scan`` (hooks, serializing, signing, parsing) with botocore
  as it is, with the lean path installed (what the client factory does), and with a request
  signed and parsed by our own code (SigV4 + orjson + the same converters: the ceiling of the
  other approach the issue names);
- ``batch write call``: a whole ``client.batch_write_item`` of 25 items, botocore vs lean
  (request serialization is the cost there).

Run: ``python bench/bench_parse.py [--items 1000] [--rounds 5]``; prints the medians.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import boto3  # noqa: E402
import orjson  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest, AWSResponse  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.parsers import JSONParser  # noqa: E402

from dynamodb_replicator.dynamo import lean  # noqa: E402

TABLE = "bench"
URL = "http://127.0.0.1:9"


def wire_item(i: int) -> dict[str, Any]:
    """A ~200-byte item in wire form (binary as base64 text, as on the wire)."""
    blob = base64.b64encode(i.to_bytes(8, "big") * 2).decode()
    return {
        "pk": {"S": f"item-{i:08d}"},
        "sk": {"N": str(i)},
        "qty": {"N": "12345678901234567890123456789012345678"},
        "status": {"S": "shipped"},
        "flag": {"BOOL": i % 2 == 0},
        "tags": {"SS": ["a", "b", "c"]},
        "data": {"B": blob},
        "meta": {"M": {"by": {"S": "someone"}, "at": {"N": "1700000000"}, "raw": {"B": blob}}},
    }


class Canned:
    """Answers every request with ``body`` (a ``before-send`` hook: no network)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        raw = _Raw(self.body)
        headers = {"x-amzn-RequestId": "R", "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 200, headers, raw)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def client(*, lean_path: bool, body: bytes) -> Any:
    c = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=URL,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(parameter_validation=not lean_path, retries={"max_attempts": 1}),
    )
    if lean_path:
        lean.install(c)
    c.meta.events.register("before-send.dynamodb.*", Canned(body))
    return c


def cpu_per_item(fn: Callable[[], Any], items: int, rounds: int) -> float:
    """Median CPU microseconds per item of ``fn`` (which handles ``items`` items)."""
    fn()  # warm caches (shapes, converters)
    samples = []
    for _ in range(rounds):
        t = time.process_time()
        fn()
        samples.append((time.process_time() - t) / items * 1e6)
    return statistics.median(samples)


def own_signed_scan(body_source: Canned, shape: Any, reference: JSONParser) -> Callable[[], Any]:
    """A Scan our own code signs and parses (no botocore client pipeline)."""
    credentials = Credentials("x", "x")
    signer = SigV4Auth(credentials, "dynamodb", "us-east-1")
    converter = lean._Compiler(reference).converter(shape)

    def call() -> Any:
        request = AWSRequest(
            method="POST",
            url=URL + "/",
            data=orjson.dumps({"TableName": TABLE}),
            headers={
                "X-Amz-Target": "DynamoDB_20120810.Scan",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        signer.add_auth(request)
        request.prepare()
        return converter(orjson.loads(body_source.body))

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000, help="items per Scan page")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n = args.items
    page = {"Items": [wire_item(i) for i in range(n)], "Count": n, "ScannedCount": n}
    body = orjson.dumps(page)
    rows: list[tuple[str, float, float]] = []

    plain = client(lean_path=False, body=body)
    fast = client(lean_path=True, body=body)
    shape = plain.meta.service_model.operation_model("Scan").output_shape
    response = {"status_code": 200, "headers": {}, "body": body}
    reference = JSONParser()
    lean_parser = fast._endpoint._response_parser_factory.create_parser("json")
    base = cpu_per_item(lambda: reference.parse(dict(response), shape), n, args.rounds)
    mine = cpu_per_item(lambda: lean_parser.parse(dict(response), shape), n, args.rounds)
    rows.append(("parse Scan page", base, mine))

    base = cpu_per_item(lambda: plain.scan(TableName=TABLE), n, args.rounds)
    mine = cpu_per_item(lambda: fast.scan(TableName=TABLE), n, args.rounds)
    rows.append(("scan call (client, lean installed)", base, mine))
    own = cpu_per_item(own_signed_scan(Canned(body), shape, reference), n, args.rounds)
    rows.append(("scan call (own signed request)", base, own))

    requests = [{"PutRequest": {"Item": wire_item(i)}} for i in range(25)]
    for item in requests:
        item["PutRequest"]["Item"]["data"] = {"B": b"\x00" * 16}
        item["PutRequest"]["Item"]["meta"]["M"]["raw"] = {"B": b"\x01" * 16}
    empty = orjson.dumps({})
    wplain = client(lean_path=False, body=empty)
    wfast = client(lean_path=True, body=empty)
    calls = max(1, n // 25)

    def writes(c: Any) -> Callable[[], None]:
        def run() -> None:
            for _ in range(calls):
                c.batch_write_item(RequestItems={TABLE: requests})

        return run

    base = cpu_per_item(writes(wplain), calls * 25, args.rounds)
    mine = cpu_per_item(writes(wfast), calls * 25, args.rounds)
    rows.append(("batch write call (25 items)", base, mine))

    print(
        f"{'CPU us per item (median of ' + str(args.rounds) + ')':42} {'botocore':>9} {'lean':>9} {'ratio':>6}"
    )
    for name, b, m in rows:
        print(f"{name:42} {b:9.2f} {m:9.2f} {m / b:6.2f}")


if __name__ == "__main__":
    main()
