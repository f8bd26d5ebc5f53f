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
timestamp so the same records always give the same bytes and the same SHA-256. The gzip level
is 6 (zlib's default): level 1 saves about 2 us per record but makes objects about 30% larger,
level 9 costs about two and a half times the CPU for 3% smaller (on the bench's records); and
keeping the level keeps the bytes of every batch a writer may write again.

A Lambda event is written without building its images in memory: :func:`event_record`
checks each text image once (the checks :func:`~..items.item_from_text` makes, and that every
base64 value is written as :func:`~..items.item_to_text` would write it), and the line is
built from the event's own dicts. Anything that check does not pass goes the slow way, which
names the fault or writes the value canonically.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final, NamedTuple, Protocol

import orjson

from ..errors import ChangeLogError, ItemFormatError
from ..items import Item, Key, item_from_text, item_to_text

__all__ = [
    "EVENT_NAMES",
    "GZIP_LEVEL",
    "LINE_FORMAT",
    "TIME_UNITS",
    "ChangeRecord",
    "EncodedObject",
    "EventRecord",
    "LogRecord",
    "decode_line",
    "decode_object",
    "encode_line",
    "encode_object",
    "event_record",
    "record_from_stream",
    "sequence_key",
    "whole_seconds",
]

LINE_FORMAT: Final = 1
GZIP_LEVEL: Final = 6
"""The gzip level of every object (see the module's docstring for why 6)."""
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


class LogRecord(Protocol):
    """What a writer needs of a record: its place, its time and its line."""

    @property
    def sequence_number(self) -> str: ...

    @property
    def time(self) -> str: ...

    @property
    def time_unit(self) -> str: ...

    @property
    def seconds(self) -> int: ...

    def line_object(self) -> dict[str, Any]:
        """The line's JSON object, fields in the documented order."""
        ...

    def wire_line_object(self) -> dict[str, Any]:
        """:meth:`line_object`, but binary values may still be ``bytes`` (checked images that
        :func:`encode_object` writes as base64 without converting them first)."""
        ...


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

    def line_object(self) -> dict[str, Any]:
        """The line's JSON object, fields in the documented order."""
        text = self.text
        if text is not None:
            return self._object(lambda name, _: getattr(text, name))
        return self._object(lambda _, image: item_to_text(image))

    def wire_line_object(self) -> dict[str, Any]:
        """:meth:`line_object` with each image as it is in memory when the quick check passes
        it (binary as ``bytes``, written as base64 by :func:`encode_object`)."""
        if self.text is not None:
            return self.line_object()
        return self._object(lambda _, image: _wire(image))

    def _object(self, image: Callable[[str, Item], Any]) -> dict[str, Any]:
        """The line's object, ``image(field, item)`` giving each image's form."""
        new, old, identity = self.new_image, self.old_image, self.user_identity
        return _line_object(
            self,
            image("keys", self.keys),
            None if new is None else image("new_image", new),
            None if old is None else image("old_image", old),
            None if identity is None else _verbatim(identity),
        )


def _line_object(
    record: ChangeRecord | EventRecord,
    keys: Any,
    new_image: Any,
    old_image: Any,
    user_identity: Any,
) -> dict[str, Any]:
    """One change-log line's JSON object, fields in the documented order; absent parts left
    out. The one place the line's layout is written down."""
    obj: dict[str, Any] = {
        "format": LINE_FORMAT,
        "eventID": record.event_id,
        "sequenceNumber": record.sequence_number,
        "time": record.time,
        "timeUnit": record.time_unit,
        "eventName": record.event_name,
        "keys": keys,
    }
    if new_image is not None:
        obj["newImage"] = new_image
    if old_image is not None:
        obj["oldImage"] = old_image
    if user_identity is not None:
        obj["userIdentity"] = user_identity
    return obj


def _wire(image: Item) -> Mapping[str, Any]:
    """``image`` itself when :func:`encode_object` can write it as it is, else its text form
    (:func:`item_to_text`, which names what is wrong with it)."""
    return image if _scan(image, False) else item_to_text(image)


class EventRecord(NamedTuple):
    """One record of a Lambda event, checked, its images kept in text form (binary as base64).

    What the Lambda writer encodes: the images are the event's own dicts when they are exactly
    what :func:`item_to_text` would write (else their canonical text), so a line is built
    without converting any value. :meth:`change_record` gives the in-memory record. A named
    tuple rather than a frozen dataclass: as immutable, and made several times faster, which
    counts once per record of every batch.
    """

    event_id: str
    sequence_number: str
    time: str
    time_unit: str
    event_name: str
    seconds: int
    keys: Mapping[str, Any]
    new_image: Mapping[str, Any] | None
    old_image: Mapping[str, Any] | None
    user_identity: Any
    as_received: bool = True
    """The images are the event's own (not rewritten with canonical base64)."""

    @property
    def order(self) -> int:
        """The sequence number as an integer: stream order within one shard."""
        return int(self.sequence_number)

    def line_object(self) -> dict[str, Any]:
        """The line's JSON object, fields in the documented order."""
        return _line_object(self, self.keys, self.new_image, self.old_image, self.user_identity)

    def wire_line_object(self) -> dict[str, Any]:
        """:meth:`line_object` (the images are text already)."""
        return self.line_object()

    def change_record(self) -> ChangeRecord:
        """The record in memory (binary as ``bytes``)."""
        new, old = self.new_image, self.old_image
        return ChangeRecord(
            event_id=self.event_id,
            sequence_number=self.sequence_number,
            time=self.time,
            time_unit=self.time_unit,
            event_name=self.event_name,
            keys=item_from_text(self.keys),
            new_image=None if new is None else item_from_text(new),
            old_image=None if old is None else item_from_text(old),
            user_identity=self.user_identity,
            text=TextImages(self.keys, new, old) if self.as_received else None,
        )


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


def _header(record: Mapping[str, Any]) -> tuple[Mapping[str, Any], str, str, str]:
    """(the ``dynamodb`` section, event name, sequence number, event id), checked."""
    body = record.get("dynamodb")
    if type(body) is not dict and not isinstance(body, Mapping):
        raise _fail("the record has no dynamodb section")
    event_name = record.get("eventName")
    if event_name not in EVENT_NAMES:
        raise _fail(f"unknown eventName {event_name!r} (expected INSERT, MODIFY or REMOVE)")
    sequence = body.get("SequenceNumber")
    if type(sequence) is not str:
        raise _fail("the record has no dynamodb.SequenceNumber")
    if not (sequence.isdigit() and sequence.isascii()):
        sequence_key(sequence)  # raises naming it
    event_id = record.get("eventID")
    if type(event_id) is not str:
        raise _fail(f"record {sequence}: no eventID")
    if body.get("ApproximateCreationDateTime") is None:
        raise _fail(f"record {sequence}: no ApproximateCreationDateTime")
    return body, str(event_name), sequence, event_id


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
    if binary_as_text:
        return event_record(record).change_record()
    body, event_name, sequence, event_id = _header(record)
    time, unit = _time_of(body["ApproximateCreationDateTime"])
    try:
        keys = _image(body, "Keys", False)
        if not keys:
            raise _fail(f"record {sequence}: no Keys")
        new_image = _image(body, "NewImage", False)
        old_image = _image(body, "OldImage", False)
    except ItemFormatError as exc:
        if isinstance(exc, ChangeLogError):
            raise
        raise _fail(f"record {sequence}: {exc.message}") from exc
    return ChangeRecord(
        event_id=event_id,
        sequence_number=sequence,
        time=time,
        time_unit=unit,
        event_name=event_name,
        keys=keys,
        new_image=new_image,
        old_image=old_image,
        user_identity=record.get("userIdentity"),
    )


def event_record(record: Mapping[str, Any]) -> EventRecord:
    """A Lambda event's DynamoDB Streams record -> :class:`EventRecord` (binary as base64,
    time as epoch seconds). Raises :class:`ChangeLogError` naming what is missing or
    malformed, as :func:`record_from_stream` does."""
    body, event_name, sequence, event_id = _header(record)
    stamp = body["ApproximateCreationDateTime"]
    if type(stamp) is int:  # the usual case: whole seconds
        time, unit, seconds = str(stamp), "s", stamp
    else:
        time, unit = _time_of(stamp)
        seconds = whole_seconds(time, unit)
    keys, new, old = body.get("Keys"), body.get("NewImage"), body.get("OldImage")
    as_received = True
    if not (_text_ok(keys) and (new is None or _text_ok(new)) and (old is None or _text_ok(old))):
        keys, new, old = _canonical_images(body, sequence)
        as_received = False
    if not keys:
        raise _fail(f"record {sequence}: no Keys")
    user = record.get("userIdentity")
    if user is not None:
        user = _verbatim(user)
    return EventRecord(
        event_id, sequence, time, unit, event_name, seconds, keys, new, old, user, as_received
    )


def _canonical_images(body: Mapping[str, Any], sequence: str) -> tuple[Any, Any, Any]:
    """The images the quick check did not pass: refused naming the fault, or written again as
    :func:`item_to_text` writes them (a base64 value with stray bits, a tuple for a list)."""
    out = []
    for name in ("Keys", "NewImage", "OldImage"):
        try:
            image = _image(body, name, True)
        except ItemFormatError as exc:
            if isinstance(exc, ChangeLogError):
                raise
            raise _fail(f"record {sequence}: {exc.message}") from exc
        out.append(None if image is None else item_to_text(image))
    return out[0], out[1], out[2]


# The quick check of a text image: True only when item_from_text accepts it and item_to_text
# gives it back unchanged (every base64 value canonical); False sends it the slow way.
_NUMBER_TEXT: Final = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII
).fullmatch
"""A subset of :func:`~..items.is_number`'s numbers (the same set, spelt without groups)."""


def _number_ok(text: str) -> bool:
    """Whether ``text`` is a number as :func:`~..items.is_number` takes it (digits with at most
    one point, the usual case, checked without the pattern)."""
    digits = text.replace(".", "", 1)
    return (digits.isdigit() and digits.isascii()) or _NUMBER_TEXT(text) is not None


def _b64_ok(text: object) -> bool:
    """Whether ``text`` is exactly what base64 encoding its bytes writes."""
    if type(text) is not str:
        return False
    try:
        return binascii.b2a_base64(binascii.a2b_base64(text), newline=False) == text.encode()
    except (binascii.Error, ValueError):
        return False


def _members_ok(tag: str, members: list[Any], binary_text: bool) -> bool:
    if not members:
        return False
    if tag == "SS":
        for member in members:
            if type(member) is not str:
                return False
    elif tag == "NS":
        for member in members:
            if type(member) is not str or not _number_ok(member):
                return False
    elif tag == "BS":
        for member in members:
            if not (_b64_ok(member) if binary_text else type(member) is bytes):
                return False
    else:
        return False
    return len(set(members)) == len(members)


def _list_ok(values: list[Any], binary_text: bool) -> bool:
    return all(_scan({"": value}, binary_text) for value in values)


def _text_ok(image: object) -> bool:
    """Whether ``image`` (text form) can be written as it is; see the comment above."""
    return _scan(image, True)


def _scan(image: object, binary_text: bool) -> bool:
    """The quick check of an image, binary as base64 text (``binary_text``) or as ``bytes``:
    True only when :func:`item_from_text` would accept its text form and, for text, it is
    exactly what :func:`item_to_text` writes."""
    if type(image) is not dict:
        return False
    for name, value in image.items():
        if type(value) is not dict or len(value) != 1 or type(name) is not str:
            return False
        for tag in value:
            payload = value[tag]
            kind = type(payload)
            if kind is str:
                if tag == "S":
                    continue
                if tag == "N":
                    if not _number_ok(payload):
                        return False
                elif tag != "B" or not binary_text or not _b64_ok(payload):
                    return False
            elif kind is dict:
                if tag != "M" or not _scan(payload, binary_text):
                    return False
            elif kind is list:
                if tag == "L":
                    if not _list_ok(payload, binary_text):
                        return False
                elif not _members_ok(tag, payload, binary_text):
                    return False
            elif kind is bool:
                if tag != "BOOL" and (tag != "NULL" or payload is not True):
                    return False
            elif kind is not bytes or tag != "B" or binary_text:
                return False
    return True


# --- lines ------------------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_line(record: LogRecord) -> str:
    """One compact JSON line (no newline) for ``record``; fields in the documented order."""
    return _dumps(record.line_object())


def _slow_line(obj: Any) -> bytes:
    """A line orjson refuses (a lone surrogate, an integer beyond 64 bits in
    ``userIdentity``), the slow way, which fails or writes it as before."""
    return _dumps(obj).encode("utf-8")


def _line_bytes(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:
        return _slow_line(obj)


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


def encode_object(records: Sequence[LogRecord], *, level: int = GZIP_LEVEL) -> EncodedObject:
    """The gzip JSON Lines object of ``records`` (in the order given); deterministic bytes.

    Lines are :func:`encode_line`'s, as UTF-8, made by orjson (the same bytes: compact, no
    ASCII escaping), binary values written as base64 as orjson meets them.
    """
    if not records:
        raise _fail("a change log object holds at least one record")
    dumps = orjson.dumps
    try:
        lines = [dumps(r.wire_line_object(), default=_base64) for r in records]
    except TypeError:
        lines = [_line_bytes(r.line_object()) for r in records]
    lines.append(b"")
    data = gzip.compress(b"\n".join(lines), compresslevel=level, mtime=0)
    return EncodedObject(data, len(records), hashlib.sha256(data).hexdigest())


def _base64(value: object) -> str:
    """orjson's hook for what it does not write itself: binary values, as base64."""
    if type(value) is bytes:
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON")


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
