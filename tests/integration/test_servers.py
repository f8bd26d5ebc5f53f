"""The test servers and fixtures themselves work (moto, dynalite, S3, LocalServer)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import boto3
import pytest

from dynamodb_replicator.errors import ConfigError
from dynamodb_replicator.local import LocalServer
from helpers import DYNAMODB_LOCAL_ENDPOINT_VAR, Endpoint, make_client, put_items, scan_all


@pytest.mark.moto
@pytest.mark.dynalite
def test_put_get_item(ddb: Endpoint, ddb_client: Any, make_table: Any) -> None:
    table = make_table(("pk", "S"), ("sk", "N"))
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"SS": ["x", "y"]}}
    ddb_client.put_item(TableName=table, Item=item)
    got = ddb_client.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert got["Item"]["pk"] == {"S": "a"}
    assert sorted(got["Item"]["v"]["SS"]) == ["x", "y"]
    assert ddb.name in {"dynamodb-local", "moto", "dynalite"}


@pytest.mark.moto
@pytest.mark.dynalite
def test_put_items_and_scan_all(ddb_client: Any, make_table: Any) -> None:
    table = make_table()
    items = [{"pk": {"S": f"k{i:03}"}, "n": {"N": str(i)}} for i in range(60)]
    assert put_items(ddb_client, table, items) == 60
    got = scan_all(ddb_client, table)
    assert sorted(item["pk"]["S"] for item in got) == [f"k{i:03}" for i in range(60)]


def test_default_backend_is_moto_unless_dynamodb_local_is_chosen(ddb: Endpoint) -> None:
    chosen = os.environ.get(DYNAMODB_LOCAL_ENDPOINT_VAR)
    assert ddb.name == ("dynamodb-local" if chosen else "moto")


def test_moto_server_runs_in_its_own_process(moto_server: Endpoint) -> None:
    """The suite's moto shares nothing with the tests' interpreter (no in-process state)."""
    from moto.backends import get_backend

    client = make_client("dynamodb", moto_server)
    name = f"own-{uuid.uuid4().hex[:6]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        in_process = get_backend("dynamodb")["123456789012"]["us-east-1"].tables
        assert name not in in_process
    finally:
        client.delete_table(TableName=name)
        client.close()


def test_dynalite_serves_tables(dynalite: Endpoint, make_table: Any) -> None:
    assert dynalite.name == "dynalite"
    client = make_client("dynamodb", dynalite)
    try:
        table = make_table(("pk", "S"), ("sk", "N"), client=client)
        put_items(client, table, [{"pk": {"S": "a"}, "sk": {"N": str(i)}} for i in range(30)])
        assert len(scan_all(client, table)) == 30
    finally:
        client.close()


@pytest.mark.dynalite(only=True, reason="checks the marker itself")
def test_dynalite_only_replaces_moto_but_not_dynamodb_local(ddb: Endpoint) -> None:
    chosen = os.environ.get(DYNAMODB_LOCAL_ENDPOINT_VAR)
    assert ddb.name in ({"dynalite", "dynamodb-local"} if chosen else {"dynalite"})


def test_table_with_indexes(ddb_client: Any, make_table: Any) -> None:
    table = make_table(
        ("pk", "S"), ("sk", "S"), gsi={"by_g": [("g", "S"), ("sk", "S")]}, lsi={"by_n": ("n", "N")}
    )
    desc = ddb_client.describe_table(TableName=table)["Table"]
    assert [index["IndexName"] for index in desc["GlobalSecondaryIndexes"]] == ["by_g"]
    assert [index["IndexName"] for index in desc["LocalSecondaryIndexes"]] == ["by_n"]


def test_stream_table(ddb_client: Any, streams_client: Any, make_table: Any) -> None:
    table = make_table(stream="NEW_AND_OLD_IMAGES")
    desc = ddb_client.describe_table(TableName=table)["Table"]
    arn = desc["LatestStreamArn"]
    assert desc["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ddb_client.put_item(TableName=table, Item={"pk": {"S": "a"}})
    stream = streams_client.describe_stream(StreamArn=arn)["StreamDescription"]
    assert stream["StreamStatus"] in {"ENABLING", "ENABLED"}
    assert stream["Shards"]


def test_bucket_put_get(s3_client: Any, make_bucket: Any) -> None:
    bucket = make_bucket()
    s3_client.put_object(Bucket=bucket, Key="dir/obj.json", Body=b'{"a": 1}')
    body = s3_client.get_object(Bucket=bucket, Key="dir/obj.json")["Body"].read()
    assert body == b'{"a": 1}'


def test_local_server_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalServer(port=0) as server:
        assert server.port > 0
        assert server.endpoint_url == f"http://127.0.0.1:{server.port}"
        env = server.environment()
        assert set(env) >= {
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
            "AWS_ENDPOINT_URL_S3",
            "AWS_REGION",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)

        session = boto3.session.Session()  # reads the environment now
        ddb = session.client("dynamodb")
        table = "env-check"
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )
        try:
            assert table in ddb.list_tables()["TableNames"]
            streams = session.client("dynamodbstreams").list_streams(TableName=table)
            assert [s["TableName"] for s in streams["Streams"]] == [table]
        finally:
            ddb.delete_table(TableName=table)

        s3 = session.client("s3")
        s3.create_bucket(Bucket="env-check-bucket")
        try:
            s3.put_object(Bucket="env-check-bucket", Key="k", Body=b"v")
            assert s3.get_object(Bucket="env-check-bucket", Key="k")["Body"].read() == b"v"
            s3.delete_object(Bucket="env-check-bucket", Key="k")
        finally:
            s3.delete_bucket(Bucket="env-check-bucket")
        for client in (ddb, s3):
            client.close()
    assert not server.running


def test_local_server_environment_defaults() -> None:
    with LocalServer() as server:
        env = server.environment({})
        assert env["AWS_ACCESS_KEY_ID"].isalnum()
        assert env["AWS_SECRET_ACCESS_KEY"].isalnum()
        assert env["AWS_REGION"] == "us-east-1"
        kept = server.environment(
            {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-1"}
        )
        assert "AWS_ACCESS_KEY_ID" not in kept
        assert kept["AWS_REGION"] == "eu-west-1"


def test_local_server_port_in_use() -> None:
    with LocalServer() as first, pytest.raises(ConfigError, match="cannot listen"):
        LocalServer(port=first.port).start()


def test_local_server_needs_start() -> None:
    with pytest.raises(ConfigError):
        _ = LocalServer().endpoint_url
