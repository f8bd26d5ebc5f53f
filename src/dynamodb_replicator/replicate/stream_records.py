"""Streams API records in the shape of a Lambda event's records, one server's quirk undone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["normalise_record"]


def normalise_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A Streams API record shaped like a Lambda event record, values untouched.

    boto3 parses ``ApproximateCreationDateTime`` to a ``datetime``; Lambda sends epoch seconds.
    Binary values stay ``bytes`` (the Streams API client already decoded them). DynamoDB Local
    sends an empty map in a stream image as ``{}`` (no type tag, which no valid value lacks):
    it is read back as the empty map it was.
    """
    out = dict(record)
    body = dict(record.get("dynamodb", {}))
    stamp = body.get("ApproximateCreationDateTime")
    if isinstance(stamp, datetime):
        body["ApproximateCreationDateTime"] = stamp.timestamp()
    for image in ("NewImage", "OldImage"):
        if isinstance(body.get(image), dict):
            body[image] = {name: _untagged_map(v) for name, v in body[image].items()}
    out["dynamodb"] = body
    return out


def _untagged_map(value: Any) -> Any:
    """``{}`` -> ``{"M": {}}``, recursively through maps and lists (DynamoDB Local's streams)."""
    if value == {}:
        return {"M": {}}
    if isinstance(value, dict) and len(value) == 1:
        if "M" in value and isinstance(value["M"], dict):
            return {"M": {n: _untagged_map(v) for n, v in value["M"].items()}}
        if "L" in value and isinstance(value["L"], list):
            return {"L": [_untagged_map(v) for v in value["L"]]}
    return value
