"""Configuration from environment variables: new and original names, clear errors."""

from __future__ import annotations

import pytest

from dynamodb_replicator.errors import ConfigError
from dynamodb_replicator.replicate import Filters, Sources, load_config

BASE = {"AWS_REGION": "eu-west-1", "REPLICA_TABLE": "replica"}


def test_minimal_image_mode() -> None:
    loaded = load_config(BASE)
    config = loaded.config
    assert config.mode == "image"
    assert config.primary is None
    assert config.replica.name == "replica"
    assert config.replica.address.region == "eu-west-1"
    assert config.replica.address.endpoint_url is None
    assert config.filters == Filters()
    assert loaded.warnings == ()


def test_original_names_are_accepted() -> None:
    config = load_config(
        {
            "AWS_REGION": "us-east-1",
            "ReplicaTable": "old-replica",
            "ReplicaRegion": "eu-west-2",
            "ReplicaEndpoint": "http://localhost:4567/",
            "ReplicaAccessKeyId": "AKIAEXAMPLE",
            "ReplicaSecretAccessKey": "secret",
            "TurnoverRole": "before",
            "TurnoverAt": "1700000000000",
        }
    ).config
    assert config.replica.name == "old-replica"
    assert config.replica.address.region == "eu-west-2"
    assert config.replica.address.endpoint_url == "http://localhost:4567"
    assert config.replica.auth.access_key_id == "AKIAEXAMPLE"
    assert config.filters == Filters(turnover_role="BEFORE", turnover_at_ms=1_700_000_000_000)


def test_new_name_wins_with_a_warning() -> None:
    loaded = load_config({**BASE, "ReplicaTable": "other"})
    assert loaded.config.replica.name == "replica"
    assert loaded.warnings == (
        "both REPLICA_TABLE and ReplicaTable are set; using REPLICA_TABLE and ignoring ReplicaTable",
    )


def test_fetch_mode_with_primary_and_role() -> None:
    config = load_config(
        {
            **BASE,
            "REPLICATION_MODE": "FETCH",
            "PRIMARY_TABLE": "primary",
            "PRIMARY_REGION": "us-east-1",
            "PRIMARY_ENDPOINT_URL": "http://127.0.0.1:8000",
            "REPLICA_ROLE_ARN": "arn:aws:iam::123456789012:role/replica-writer",
            "SKIP_TTL_DELETES": "true",
            "DEADLINE_MARGIN_MS": "500",
            "WRITE_CONCURRENCY": "8",
        }
    ).config
    assert config.mode == "fetch"
    assert config.primary is not None
    assert config.primary.name == "primary"
    assert config.primary.address.endpoint_url == "http://127.0.0.1:8000"
    assert config.replica.auth.role_arn == "arn:aws:iam::123456789012:role/replica-writer"
    assert config.filters.skip_ttl_deletes
    assert config.deadline_margin_ms == 500
    assert config.write_concurrency == 8


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AWS_REGION": "us-east-1"}, "REPLICA_TABLE: not set"),
        ({"REPLICA_TABLE": "replica"}, "REPLICA_REGION: no region"),
        ({**BASE, "REPLICA_TABLE": "a b"}, "is not a table name"),
        ({**BASE, "REPLICATION_MODE": "copy"}, "REPLICATION_MODE"),
        ({**BASE, "REPLICATION_MODE": "fetch"}, "PRIMARY_TABLE"),
        ({**BASE, "REPLICA_ENDPOINT_URL": "localhost:8000"}, "is not a URL"),
        ({**BASE, "REPLICA_ROLE_ARN": "replica-writer"}, "not an IAM role ARN"),
        ({**BASE, "ReplicaAccessKeyId": "AKIA"}, "go together"),
        ({**BASE, "TURNOVER_ROLE": "BEFORE"}, "TURNOVER_AT go together"),
        ({**BASE, "TURNOVER_ROLE": "DURING", "TURNOVER_AT": "1"}, "not BEFORE or AFTER"),
        ({**BASE, "TURNOVER_ROLE": "AFTER", "TURNOVER_AT": "1.5"}, "epoch milliseconds"),
        ({**BASE, "SKIP_TTL_DELETES": "maybe"}, "not a boolean"),
        ({**BASE, "DEADLINE_MARGIN_MS": "-1"}, "whole number"),
        ({**BASE, "DEADLINE_MARGIN_MS": "1\u00b2"}, "whole number"),
        ({**BASE, "DEADLINE_MARGIN_MS": "900000"}, "leaves no time"),
        ({**BASE, "WRITE_CONCURRENCY": "\u0661"}, "whole number"),
        ({**BASE, "TURNOVER_ROLE": "AFTER", "TURNOVER_AT": "1700000000"}, "epoch milliseconds"),
        ({**BASE, "WRITE_CONCURRENCY": "0"}, "out of range"),
        (
            {**BASE, "PRIMARY_TABLE": "replica", "REPLICATION_MODE": "fetch"},
            "the replica is the primary",
        ),
    ],
)
def test_bad_configuration_is_one_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_config(env)
    assert info.value.hint


def test_table_map_and_skip_list() -> None:
    config = load_config(
        {
            "AWS_REGION": "eu-west-1",
            "TABLE_MAP": " orders = orders-copy ,users=users-copy",
            "SKIP_SEQUENCE_NUMBERS": "111, 222,,",
            "REPLICATION_MODE": "fetch",
        }
    ).config
    assert config.table_map == (("orders", "orders-copy"), ("users", "users-copy"))
    assert config.replica.name == "orders-copy"
    assert config.primary is not None
    assert config.primary.name == "orders"
    assert config.sources == Sources(mapped=frozenset({"orders", "users"}))
    assert config.replica_label == "orders-copy,users-copy"
    assert config.skip_records == frozenset({"111", "222"})


def test_without_a_map_the_source_is_primary_table() -> None:
    assert load_config(BASE).config.sources == Sources()
    config = load_config({**BASE, "PRIMARY_TABLE": "orders"}).config
    assert config.sources == Sources(expected="orders")
    assert config.skip_records == frozenset()
