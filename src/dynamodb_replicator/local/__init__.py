"""The embedded local server (moto: DynamoDB, DynamoDB Streams and S3 on one port)."""

from dynamodb_replicator.local.server import DEFAULT_REGION, LocalServer

__all__ = ["DEFAULT_REGION", "LocalServer"]
