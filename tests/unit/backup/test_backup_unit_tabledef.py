"""Table description -> manifest definition -> CreateTable arguments (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynamodb_replicator.backup.tabledef import create_plan, table_definition
from dynamodb_replicator.errors import UsageError

KEYS = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
ATTRS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "N"},
    {"AttributeName": "g", "AttributeType": "S"},
    {"AttributeName": "l", "AttributeType": "N"},
]
PT = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7, "NumberOfDecreasesToday": 0}

DESCRIPTION: dict[str, Any] = {
    "TableName": "orders",
    "TableArn": "arn:aws:dynamodb:us-east-1:1:table/orders",
    "KeySchema": KEYS,
    "AttributeDefinitions": ATTRS,
    "ProvisionedThroughput": PT,
    "BillingModeSummary": {"BillingMode": "PROVISIONED"},
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by-g",
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]},
            "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 3},
            "IndexStatus": "ACTIVE",
            "ItemCount": 4,
        }
    ],
    "LocalSecondaryIndexes": [
        {
            "IndexName": "by-l",
            "KeySchema": [KEYS[0], {"AttributeName": "l", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
            "IndexSizeBytes": 0,
        }
    ],
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    "SSEDescription": {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": "arn:key"},
    "TableClassSummary": {"TableClass": "STANDARD_INFREQUENT_ACCESS"},
    "DeletionProtectionEnabled": True,
    "ItemCount": 4,
}
TTL = {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
TAGS = [{"Key": "team", "Value": "data"}]


def test_definition_records_every_setting_as_json() -> None:
    definition = table_definition(DESCRIPTION, ttl=TTL, tags=TAGS)
    assert json.loads(json.dumps(definition)) == definition
    assert definition["BillingMode"] == "PROVISIONED"
    assert definition["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7}
    assert definition["GlobalSecondaryIndexes"][0] == {
        "IndexName": "by-g",
        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]},
        "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 3},
    }
    assert definition["LocalSecondaryIndexes"][0]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert definition["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_IMAGE",
    }
    assert definition["SSE"] == {"SSEType": "KMS", "KMSMasterKeyArn": "arn:key"}
    assert definition["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert definition["DeletionProtectionEnabled"] is True
    assert definition["TimeToLive"] == {"Enabled": True, "AttributeName": "expires"}
    assert definition["Tags"] == TAGS


def test_unreadable_ttl_and_tags_are_recorded_as_unknown() -> None:
    definition = table_definition(DESCRIPTION)
    assert definition["TimeToLive"] is None
    assert definition["Tags"] is None


def test_create_plan_recreates_the_table() -> None:
    plan = create_plan(table_definition(DESCRIPTION, ttl=TTL, tags=TAGS), "copy")
    args = plan.create_args
    assert args["TableName"] == "copy"
    assert args["KeySchema"] == KEYS
    assert args["AttributeDefinitions"] == ATTRS
    assert args["BillingMode"] == "PROVISIONED"
    assert args["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7}
    assert args["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    assert args["LocalSecondaryIndexes"][0]["IndexName"] == "by-l"
    assert args["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert args["SSESpecification"] == {
        "Enabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": "arn:key",
    }
    assert args["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert args["DeletionProtectionEnabled"] is True
    assert args["Tags"] == TAGS
    assert plan.ttl_attribute == "expires"


def test_overrides() -> None:
    definition = table_definition(DESCRIPTION, ttl=TTL)
    plan = create_plan(definition, "copy", billing_mode="pay_per_request", sse_kms_key_id="k2")
    args = plan.create_args
    assert args["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in args
    assert "ProvisionedThroughput" not in args["GlobalSecondaryIndexes"][0]
    assert args["SSESpecification"]["KMSMasterKeyId"] == "k2"


def test_on_demand_tables_stay_on_demand_and_cannot_guess_capacity() -> None:
    on_demand = {
        **DESCRIPTION,
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
    }
    definition = table_definition(on_demand)
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in definition
    assert "ProvisionedThroughput" not in create_plan(definition, "c").create_args
    with pytest.raises(UsageError, match="no capacity"):
        create_plan(definition, "c", billing_mode="PROVISIONED")
