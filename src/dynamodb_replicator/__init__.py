"""dynamodb-replicator: replicate, compare, repair, back up and restore DynamoDB tables."""

__version__ = "0.1.0"
__all__ = ["__version__"]
