"""Items in DynamoDB's low-level wire format, and their text form.

In memory an item is exactly what botocore's low-level client returns: ``{"name": {"S": "x"}}``,
numbers as strings (``{"N": "123"}``), binary as ``bytes``. At text boundaries (Lambda event
JSON, JSON Lines backups) binary values are base64 strings. :func:`item_from_text` and
:func:`item_to_text` convert between the two, exactly once, at those boundaries; the text side
is validated strictly, with the attribute path in every error.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Final

from dynamodb_replicator.errors import ItemFormatError
from dynamodb_replicator.items.numbers import is_number

__all__ = [
    "TYPE_TAGS",
    "AttributeValue",
    "Item",
    "Key",
    "is_number",
    "item_from_text",
    "item_to_text",
    "split_value",
    "text_is_canonical",
    "value_from_text",
    "value_to_text",
]

AttributeValue = dict[str, Any]
"""One value in wire format: a single-entry dict from type tag to payload."""
Item = dict[str, AttributeValue]
"""An item: attribute name to value."""
Key = Item
"""An item holding only the key attributes."""

TYPE_TAGS: Final = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})
"""Every DynamoDB type tag."""

_HINT = 'values must be DynamoDB wire format, e.g. {"S": "x"}, {"N": "1"}, {"B": "<base64>"}'


def _fail(path: str, problem: str) -> ItemFormatError:
    return ItemFormatError(f"attribute {path!r}: {problem}", hint=_HINT)


def split_value(value: object, path: str = "value") -> tuple[str, Any]:
    """The (type tag, payload) of one wire-format value; an error naming ``path`` if malformed."""
    if type(value) is dict and len(value) == 1:  # the common case, without the ABC check
        for tag, payload in value.items():
            if tag in TYPE_TAGS:
                return tag, payload
    if not isinstance(value, Mapping):
        raise _fail(path, f'expected an object like {{"S": ...}}, got {type(value).__name__}')
    if len(value) != 1:
        tags = ", ".join(repr(t) for t in value) or "none"
        raise _fail(path, f"expected exactly one type tag, got {tags}")
    ((tag, payload),) = value.items()
    if tag not in TYPE_TAGS:
        raise _fail(path, f"unknown type tag {tag!r}")
    return tag, payload


class _Bad(Exception):
    """A malformed value; ``parts`` collects the path on the way out (only errors pay for it)."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem
        self.parts: list[str] = []


def _path_of(bad: _Bad, root: str | None) -> str:
    path = "".join(reversed(bad.parts))
    if root is None:
        return path.removeprefix(".") or "<item>"
    return f"{root}{path}"


def _b64(text: object) -> bytes:
    if type(text) is not str:
        raise _Bad(f"binary must be a base64 string, got {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Bad(f"invalid base64 ({exc})") from exc


def _set_members(payload: object, tag: str) -> list[Any]:
    if not isinstance(payload, list | tuple):
        raise _Bad(f"{tag} must be a list, got {type(payload).__name__}")
    if not payload:
        raise _Bad(f"{tag} must not be empty")
    return list(payload)


def _unique(members: list[Any], tag: str) -> list[Any]:
    if len(set(members)) != len(members):
        raise _Bad(f"{tag} holds duplicate members")
    return members


def _each(members: list[Any], convert: Any) -> list[Any]:
    out = []
    for i, member in enumerate(members):
        try:
            out.append(convert(member))
        except _Bad as bad:
            bad.parts.append(f"[{i}]")
            raise
    return out


def _str_member(member: object) -> str:
    if type(member) is not str:
        raise _Bad("set member must be a string")
    return member


def _num_member(member: object) -> str:
    if type(member) is not str:
        raise _Bad("NS member must be a string")
    if not is_number(member):
        raise _Bad(f"{member!r} is not a number")
    return member


def _convert(value: object) -> AttributeValue:
    """One value, text form to memory; raises :class:`_Bad` without building a path."""
    if type(value) is dict and len(value) == 1:
        ((tag, payload),) = value.items()
    else:
        try:
            tag, payload = split_value(value, "")
        except ItemFormatError as exc:
            raise _Bad(exc.message.split(": ", 1)[1]) from None
    if tag == "S":
        if type(payload) is not str:
            raise _Bad(f"S must be a string, got {type(payload).__name__}")
        return {"S": payload}
    if tag == "N":
        if type(payload) is not str:
            raise _Bad(f"N must be a string, got {type(payload).__name__}")
        if not is_number(payload):
            raise _Bad(f"N value {payload!r} is not a number")
        return {"N": payload}
    if tag == "M":
        if type(payload) is not dict and not isinstance(payload, Mapping):
            raise _Bad(f"M must be an object, got {type(payload).__name__}")
        return {"M": _convert_map(payload)}
    if tag == "L":
        if type(payload) is not list:
            raise _Bad(f"L must be a list, got {type(payload).__name__}")
        return {"L": _each(payload, _convert)}
    if tag == "B":
        return {"B": _b64(payload)}
    if tag == "BOOL":
        if type(payload) is not bool:
            raise _Bad(f"BOOL must be true or false, got {payload!r}")
        return {"BOOL": payload}
    if tag == "NULL":
        if payload is not True:
            raise _Bad(f"NULL must be true, got {payload!r}")
        return {"NULL": True}
    if tag == "BS":
        return {"BS": _unique(_each(_set_members(payload, tag), _b64), tag)}
    if tag == "SS":
        return {"SS": _unique(_each(_set_members(payload, tag), _str_member), tag)}
    if tag == "NS":
        return {"NS": _unique(_each(_set_members(payload, tag), _num_member), tag)}
    raise _Bad(f"unknown type tag {tag!r}")


def _convert_map(obj: Mapping[Any, Any]) -> Item:
    result: Item = {}
    for name, value in obj.items():
        if type(name) is not str:
            raise _Bad(f"attribute name {name!r} is not a string")
        try:
            result[name] = _convert(value)
        except _Bad as bad:
            bad.parts.append(f".{name}")
            raise
    return result


def value_from_text(value: object, path: str = "value") -> AttributeValue:
    """One value from its text form (binary as base64) to memory (binary as ``bytes``).

    ``path`` names the value in error messages. Numbers are checked for syntax only (see
    :func:`is_number`); set members must be unique as written.
    """
    try:
        return _convert(value)
    except _Bad as bad:
        raise _fail(_path_of(bad, path), bad.problem) from None


def item_from_text(obj: Mapping[str, Any]) -> Item:
    """An item from its text form (binary as base64) to memory (binary as ``bytes``).

    Validates strictly: exactly one known type tag per value, numbers as valid number strings,
    non-empty sets of the right member type without duplicates, strict base64, ``BOOL`` a
    boolean, ``NULL`` true. Errors name the attribute path, e.g. ``attribute 'a.b[2]': ...``.
    The path is built only when a value is bad, so valid items convert fast.
    """
    if type(obj) is not dict and not isinstance(obj, Mapping):
        raise ItemFormatError(
            f"an item must be a JSON object, got {type(obj).__name__}", hint=_HINT
        )
    try:
        return _convert_map(obj)
    except _Bad as bad:
        raise _fail(_path_of(bad, None), bad.problem) from None


def _b64_text(data: object) -> str:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _Bad(f"binary must be bytes in memory, got {type(data).__name__}")
    return base64.b64encode(data).decode("ascii")


def _text_member(member: object) -> str:
    if type(member) is not str:
        raise _Bad("set members must be strings")
    return member


def _to_text(value: object) -> dict[str, Any]:
    """One value, memory to text form; raises :class:`_Bad` without building a path."""
    try:
        tag, payload = split_value(value, "")
    except ItemFormatError as exc:
        raise _Bad(exc.message.split(": ", 1)[1]) from None
    if tag == "B":
        return {"B": _b64_text(payload)}
    if tag == "M":
        if type(payload) is not dict and not isinstance(payload, Mapping):
            raise _Bad(f"M must be a mapping, got {type(payload).__name__}")
        return {"M": _map_to_text(payload)}
    if tag == "L":
        if not isinstance(payload, list | tuple):
            raise _Bad(f"L must be a list, got {type(payload).__name__}")
        return {"L": _each(list(payload), _to_text)}
    if tag == "BS":
        return {"BS": _each(_set_members(payload, tag), _b64_text)}
    if tag in ("SS", "NS"):
        return {tag: _each(_set_members(payload, tag), _text_member)}
    if tag in ("S", "N") and type(payload) is not str:
        raise _Bad(f"{tag} must be a string, got {type(payload).__name__}")
    if tag == "BOOL" and type(payload) is not bool:
        raise _Bad(f"BOOL must be a bool, got {payload!r}")
    if tag == "NULL" and payload is not True:
        raise _Bad(f"NULL must be True, got {payload!r}")
    return {tag: payload}


def _map_to_text(obj: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in obj.items():
        try:
            result[name] = _to_text(value)
        except _Bad as bad:
            bad.parts.append(f".{name}")
            raise
    return result


def value_to_text(value: object, path: str = "value") -> dict[str, Any]:
    """One value from memory (binary as ``bytes``) to its text form (binary as base64).

    Checks the structure (one known tag, payload types) but not number syntax: the input is
    expected to come from DynamoDB or from :func:`value_from_text`.
    """
    try:
        return _to_text(value)
    except _Bad as bad:
        raise _fail(_path_of(bad, path), bad.problem) from None


def item_to_text(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item from memory (binary as ``bytes``) to its text form (binary as base64).

    Returns new dicts and lists; the input is not changed. Attribute order is kept.
    """
    if type(item) is not dict and not isinstance(item, Mapping):
        raise ItemFormatError(f"an item must be a mapping, got {type(item).__name__}", hint=_HINT)
    try:
        return _map_to_text(item)
    except _Bad as bad:
        raise _fail(_path_of(bad, None), bad.problem) from None


#: The last base64 digit before ``=`` / ``==`` padding when the unused bits are zero, as
#: :func:`base64.b64encode` writes it (``b64decode`` ignores those bits, so ``"AB=="`` and
#: ``"AA=="`` decode alike).
_LAST_BEFORE_ONE_PAD: Final = frozenset("AEIMQUYcgkosw048")
_LAST_BEFORE_TWO_PADS: Final = frozenset("AQgw")


def _canonical_b64(text: str) -> bool:
    if text.endswith("=="):
        return text[-3] in _LAST_BEFORE_TWO_PADS
    if text.endswith("="):
        return text[-2] in _LAST_BEFORE_ONE_PAD
    return True


def _value_is_canonical(value: dict[str, Any]) -> bool:
    for tag, payload in value.items():
        if tag == "B":
            return _canonical_b64(payload)
        if tag == "M":
            return text_is_canonical(payload)
        if tag == "L":
            return all(_value_is_canonical(v) for v in payload)
        if tag == "BS":
            return all(_canonical_b64(m) for m in payload)
    return True


def text_is_canonical(obj: Mapping[str, Any]) -> bool:
    """Whether ``item_to_text(item_from_text(obj)) == obj`` for an ``obj`` that
    :func:`item_from_text` accepted: true unless a base64 value has non-zero unused bits.

    Lets a caller that already holds the text form (a Lambda event) write it as it is instead
    of encoding the binary values again, with the same bytes.
    """
    return all(_value_is_canonical(v) for v in obj.values())
