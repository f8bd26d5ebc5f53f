"""Items as JSON Lines: one compact JSON object per line, binary as base64.

Used by backups and reports. Lines are byte-for-byte stable: ``encode_item(decode_item(line))``
gives back a line written by :func:`encode_item`, and numbers stay the strings they were.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dynamodb_replicator.errors import ItemFormatError
from dynamodb_replicator.items.wire import Item, item_from_text, item_to_text, value_to_text

try:  # optional at run time: the Lambda package ships without it (every line goes the strict way)
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is absent
    orjson = None  # type: ignore[assignment]

#: orjson, or ``None`` where it is not installed.
_ORJSON: Any = orjson

__all__ = ["decode_item", "encode_item", "encode_key_for_report"]

#: What JSON counts as whitespace around a value (``bytes.strip()`` would also take vertical tab and form feed).
_JSON_SPACE = b" \t\n\r"

_HINT = "each line must be one JSON object of DynamoDB wire-format attributes"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_item(item: Mapping[str, Any]) -> str:
    """One compact JSON line (no trailing newline) for an in-memory item; order is kept."""
    return _dumps(item_to_text(item))


def _no_duplicate_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        names = [name for name, _ in pairs]
        dupes = sorted({name for name in names if names.count(name) > 1})
        raise ItemFormatError(f"duplicate name(s) in one JSON object: {dupes}", hint=_HINT)
    return obj


def _decode_canonical(line: str | bytes) -> dict[str, Any] | None:
    """The JSON object of a line exactly as :func:`encode_item` writes it, else ``None``.

    orjson parses fast but keeps the last of repeated names silently; a line that orjson writes
    back byte for byte cannot have held a repeated name (orjson never writes one), so it needs no
    pair-by-pair check. Anything else (escaped non-ASCII, spacing, a repeated name, what orjson
    refuses) takes the strict path, which names the fault.
    """
    fast = _ORJSON
    if fast is None:
        return None
    data = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else bytes(line)
    data = data.strip(_JSON_SPACE)
    try:
        obj = fast.loads(data)
        same = type(obj) is dict and fast.dumps(obj) == data
    except (fast.JSONDecodeError, fast.JSONEncodeError):
        return None
    return obj if same else None


def decode_item(line: str | bytes) -> Item:
    """The in-memory item of one JSON line (surrounding whitespace allowed).

    Raises :class:`ItemFormatError` saying what is wrong: not UTF-8, not JSON, not an object,
    a name repeated within one object, or not valid wire format.
    """
    fast = _decode_canonical(line)
    if fast is not None:
        return item_from_text(fast)
    if isinstance(line, bytes | bytearray):
        try:
            text = bytes(line).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ItemFormatError(f"line is not valid UTF-8 ({exc})", hint=_HINT) from exc
    else:
        text = line
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_names)
    except json.JSONDecodeError as exc:
        raise ItemFormatError(f"line is not valid JSON ({exc})", hint=_HINT) from exc
    if not isinstance(obj, dict):
        raise ItemFormatError(f"line is JSON {type(obj).__name__}, not an object", hint=_HINT)
    return item_from_text(obj)


def encode_key_for_report(key: Mapping[str, Any], key_names: Sequence[str]) -> str:
    """Compact wire-format JSON of a key, attributes in ``key_names`` order, binary as base64.

    For example ``{"pk":{"S":"a"},"sk":{"N":"1"}}``. Attributes of ``key`` not named in
    ``key_names`` are left out, so a whole item may be passed.
    """
    out: dict[str, Any] = {}
    for name in key_names:
        if name not in key:
            raise ItemFormatError(f"key attribute {name!r} is missing", hint=_HINT)
        out[name] = value_to_text(key[name], name)
    return _dumps(out)
