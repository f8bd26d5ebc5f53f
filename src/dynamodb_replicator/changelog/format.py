"""One stream record as one line of a change log, and a batch as one gzip object (pure).

A line is a compact JSON object, its fields always in this order::

    {"format":1,"eventID":"...","sequenceNumber":"...","time":"1700000000","timeUnit":"s",
     "eventName":"MODIFY","keys":{...},"newImage":{...},"oldImage":{...},"userIdentity":{...}}

``newImage``, ``oldImage`` and ``userIdentity`` appear only when the record has them. Values are
wire format with binary as base64 (the item model's text form), so every number keeps its
digits and every byte comes back. The time is kept as given, as decimal text with its unit:
epoch seconds from a Lambda event (``"s"``), exact microseconds from the Streams API, whose
client hands a ``datetime`` (``"us"``). Readers compare whole seconds (:func:`whole_seconds`);
no float or Decimal is involved anywhere.

An object is the gzip of the lines (each ending in a newline), written with a zero gzip
timestamp so the same records always give the same bytes and the same SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final

import orjson

from ..errors import ChangeLogError, ItemFormatError
from ..items import Item, Key, item_from_text, item_to_text, text_is_canonical

__all__ = [
    "EVENT_NAMES",
    "LINE_FORMAT",
    "TIME_UNITS",
    "ChangeRecord",
    "EncodedObject",
    "decode_line",
    "decode_object",
    "encode_line",
    "encode_object",
    "record_from_stream",
    "sequence_key",
    "whole_seconds",
]

LINE_FORMAT: Final = 1
EVENT_NAMES: Final = frozenset({"INSERT", "MODIFY", "REMOVE"})
TIME_UNITS: Final = {"s": 1, "ms": 1_000, "us": 1_000_000}
"""Each time unit and how many of it make one second."""

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_HINT: Final = "the change log object or record is not in this tool's change log format"


@dataclass(frozen=True, slots=True)
class TextImages:
    """A record's images in text form (binary as base64), validated by :func:`item_from_text`."""

    keys: Mapping[str, Any]
    new_image: Mapping[str, Any] | None
    old_image: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One stream record, in memory: images in wire format with binary as ``bytes``.

    ``time`` is decimal text in ``time_unit`` (see :data:`TIME_UNITS`); ``user_identity`` is
    the record's ``userIdentity`` verbatim (a TTL delete says who deleted), ``None`` if absent.
    """

    event_id: str
    sequence_number: str
    time: str
    time_unit: str
    event_name: str
    keys: Key
    new_image: Item | None = None
    old_image: Item | None = None
    user_identity: Any = None
    text: TextImages | None = field(default=None, compare=False, repr=False)
    """The images' text form as received (a Lambda event), when it is exactly what
    :func:`item_to_text` would make of them: written as it is, so nothing is encoded twice."""

    @property
    def seconds(self) -> int:
        """The record's time in whole epoch seconds (rounded down)."""
        return whole_seconds(self.time, self.time_unit)

    @property
    def order(self) -> int:
        """The sequence number as an integer: stream order within one shard."""
        return sequence_key(self.sequence_number)


def _fail(problem: str) -> ChangeLogError:
    return ChangeLogError(problem, hint=_HINT)


def sequence_key(sequence_number: str) -> int:
    """A sequence number's integer value (sequence numbers are decimal strings of any length)."""
    if not sequence_number.isdigit() or not sequence_number.isascii():
        raise _fail(f"sequence number {sequence_number!r} is not a decimal string")
    return int(sequence_number)


def whole_seconds(time: str, unit: str) -> int:
    """``time`` (decimal text in ``unit``) as whole epoch seconds, rounded down, exactly."""
    per_second = TIME_UNITS.get(unit)
    if per_second is None:
        raise _fail(f"unknown time unit {unit!r} (expected one of {sorted(TIME_UNITS)})")
    if time.isdigit() and time.isascii():
        return int(time) // per_second
    try:
        value = Fraction(time)
    except (ValueError, ZeroDivisionError) as exc:
        raise _fail(f"time {time!r} is not a decimal number") from exc
    return int((value / per_second).__floor__())


# --- from a stream record ---------------------------------------------------------------------


def _time_of(value: object) -> tuple[str, str]:
    """The creation time as (decimal text, unit), kept as given."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return str((moment - _EPOCH) // dt.timedelta(microseconds=1)), "us"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(f"ApproximateCreationDateTime {value!r} is not epoch seconds")
    # A float is what a JSON parser made of the event's number: its repr is that number's
    # shortest decimal text, so nothing is computed on it.
    text = repr(value) if isinstance(value, float) else str(value)
    whole_seconds(text, "s")
    return text, "s"


def _image(body: Mapping[str, Any], name: str, binary_as_text: bool) -> Item | None:
    raw = body.get(name)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _fail(f"dynamodb.{name} is not an object")
    if binary_as_text:
        return item_from_text(raw)
    return dict(raw)  # from the Streams API: binary already bytes; encode_line checks it


def record_from_stream(record: Mapping[str, Any], *, binary_as_text: bool) -> ChangeRecord:
    """A DynamoDB Streams record -> :class:`ChangeRecord`.

    ``binary_as_text`` is true for a Lambda event (binary as base64) and false for a record of
    the Streams API through botocore (binary as ``bytes``, time as ``datetime``). Raises
    :class:`ChangeLogError` naming what is missing or malformed.
    """
    body = record.get("dynamodb")
    if not isinstance(body, Mapping):
        raise _fail("the record has no dynamodb section")
    event_name = record.get("eventName")
    if event_name not in EVENT_NAMES:
        raise _fail(f"unknown eventName {event_name!r} (expected INSERT, MODIFY or REMOVE)")
    sequence = body.get("SequenceNumber")
    if not isinstance(sequence, str):
        raise _fail("the record has no dynamodb.SequenceNumber")
    sequence_key(sequence)
    event_id = record.get("eventID")
    if not isinstance(event_id, str):
        raise _fail(f"record {sequence}: no eventID")
    stamp = body.get("ApproximateCreationDateTime")
    if stamp is None:
        raise _fail(f"record {sequence}: no ApproximateCreationDateTime")
    time, unit = _time_of(stamp)
    try:
        keys = _image(body, "Keys", binary_as_text)
        if not keys:
            raise _fail(f"record {sequence}: no Keys")
        new_image = _image(body, "NewImage", binary_as_text)
        old_image = _image(body, "OldImage", binary_as_text)
    except ItemFormatError as exc:
        if isinstance(exc, ChangeLogError):
            raise
        raise _fail(f"record {sequence}: {exc.message}") from exc
    return ChangeRecord(
        event_id=event_id,
        sequence_number=sequence,
        time=time,
        time_unit=unit,
        event_name=str(event_name),
        keys=keys,
        new_image=new_image,
        old_image=old_image,
        user_identity=record.get("userIdentity"),
        text=_text_images(body) if binary_as_text else None,
    )


def _text_images(body: Mapping[str, Any]) -> TextImages | None:
    """The images as received, when writing them as they are gives :func:`item_to_text`'s
    bytes (validated already by :func:`_image`; plain ``dict`` from a JSON parser)."""
    images = [body.get("Keys"), body.get("NewImage"), body.get("OldImage")]
    for image in images:
        if image is not None and (type(image) is not dict or not text_is_canonical(image)):
            return None
    return TextImages(body["Keys"], images[1], images[2])


# --- lines ------------------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _line_object(record: ChangeRecord) -> dict[str, Any]:
    """The line's JSON object, fields in the documented order."""
    text = record.text
    obj: dict[str, Any] = {
        "format": LINE_FORMAT,
        "eventID": record.event_id,
        "sequenceNumber": record.sequence_number,
        "time": record.time,
        "timeUnit": record.time_unit,
        "eventName": record.event_name,
        "keys": text.keys if text else item_to_text(record.keys),
    }
    if record.new_image is not None:
        obj["newImage"] = text.new_image if text else item_to_text(record.new_image)
    if record.old_image is not None:
        obj["oldImage"] = text.old_image if text else item_to_text(record.old_image)
    if record.user_identity is not None:
        obj["userIdentity"] = _verbatim(record.user_identity)
    return obj


def encode_line(record: ChangeRecord) -> str:
    """One compact JSON line (no newline) for ``record``; fields in the documented order."""
    return _dumps(_line_object(record))


def _line_bytes(record: ChangeRecord) -> bytes:
    """:func:`encode_line` as UTF-8 bytes, by orjson (the same bytes: compact, no ASCII
    escaping); text orjson refuses (a lone surrogate, an integer beyond 64 bits in
    ``userIdentity``) goes the slow way, which fails or writes it as before."""
    obj = _line_object(record)
    try:
        return orjson.dumps(obj)
    except TypeError:
        return _dumps(obj).encode("utf-8")


def _verbatim(value: Any) -> Any:
    """``userIdentity`` as JSON can hold it; bytes (never seen in practice) as base64 text."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): _verbatim(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_verbatim(v) for v in value]
    if isinstance(value, float):
        raise _fail("userIdentity holds a fractional number, which a change log does not keep")
    return value


def _field(obj: Mapping[str, Any], name: str, kind: type) -> Any:
    value = obj.get(name)
    if type(value) is not kind:
        raise _fail(f"line field {name!r} is missing or not a {kind.__name__}")
    return value


def _no_floats(text: str) -> Any:
    raise _fail(f"a change log line holds the fractional JSON number {text}; numbers are text")


def decode_line(line: str | bytes) -> ChangeRecord:
    """The :class:`ChangeRecord` of one line written by :func:`encode_line`; strict."""
    try:
        obj = json.loads(line, parse_float=_no_floats)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"a change log line is not JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise _fail("a change log line is not a JSON object")
    if obj.get("format") != LINE_FORMAT:
        raise _fail(f"unsupported change log line format {obj.get('format')!r}")
    try:
        new_raw, old_raw = obj.get("newImage"), obj.get("oldImage")
        record = ChangeRecord(
            event_id=_field(obj, "eventID", str),
            sequence_number=_field(obj, "sequenceNumber", str),
            time=_field(obj, "time", str),
            time_unit=_field(obj, "timeUnit", str),
            event_name=_field(obj, "eventName", str),
            keys=item_from_text(_field(obj, "keys", dict)),
            new_image=None if new_raw is None else item_from_text(new_raw),
            old_image=None if old_raw is None else item_from_text(old_raw),
            user_identity=obj.get("userIdentity"),
        )
    except ChangeLogError:
        raise
    except ItemFormatError as exc:
        raise _fail(f"a change log line holds a bad value: {exc.message}") from exc
    if record.event_name not in EVENT_NAMES:
        raise _fail(f"a change log line has the unknown eventName {record.event_name!r}")
    sequence_key(record.sequence_number)
    record.seconds  # noqa: B018 - validates the time and its unit
    return record


# --- objects ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncodedObject:
    """A batch as one gzip JSON Lines object, with what its manifest records."""

    data: bytes
    count: int
    sha256: str


def encode_object(records: Sequence[ChangeRecord], *, level: int = 6) -> EncodedObject:
    """The gzip JSON Lines object of ``records`` (in the order given); deterministic bytes."""
    if not records:
        raise _fail("a change log object holds at least one record")
    text = b"".join([_line_bytes(r) + b"\n" for r in records])
    data = gzip.compress(text, compresslevel=level, mtime=0)
    return EncodedObject(data, len(records), hashlib.sha256(data).hexdigest())


def decode_object(data: bytes) -> list[ChangeRecord]:
    """Every record of an object written by :func:`encode_object`, in order."""
    try:
        text = gzip.decompress(data)
    except (OSError, EOFError, zlib.error, binascii.Error) as exc:
        raise _fail(f"the object is not valid gzip ({exc})") from exc
    if not text.endswith(b"\n"):
        raise _fail("the object does not end with a whole line (truncated?)")
    lines: Iterable[bytes] = text[:-1].split(b"\n")
    out: list[ChangeRecord] = []
    for number, line in enumerate(lines, 1):
        try:
            out.append(decode_line(line))
        except ChangeLogError as exc:
            raise _fail(f"line {number}: {exc.message}") from exc
    return out
