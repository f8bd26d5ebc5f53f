"""Table address parsing: every accepted form, the environment, and one-line errors."""

from __future__ import annotations

import pytest

from dynamodb_replicator.dynamo import TableAddress, parse_table_address
from dynamodb_replicator.errors import UsageError


def test_region_form_goes_to_aws() -> None:
    assert parse_table_address("us-east-1/primary") == TableAddress("primary", "us-east-1", None)


def test_region_form_follows_endpoint_url_option_and_env() -> None:
    assert parse_table_address(
        "eu-west-2/replica", endpoint_url="http://127.0.0.1:8000/"
    ) == TableAddress("replica", "eu-west-2", "http://127.0.0.1:8000")
    env = {"AWS_ENDPOINT_URL_DYNAMODB": "http://localhost:9000"}
    assert parse_table_address("eu-west-2/replica", environ=env).endpoint_url == (
        "http://localhost:9000"
    )
    assert parse_table_address(
        "eu-west-2/replica", environ={"AWS_ENDPOINT_URL": "http://h:1"}
    ).endpoint_url == ("http://h:1")


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("localhost:4567/table-1", "http://localhost:4567"),
        ("db.internal:8000/my.table", "http://db.internal:8000"),
        ("http://127.0.0.1:8000/tbl", "http://127.0.0.1:8000"),
        ("https://dynamo.example:443/tbl", "https://dynamo.example:443"),
        ("https://dynamo.example/tbl", "https://dynamo.example"),
    ],
)
def test_endpoint_forms(text: str, endpoint: str) -> None:
    address = parse_table_address(text, environ={})
    assert address.endpoint_url == endpoint
    assert address.region == "us-east-1"


def test_endpoint_forms_take_region_from_option_then_env() -> None:
    assert parse_table_address("localhost:1/tbl", region="eu-west-1").region == "eu-west-1"
    env = {"AWS_DEFAULT_REGION": "ap-south-1"}
    assert parse_table_address("localhost:1/tbl", environ=env).region == "ap-south-1"
    env = {"AWS_REGION": "sa-east-1", "AWS_DEFAULT_REGION": "ap-south-1"}
    assert parse_table_address("localhost:1/tbl", environ=env).region == "sa-east-1"


@pytest.mark.parametrize(
    "text",
    [
        "primary",
        "us-east-1/",
        "us-east-1/a/b",
        "us-east-1/ab",
        "US_EAST/primary",
        "http:///tbl",
        "http://host:1/a/tbl",
        "us-east-1/bad name",
    ],
)
def test_malformed_addresses_are_usage_errors_with_the_forms(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_table_address(text, environ={})
    assert "malformed table address" in str(info.value)
    assert info.value.hint is not None
    assert "REGION/TABLE" in info.value.hint
    assert "\n" not in str(info.value)
