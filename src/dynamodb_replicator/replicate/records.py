"""Change records -> :class:`Change` (pure).

Three sources share one shape, the DynamoDB Streams record:

- DynamoDB Streams records, from a Lambda event (binary values as base64 text) or from the
  Streams API through boto3 (binary already ``bytes``, the creation time a ``datetime``);
- Kinesis Data Streams for DynamoDB records: base64 JSON payloads, possibly duplicated and out
  of order, ordered by ``ApproximateCreationDateTime`` (unit per record) then the Kinesis
  sequence number;
- the original tool's own Kinesis records: the same JSON, ``KEYS_ONLY``, no creation time;
  ordered by Kinesis sequence number only, so they need fetch mode.

Parsing stops at the first record that cannot be parsed: what comes after it is retried anyway.
Records named to be skipped (by sequence number) are not parsed at all: they are kept aside,
with their keys for the log, so an operator can move past a record that is truly inconsistent.

Key attributes are compared by value everywhere (numbers by exact value, through the item
model's canonical form): a stream may spell one number key two ways (``Keys`` ``"1.50"``,
``NewImage`` ``"1.5"``), and that is one key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

from ..errors import ItemFormatError, RecordError
from ..items import (
    Item,
    Key,
    canonical_value,
    item_from_text,
    item_to_text,
    value_from_text,
    values_equal,
)

__all__ = [
    "EVENT_NAMES",
    "Change",
    "ParsedBatch",
    "RecordFailure",
    "SkippedRecord",
    "Source",
    "key_id_of",
    "keys_text",
    "parse_batch",
    "parse_kinesis_payload",
    "parse_kinesis_record",
    "parse_stream_record",
    "record_identifier",
    "table_of_stream_arn",
]

Source = Literal["dynamodb", "kinesis", "original-kinesis"]
"""Where a change came from: a DynamoDB stream, Kinesis Data Streams for DynamoDB, or the
original tool's Kinesis records (keys only, no creation time)."""

EVENT_NAMES: Final = frozenset({"INSERT", "MODIFY", "REMOVE"})

_PRECISION_US: Final = {"MILLISECOND": 1_000, "MICROSECOND": 1}
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_KEY_TAGS: Final = frozenset({"S", "N", "B"})


class Change(NamedTuple):
    """One change to one item, in the batch's order (immutable).

    A named tuple rather than a frozen dataclass: one is made per record on the hot path, and a
    tuple is built in a quarter of the time.

    ``new_image`` is ``None`` for a ``REMOVE`` and for records that carry keys only.
    ``rank`` orders changes of one key: the later position for DynamoDB streams (exact order),
    ``(creation time, Kinesis sequence number)`` for Kinesis sources. ``table`` is the source
    table's name when the record says it (``eventSourceARN`` of a stream record, ``tableName``
    of a Kinesis payload), else ``None``.
    """

    position: int
    record_id: str
    event_name: str
    key: Key
    key_id: Hashable
    new_image: Item | None
    created_us: int | None
    rank: tuple[int, int]
    source: Source
    ttl_delete: bool = False
    table: str | None = None

    @property
    def is_remove(self) -> bool:
        return self.event_name == "REMOVE"


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """The first record of a batch that could not be used, and why."""

    position: int
    record_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A record skipped on purpose (named by sequence number), with its keys as text for the
    log (``"unreadable"`` when the record holds none that can be read)."""

    position: int
    record_id: str
    keys: str


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """A batch after parsing: the changes before the first failure, every record's id, and
    the records skipped on purpose before the first failure."""

    changes: tuple[Change, ...]
    record_ids: tuple[str, ...]
    failure: RecordFailure | None = None
    skipped: tuple[SkippedRecord, ...] = ()


def key_id_of(key: Mapping[str, Any]) -> Hashable:
    """A hashable identity of a key (or of an item's key attributes named by ``key``).

    Name-sorted ``(name, canonical value)`` pairs (the item model's canonical form), so
    ``"1.50"`` and ``"1.5"`` are one key and binary compares as ``bytes``. Needs no key schema.
    """
    return tuple((name, canonical_value(key[name])) for name in sorted(key))


def _fail(what: str) -> RecordError:
    return RecordError(what, hint="see the record named above; fix its producer or its payload")


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if type(value) is not dict and not isinstance(value, Mapping):
        raise _fail(f"{what} must be an object, got {type(value).__name__}")
    return value


def _key(raw: object, binary_as_text: bool) -> Key:
    keys = _mapping(raw, "dynamodb.Keys")
    if not keys:
        raise _fail("dynamodb.Keys is empty")
    key: Key = {}
    for name, value in keys.items():
        if binary_as_text:
            value = value_from_text(value, f"Keys.{name}")
        elif not isinstance(value, Mapping) or len(value) != 1:
            raise _fail(f"Keys.{name} is not a wire-format value")
        ((tag, payload),) = value.items()
        if tag not in _KEY_TAGS or payload in ("", b""):
            raise _fail(f"Keys.{name}: {tag} is not a valid key value")
        key[name] = value
    return key


def _image(raw: object, key: Key, binary_as_text: bool) -> Item:
    image = _mapping(raw, "dynamodb.NewImage")
    item = item_from_text(image) if binary_as_text else dict(image)
    for name, value in key.items():
        held = item.get(name)
        if held is None or not values_equal(held, value):
            raise _fail(f"NewImage does not hold the record's key attribute {name!r}")
    return item


def _event_name(record: Mapping[str, Any]) -> str:
    name = record.get("eventName")
    if name not in EVENT_NAMES:
        raise _fail(f"unknown eventName {name!r} (expected INSERT, MODIFY or REMOVE)")
    return str(name)


def _is_ttl_delete(record: Mapping[str, Any], event_name: str) -> bool:
    identity = record.get("userIdentity")
    if event_name != "REMOVE" or not isinstance(identity, Mapping):
        return False
    kind = identity.get("type", identity.get("Type"))
    principal = identity.get("principalId", identity.get("PrincipalId"))
    return bool(kind == "Service" and principal == "dynamodb.amazonaws.com")


def _stream_created_us(value: object) -> int | None:
    """A DynamoDB stream record's creation time (epoch seconds, or a datetime) in microseconds."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return (moment - _EPOCH) // dt.timedelta(microseconds=1)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"ApproximateCreationDateTime {value!r} is not epoch seconds")
    return int(value) * 1_000_000 if isinstance(value, int) else round(value * 1_000_000)


def _common(
    record: Mapping[str, Any], binary_as_text: bool
) -> tuple[str, Mapping[str, Any], Key, Item | None]:
    event_name = _event_name(record)
    body = _mapping(record.get("dynamodb"), "dynamodb")
    try:
        key = _key(body.get("Keys"), binary_as_text)
        image = None
        if event_name != "REMOVE" and body.get("NewImage") is not None:
            image = _image(body["NewImage"], key, binary_as_text)
    except RecordError:
        raise
    except ItemFormatError as exc:
        raise _fail(exc.message) from exc
    return event_name, body, key, image


def parse_stream_record(
    record: Mapping[str, Any], *, binary_as_text: bool, position: int = 0
) -> Change:
    """A DynamoDB Streams record -> :class:`Change`.

    ``binary_as_text`` is true for Lambda events (binary as base64, converted here once) and
    false for records from the Streams API through boto3 (binary already ``bytes``).
    Raises :class:`RecordError` naming what is wrong.
    """
    record = _mapping(record, "a stream record")
    record_id = record_identifier(record)
    event_name, body, key, image = _common(record, binary_as_text)
    return Change(
        position=position,
        record_id=record_id,
        event_name=event_name,
        key=key,
        key_id=key_id_of(key),
        new_image=image,
        created_us=_stream_created_us(body.get("ApproximateCreationDateTime")),
        rank=(0, position),
        source="dynamodb",
        ttl_delete=_is_ttl_delete(record, event_name),
        table=_stream_table(record),
    )


def table_of_stream_arn(arn: str) -> str | None:
    """The table name in a DynamoDB stream ARN (``arn:...:table/NAME/stream/LABEL``), or
    ``None`` when ``arn`` is not one. Only the name is read: local servers put placeholders in
    the region and account."""
    _, found, rest = arn.partition(":table/")
    name = rest.split("/", 1)[0] if found else ""
    return name or None


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _stream_table(record: Mapping[str, Any]) -> str | None:
    arn = record.get("eventSourceARN")
    return table_of_stream_arn(arn) if isinstance(arn, str) else None


def _sequence(value: object) -> int:
    if not isinstance(value, str) or not value.isdigit():
        raise _fail(f"Kinesis sequence number {value!r} is not a decimal string")
    return int(value)


def _kinesis_created_us(body: Mapping[str, Any]) -> int | None:
    value = body.get("ApproximateCreationDateTime")
    if value is None:
        return None
    precision = body.get("ApproximateCreationDateTimePrecision", "MILLISECOND")
    unit = _PRECISION_US.get(precision)
    if unit is None:
        raise _fail(f"unknown ApproximateCreationDateTimePrecision {precision!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"ApproximateCreationDateTime {value!r} is not an integer")
    return value * unit


def parse_kinesis_payload(data: bytes | str, *, sequence_number: str, position: int = 0) -> Change:
    """The JSON payload of one Kinesis record (decoded bytes, or the JSON text) -> :class:`Change`.

    A payload with ``ApproximateCreationDateTime`` is Kinesis Data Streams for DynamoDB; one
    without it is the original tool's keys-only record, ordered by sequence number alone.
    """
    order = _sequence(sequence_number)
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"Kinesis data is not JSON ({exc})") from exc
    payload = _mapping(payload, "Kinesis data")
    event_name, body, key, image = _common(payload, binary_as_text=True)
    created = _kinesis_created_us(body)
    return Change(
        position=position,
        record_id=sequence_number,
        event_name=event_name,
        key=key,
        key_id=key_id_of(key),
        new_image=image,
        created_us=created,
        rank=(created if created is not None else 0, order),
        source="kinesis" if created is not None else "original-kinesis",
        ttl_delete=_is_ttl_delete(payload, event_name),
        table=_text_or_none(payload.get("tableName")),
    )


def parse_kinesis_record(record: Mapping[str, Any], *, position: int = 0) -> Change:
    """A Kinesis record of a Lambda event (``kinesis.data`` base64) -> :class:`Change`."""
    record = _mapping(record, "a Kinesis record")
    kinesis = _mapping(record.get("kinesis"), "kinesis")
    sequence_number = record_identifier(record)
    try:
        data = base64.b64decode(kinesis.get("data", ""), validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise _fail(f"kinesis.data is not base64 ({exc})") from exc
    return parse_kinesis_payload(data, sequence_number=sequence_number, position=position)


def record_identifier(record: Mapping[str, Any]) -> str:
    """The id Lambda wants back for a failed record: ``kinesis.sequenceNumber`` for Kinesis
    records, ``dynamodb.SequenceNumber`` for stream records. Raises :class:`RecordError` when
    missing, since an empty identifier fails the whole batch."""
    section, field = (
        ("kinesis", "sequenceNumber") if "kinesis" in record else ("dynamodb", "SequenceNumber")
    )
    body = record.get(section)
    value = body.get(field) if (type(body) is dict or isinstance(body, Mapping)) else None
    if not isinstance(value, str) or not value:
        raise RecordError(
            f"record has no {section}.{field}, so its failure could not be reported",
            hint="only DynamoDB Streams and Kinesis records can be replicated",
        )
    return value


def _parse_one(record: object, position: int, binary_as_text: bool) -> Change:
    record = _mapping(record, "a record")
    if "kinesis" in record:
        return parse_kinesis_record(record, position=position)
    return parse_stream_record(record, binary_as_text=binary_as_text, position=position)


def _raw_keys(record: Mapping[str, Any]) -> object:
    if "kinesis" in record:
        kinesis = record.get("kinesis")
        data = kinesis.get("data", "") if isinstance(kinesis, Mapping) else ""
        record = json.loads(base64.b64decode(data, validate=True))
        return record["dynamodb"]["Keys"]
    return record["dynamodb"]["Keys"]


def keys_text(record: Mapping[str, Any], *, binary_as_text: bool = True) -> str:
    """A record's ``Keys`` as one line of JSON (binary as base64), for logs; ``"unreadable"``
    when the record holds no keys that can be read. Kinesis payloads are always text."""
    try:
        keys = _raw_keys(record)
        if not isinstance(keys, Mapping) or not keys:
            return "unreadable"
        ordered = {name: keys[name] for name in sorted(keys)}
        text = item_to_text(item_from_text(ordered) if binary_as_text else ordered)
        return json.dumps(text, separators=(",", ":"), ensure_ascii=False)
    except (ItemFormatError, KeyError, TypeError, ValueError, binascii.Error):
        return "unreadable"


def parse_batch(
    records: Sequence[Any], *, binary_as_text: bool = True, skip: frozenset[str] = frozenset()
) -> ParsedBatch:
    """Parse a batch in order, stopping at the first record that cannot be used.

    Kinesis records (with a ``kinesis`` section) and DynamoDB stream records are told apart
    per record. Every record must carry its identifier (see :func:`record_identifier`):
    without one a partial-batch response is impossible, so :class:`RecordError` is raised.
    Records whose identifier is in ``skip`` are not parsed: they are listed in
    :attr:`ParsedBatch.skipped` instead.
    """
    record_ids = tuple(record_identifier(_mapping(r, "a record")) for r in records)
    changes: list[Change] = []
    skipped: list[SkippedRecord] = []
    for position, record in enumerate(records):
        if record_ids[position] in skip:
            text = keys_text(record, binary_as_text=binary_as_text or "kinesis" in record)
            skipped.append(SkippedRecord(position, record_ids[position], text))
            continue
        try:
            changes.append(_parse_one(record, position, binary_as_text))
        except ItemFormatError as exc:
            failure = RecordFailure(position, record_ids[position], exc.message)
            return ParsedBatch(tuple(changes), record_ids, failure, tuple(skipped))
    return ParsedBatch(tuple(changes), record_ids, skipped=tuple(skipped))
