"""Primary keys: the key schema, key extraction and identity, plain-JSON keys, item size."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from dynamodb_replicator.errors import ItemFormatError, UsageError
from dynamodb_replicator.items.numbers import canonical_number, is_number, significant_digits
from dynamodb_replicator.items.wire import Key, split_value, value_from_text

#: DynamoDB numbers hold at most 38 significant digits.
MAX_DIGITS: Final = 38

__all__ = [
    "KEY_TYPES",
    "MAX_DIGITS",
    "JsonNumber",
    "KeySchema",
    "extract_key",
    "item_size",
    "key_identity",
    "parse_key_argument",
    "parse_plain_key",
]

KEY_TYPES: Final = frozenset({"S", "N", "B"})
"""The types a key attribute may have."""


@dataclass(frozen=True, slots=True)
class KeySchema:
    """A table's primary key: the partition (hash) key and the optional sort (range) key."""

    hash_key: str
    hash_type: str
    range_key: str | None = None
    range_type: str | None = None

    def __post_init__(self) -> None:
        if (self.range_key is None) != (self.range_type is None):
            raise ItemFormatError("a sort key needs both a name and a type")
        for name, type_ in self.attributes:
            if type_ not in KEY_TYPES:
                raise ItemFormatError(f"key attribute {name!r} has type {type_!r}, not S, N or B")

    @property
    def names(self) -> tuple[str, ...]:
        """The key attribute names, partition key first."""
        return tuple(name for name, _ in self.attributes)

    @property
    def attributes(self) -> tuple[tuple[str, str], ...]:
        """``(name, type)`` of each key attribute, partition key first."""
        if self.range_key is None or self.range_type is None:
            return ((self.hash_key, self.hash_type),)
        return ((self.hash_key, self.hash_type), (self.range_key, self.range_type))

    @classmethod
    def from_description(cls, table: Mapping[str, Any]) -> KeySchema:
        """The key schema of DescribeTable's ``Table`` dict (the whole response works too)."""
        if "KeySchema" not in table and isinstance(table.get("Table"), Mapping):
            table = table["Table"]
        try:
            types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
            roles = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
            hash_key = roles["HASH"]
            range_key = roles.get("RANGE")
            return cls(
                hash_key,
                types[hash_key],
                range_key,
                None if range_key is None else types[range_key],
            )
        except (KeyError, TypeError) as exc:
            raise ItemFormatError(
                f"table description has no usable key schema (missing {exc})",
                hint="pass DescribeTable's 'Table' with KeySchema and AttributeDefinitions",
            ) from exc


def _key_payload(key: Mapping[str, Any], name: str, type_: str) -> Any:
    """The payload of key attribute ``name``, checked against the schema type."""
    if name not in key:
        raise ItemFormatError(f"key attribute {name!r} is missing")
    tag, payload = split_value(key[name], name)
    if tag != type_:
        raise ItemFormatError(f"key attribute {name!r} must be of type {type_}, got {tag}")
    if tag == "S":
        ok = isinstance(payload, str) and payload != ""
    elif tag == "B":
        ok = isinstance(payload, bytes | bytearray | memoryview) and len(payload) > 0
    else:
        ok = is_number(payload)
    if not ok:
        raise ItemFormatError(f"key attribute {name!r}: invalid {tag} key value {payload!r}")
    return payload


def extract_key(item: Mapping[str, Any], schema: KeySchema) -> Key:
    """The key of an in-memory item: only the key attributes, in schema order."""
    return {name: {t: _key_payload(item, name, t)} for name, t in schema.attributes}


def key_identity(key: Mapping[str, Any], schema: KeySchema) -> Hashable:
    """A hashable identity of an in-memory key (or item) for dedupe.

    A tuple of the key values in schema order: strings as is, numbers canonicalised (so
    ``"1.0"`` and ``"1"`` are the same key), binary as ``bytes``.
    """
    parts: list[Hashable] = []
    for name, type_ in schema.attributes:
        payload = _key_payload(key, name, type_)
        if type_ == "N":
            parts.append(canonical_number(payload))
        elif type_ == "B":
            parts.append(bytes(payload))
        else:
            parts.append(payload)
    return tuple(parts)


def _utf8_len(s: str) -> int:
    return len(s.encode("utf-8", "surrogatepass"))


def _number_size(n: str) -> int:
    return (significant_digits(n) + 1) // 2 + 1


def _value_size(av: Mapping[str, Any]) -> int:
    tag, payload = split_value(av)
    if tag == "S":
        return _utf8_len(payload)
    if tag == "N":
        return _number_size(payload)
    if tag == "B":
        return len(payload)
    if tag == "SS":
        return sum(_utf8_len(m) for m in payload)
    if tag == "NS":
        return sum(_number_size(m) for m in payload)
    if tag == "BS":
        return sum(len(m) for m in payload)
    if tag == "M":
        return 3 + sum(_utf8_len(n) + _value_size(v) + 1 for n, v in payload.items())
    if tag == "L":
        return 3 + sum(_value_size(v) + 1 for v in payload)
    return 1  # BOOL, NULL


def item_size(item: Mapping[str, Any]) -> int:
    """The size of an in-memory item in bytes, by AWS's published rules ("Item sizes and
    formats" in the DynamoDB Developer Guide).

    Each attribute counts its name's UTF-8 bytes plus its value: strings their UTF-8 bytes,
    binary its raw bytes, numbers ``ceil(significant digits / 2) + 1`` (AWS: "approximately"),
    BOOL and NULL 1, sets the sum of their members, lists and maps 3 bytes of overhead plus
    their elements (map elements with their names) plus 1 byte per element.
    """
    return sum(_utf8_len(name) + _value_size(value) for name, value in item.items())


class JsonNumber(str):
    """A JSON number kept as the text it was written as.

    Decode user-typed JSON with ``json.loads(text, parse_float=JsonNumber,
    parse_int=JsonNumber)`` and numbers never pass through ``float``: ``1e0`` stays ``1e0``
    and a 38-digit key stays exact. It is a number, not a string, for an ``S`` key.
    """


def _plain_payload(value: object, name: str, type_: str) -> Any:
    """The wire payload of a plain JSON key value of schema type ``type_``."""
    if type_ == "S" and isinstance(value, str) and not isinstance(value, JsonNumber):
        return value
    if type_ == "N":
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and is_number(value):
            if significant_digits(value) > MAX_DIGITS:
                raise ItemFormatError(
                    f"key attribute {name!r}: {value} has more than {MAX_DIGITS} significant "
                    "digits, DynamoDB's limit",
                    hint="check the key value",
                )
            return str(value)
        if isinstance(value, float):
            raise ItemFormatError(
                f"key attribute {name!r}: {value!r} is a float, which may not be exact",
                hint='give non-integer numbers as strings, e.g. "1.5"',
            )
    if type_ == "B":
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ItemFormatError(
                    f"key attribute {name!r}: invalid base64 ({exc})",
                    hint="give binary key values as base64 text",
                ) from exc
    raise ItemFormatError(
        f"key attribute {name!r}: {value!r} is not a valid {type_} value",
        hint="strings for S, integers or numeric strings for N, base64 text for B",
    )


def parse_plain_key(obj: Mapping[str, Any], schema: KeySchema) -> Key:
    """A wire-format key from plain JSON such as ``{"pk": "a", "sk": 5}``.

    Values take the schema's types: S from a string, N from an integer or a numeric string
    (floats are refused: give them as strings to stay exact), B from base64 text. A value
    already in wire text form (``{"S": "a"}``, ``{"B": "<base64>"}``) is accepted too.
    Attributes that are not key attributes are refused.
    """
    if not isinstance(obj, Mapping):
        raise ItemFormatError(f"a key must be a JSON object, got {type(obj).__name__}")
    extra = sorted(set(obj) - set(schema.names))
    if extra:
        raise ItemFormatError(
            f"not key attributes: {', '.join(map(repr, extra))}",
            hint=f"the key attributes are {', '.join(schema.names)}",
        )
    key: Key = {}
    for name, type_ in schema.attributes:
        if name not in obj:
            raise ItemFormatError(f"key attribute {name!r} is missing")
        value = obj[name]
        if isinstance(value, Mapping):
            key[name] = value_from_text(value, name)
        else:
            key[name] = {type_: _plain_payload(value, name, type_)}
        _key_payload(key, name, type_)  # type, emptiness and number checks
    return key


def parse_key_argument(text: str, schema: KeySchema, what: str = "KEY") -> Key:
    """A key given on the command line (``what`` names it in errors): wire JSON
    (``{"pk": {"S": "a"}}``) or plain JSON typed by the key schema (``{"pk": "a"}``)."""
    try:
        obj = json.loads(text, parse_float=JsonNumber, parse_int=JsonNumber)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what} is not valid JSON ({exc})",
            hint='give the key as JSON, e.g. \'{"pk": "a"}\' or \'{"pk": {"S": "a"}}\'',
        ) from exc
    try:
        return parse_plain_key(obj, schema)
    except ItemFormatError as exc:
        raise UsageError(f"bad {what}: {exc.message}", hint=exc.hint) from exc
