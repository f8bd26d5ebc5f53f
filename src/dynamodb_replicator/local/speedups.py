"""A faster response encoder for the embedded server's DynamoDB and DynamoDB Streams items.

moto encodes every response by walking botocore's service model, and for each attribute value
it tries every member of the ``AttributeValue`` union (``S``, ``N``, ``B``, ... ten of them)
through a chain of name-alias lookups. Profiling ``dynamodb-replicator demo`` showed that walk
taking about two thirds of the server's CPU time: a scan or a batch get of 2,000 small items
spent over a second in it. The JSON protocol writes an attribute value exactly as DynamoDB's
wire format, so this encoder writes one directly: binary members base64-encoded as moto's own
encoder does, maps and lists recursively, everything else as it is. Anything that is not a
one-member dict falls back to moto's encoder, so the bytes on the wire are the same.

Installed by :class:`~dynamodb_replicator.local.LocalServer` when it starts (moto is imported
then, never at import time of this package).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["encode_attribute_value", "install"]

_SERVICES = ("dynamodb", "dynamodbstreams")
_BINARY = "B"
_BINARY_SET = "BS"
_MAP = "M"
_LIST = "L"


def encode_attribute_value(
    value: Any, base64: Callable[[str | bytes], str]
) -> dict[str, Any] | None:
    """``value`` (``{"S": "x"}``, ``{"B": b"..."}``, ``{"M": {...}}``) as the JSON protocol
    writes it, with ``base64`` the encoder's own binary encoding; ``None`` when ``value`` is
    not a one-member attribute value (the caller then uses the model-driven encoder)."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((kind, inner),) = value.items()
    if inner is None:
        return None
    if kind == _BINARY:
        return {kind: base64(inner)}
    if kind == _BINARY_SET:
        return {kind: [base64(member) for member in inner]}
    if kind == _MAP:
        out: dict[str, Any] = {}
        for name, member in inner.items():
            encoded = encode_attribute_value(member, base64)
            if encoded is None:
                return None
            out[name] = encoded
        return {kind: out}
    if kind == _LIST:
        items = []
        for member in inner:
            encoded = encode_attribute_value(member, base64)
            if encoded is None:
                return None
            items.append(encoded)
        return {kind: items}
    return {kind: inner}


def install() -> None:
    """Make moto encode attribute values with :func:`encode_attribute_value` (idempotent)."""
    from moto.core import serialize  # moto is an optional extra: imported only when installing

    if any(
        getattr(serialize.SERVICE_SPECIFIC_SERIALIZERS.get(s, {}).get("json"), "_fast", False)
        for s in _SERVICES
    ):
        return

    class FastAttributeValueSerializer(serialize.JSONSerializer):
        _fast = True

        def _serialize_type_structure(
            self, serialized: Any, value: Any, shape: Any, key: str
        ) -> None:
            if key and shape.name == "AttributeValue":
                encoded = encode_attribute_value(value, self._base64)
                if encoded is not None:
                    self._default_serialize(serialized, encoded, shape, key)
                    return
            super()._serialize_type_structure(serialized, value, shape, key)

    for service in _SERVICES:
        serialize.SERVICE_SPECIFIC_SERIALIZERS.setdefault(service, {})["json"] = (
            FastAttributeValueSerializer
        )
