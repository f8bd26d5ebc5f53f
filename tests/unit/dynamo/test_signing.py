"""The lean operations are signed exactly as botocore signs them (no server needed)."""

from __future__ import annotations

import datetime
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamodb_replicator.dynamo import lean, signing

NOW = datetime.datetime(2026, 12, 3, 7, 45, 12)


class _Captured(Exception):
    """Raised by the before-send hook: the request is kept, nothing is sent."""

    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def _client(url: str, region: str, token: str | None, *, fast: bool) -> Any:
    client = boto3.session.Session().client(
        "dynamodb",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=token,
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )
    if fast:
        assert signing.install(client, lean.LEAN_OPERATIONS, clock=lambda: NOW)

    def capture(request: Any, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send.dynamodb.*", capture)
    return client


def _sent(client: Any, operation: str, params: dict[str, Any]) -> Any:
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=NOW),
        pytest.raises(_Captured) as captured,
    ):
        getattr(client, operation)(**params)
    return captured.value.request


_UNCOMPARED = {"user-agent"}  # botocore's rebuild adds feature ids; ours keeps the call's own


def _headers(request: Any) -> dict[str, str]:
    return {
        name.lower(): value.decode() if isinstance(value, bytes) else value
        for name, value in request.headers.items()
        if name.lower() not in _UNCOMPARED | {"amz-sdk-invocation-id"}
    }


URLS = [
    "http://127.0.0.1:8000",
    "http://localhost",
    "http://LocalHost:80/",
    "https://dynamodb.eu-west-1.amazonaws.com",
    "https://dynamodb.eu-west-1.amazonaws.com:443",
    "https://example.com:8443/base",
    "http://[::1]:8000",
]

values = st.recursive(
    st.one_of(
        st.builds(lambda s: {"S": s}, st.text(max_size=20)),
        st.builds(lambda n: {"N": str(n)}, st.integers()),
        st.builds(lambda b: {"B": b}, st.binary(max_size=20)),
    ),
    lambda inner: st.builds(lambda m: {"M": m}, st.dictionaries(st.text(max_size=5), inner)),
    max_leaves=5,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    url=st.sampled_from(URLS),
    region=st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"]),
    token=st.one_of(st.none(), st.text("abcXYZ0123+/=", min_size=1, max_size=40)),
    item=st.dictionaries(st.text(min_size=1, max_size=8), values, min_size=1, max_size=4),
)
def test_batch_write_is_signed_as_botocore_signs_it(
    url: str, region: str, token: str | None, item: dict[str, Any]
) -> None:
    params = {"RequestItems": {"table": [{"PutRequest": {"Item": item}}]}}
    theirs = _sent(_client(url, region, token, fast=False), "batch_write_item", params)
    with mock.patch.object(signing, "sign_v4", wraps=signing.sign_v4) as ours_signed:
        ours = _sent(_client(url, region, token, fast=True), "batch_write_item", params)
    assert ours_signed.call_count == 1
    assert ours.body == theirs.body
    assert ours.url == theirs.url
    assert _headers(ours) == _headers(theirs)
    assert "Signature=" in _headers(ours)["authorization"]


@pytest.mark.parametrize("operation", ["scan", "query", "batch_get_item"])
def test_every_lean_operation_is_signed_alike(operation: str) -> None:
    params: dict[str, Any] = {
        "scan": {"TableName": "t", "Segment": 1, "TotalSegments": 4},
        "query": {
            "TableName": "t",
            "KeyConditionExpression": "pk = :v",
            "ExpressionAttributeValues": {":v": {"S": "a"}},
        },
        "batch_get_item": {"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}]}}},
    }[operation]
    theirs = _sent(_client(URLS[0], "us-east-1", "tok", fast=False), operation, params)
    with mock.patch.object(signing, "sign_v4", wraps=signing.sign_v4) as ours_signed:
        ours = _sent(_client(URLS[0], "us-east-1", "tok", fast=True), operation, params)
    assert ours_signed.call_count == 1
    assert _headers(ours) == _headers(theirs)


def test_other_operations_keep_botocore_signing() -> None:
    client = _client(URLS[0], "us-east-1", None, fast=True)
    with mock.patch.object(signing, "sign_v4", side_effect=AssertionError("not ours")):
        request = _sent(client, "describe_table", {"TableName": "t"})
    assert request.headers["Authorization"]


def test_lean_install_signs_and_anonymous_clients_are_left_to_botocore() -> None:
    client = boto3.session.Session().client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=URLS[0],
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(parameter_validation=False),
    )
    assert lean.install(client)
    assert isinstance(client._endpoint.create_request.__self__, signing._Signing)
    assert signing.install(client, lean.LEAN_OPERATIONS)  # twice is harmless
    client._request_signer._credentials = None
    plan = client._endpoint.create_request.__self__._plan(
        {"context": {}, "body": b"{}", "headers": {}},
        client.meta.service_model.operation_model("Scan"),
    )
    assert plan is None
