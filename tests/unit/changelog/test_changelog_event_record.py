"""The Lambda writer's quick path (``event_record``): it writes exactly the bytes of the slow
path, and its check of a text image never passes what ``item_from_text`` refuses."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamodb_replicator.changelog.format import (
    ChangeRecord,
    _scan,
    _text_ok,
    encode_line,
    encode_object,
    event_record,
    record_from_stream,
)
from dynamodb_replicator.errors import ChangeLogError, ItemFormatError
from dynamodb_replicator.items import item_from_text, item_to_text
from unit.items.strategies import binaries, items, plain_numbers, texts

TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def _raw(keys: Any, new: Any = None, old: Any = None, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ApproximateCreationDateTime": 1_700_000_000, "Keys": keys,
                            "SequenceNumber": "111100000000000000000000000001"}  # fmt: skip
    if new is not None:
        body["NewImage"] = new
    if old is not None:
        body["OldImage"] = old
    record = {"eventID": "e1", "eventName": "MODIFY", "dynamodb": body, **over}
    return json.loads(json.dumps(record))  # as Lambda hands it over


@settings(max_examples=100, deadline=None)
@given(items.filter(bool), items, st.none() | items, st.none() | st.just(TTL))
def test_the_quick_path_writes_the_slow_paths_bytes(
    keys: Any, new: Any, old: Any, user: Any
) -> None:
    over = {} if user is None else {"userIdentity": user}
    text = _raw(item_to_text(keys), item_to_text(new), old and item_to_text(old), **over)
    quick = event_record(text)
    assert quick.as_received
    api = {**text, "dynamodb": {**text["dynamodb"], "Keys": keys, "NewImage": new}}
    if old is not None:
        api["dynamodb"]["OldImage"] = old
    slow = record_from_stream(api, binary_as_text=False)
    assert encode_line(quick) == encode_line(slow)
    assert encode_object([quick]).data == encode_object([slow]).data
    assert quick.change_record() == slow
    assert quick.seconds == slow.seconds
    assert quick.order == slow.order


@settings(max_examples=50, deadline=None)
@given(st.lists(items.filter(bool), min_size=1, max_size=4))
def test_object_lines_are_encode_lines(images: list[Any]) -> None:
    records = [event_record(_raw(item_to_text(i), item_to_text(i))) for i in images]
    text = gzip.decompress(encode_object(records).data).decode("utf-8")
    assert text == "".join(encode_line(r) + "\n" for r in records)


# Values near wire format, often wrong in one place: the check must be exactly as strict.
_tags = st.sampled_from(["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS", "X"])
_leaves = st.one_of(texts, st.booleans(), st.integers(-2, 2), st.floats(allow_nan=False),
                    st.none(), st.just([]), st.just({}))  # fmt: skip
_b64 = st.one_of(
    binaries.map(lambda b: base64.b64encode(b).decode()),
    st.sampled_from(["AB==", "AAF=", "/x==", "not base64!", "AA==\n", "A", "AA=", "é"]),
)
_numbers = st.one_of(
    plain_numbers,
    st.sampled_from(["1.", ".5", ".", "1e", "\u0661", "+1", "--1", "1.2.3", " 1", "1_0", "0x1"]),
)


def _one(tag: str) -> Any:
    return lambda payload: {tag: payload}


_scalars = st.one_of(
    texts.map(_one("S")),
    _numbers.map(_one("N")),
    _b64.map(_one("B")),
    st.booleans().map(_one("BOOL")),
    st.just({"NULL": True}),
    st.lists(texts, max_size=3).map(_one("SS")),
    st.lists(_numbers, max_size=3).map(_one("NS")),
    st.lists(_b64, max_size=3).map(_one("BS")),
    st.builds(lambda tag, payload: {tag: payload}, _tags, _leaves),
    _leaves,
)


def _two_tags(a: Any, b: Any) -> Any:
    return {**a, **b} if isinstance(a, dict) and isinstance(b, dict) else a


_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.dictionaries(texts, inner, max_size=3).map(_one("M")),
        st.lists(inner, max_size=3).map(_one("L")),
        st.builds(_two_tags, inner, inner),
    ),
    max_leaves=10,
)
_images = st.dictionaries(texts, _values, max_size=4)


@settings(max_examples=400, deadline=None)
@given(_images)
def test_the_quick_check_passes_only_what_the_slow_path_writes_as_it_is(image: Any) -> None:
    if _text_ok(image):
        assert item_to_text(item_from_text(image)) == image


@settings(max_examples=100, deadline=None)
@given(items)
def test_the_quick_check_passes_every_canonical_image(item: Any) -> None:
    assert _text_ok(json.loads(json.dumps(item_to_text(item))))


@pytest.mark.parametrize(
    ("image", "refused"),
    [
        ({"b": {"B": "not base64!"}}, "base64"),
        ({"n": {"N": "1.2.3"}}, "not a number"),
        ({"s": {"SS": ["a", "a"]}}, "duplicate"),
        ({"s": {"SS": []}}, "must not be empty"),
        ({"s": {"S": 1}}, "S must be a string"),
        ({"x": {"S": "a", "N": "1"}}, "exactly one type tag"),
        ({"l": {"L": [{"BOOL": 1}]}}, "BOOL must be true or false"),
    ],
)
def test_a_bad_image_is_refused_naming_it(image: Any, refused: str) -> None:
    with pytest.raises(ChangeLogError, match=rf"record 1111\d+: .*{refused}"):
        event_record(_raw({"pk": {"S": "a"}}, image))
    with pytest.raises(ItemFormatError, match=refused):
        item_from_text(image)


def test_a_non_canonical_base64_is_written_as_its_bytes_encode() -> None:
    record = event_record(_raw({"pk": {"B": "AB=="}}, {"pk": {"B": "AB=="}, "x": {"L": []}}))
    assert not record.as_received
    assert record.keys == {"pk": {"B": "AA=="}}
    assert json.loads(encode_line(record))["newImage"] == {"pk": {"B": "AA=="}, "x": {"L": []}}
    assert record.change_record().text is None


def test_record_checks_name_the_record() -> None:
    with pytest.raises(ChangeLogError, match="no Keys"):
        event_record(_raw({}))
    with pytest.raises(ChangeLogError, match=r"dynamodb\.NewImage is not an object"):
        event_record(_raw({"pk": {"S": "a"}}, ["x"]))
    raw = _raw({"pk": {"S": "a"}})
    raw["dynamodb"]["ApproximateCreationDateTime"] = True
    with pytest.raises(ChangeLogError, match="not epoch seconds"):
        event_record(raw)
    with pytest.raises(ChangeLogError, match="fractional"):
        event_record(_raw({"pk": {"S": "a"}}, userIdentity={"x": 1.5}))


def test_fractional_seconds_and_binary_keys() -> None:
    raw = _raw({"pk": {"B": base64.b64encode(b"\x00\xff").decode()}})
    raw["dynamodb"]["ApproximateCreationDateTime"] = 1_700_000_000.75
    record = event_record(raw)
    assert (record.time, record.time_unit, record.seconds) == ("1700000000.75", "s", 1_700_000_000)
    assert record.change_record().keys == {"pk": {"B": b"\x00\xff"}}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.builds(
            ChangeRecord,
            event_id=texts,
            sequence_number=st.integers(0, 10**40).map(str),
            time=st.integers(0, 2**40).map(str),
            time_unit=st.sampled_from(["s", "ms", "us"]),
            event_name=st.sampled_from(["INSERT", "MODIFY", "REMOVE"]),
            keys=items.filter(bool),
            new_image=st.none() | items,
            old_image=st.none() | items,
            user_identity=st.none() | st.just(TTL),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_in_memory_records_are_written_as_encode_line_writes_them(
    records: list[ChangeRecord],
) -> None:
    """The follower's records (binary as bytes) go to orjson as they are: the same bytes."""
    text = gzip.decompress(encode_object(records).data).decode("utf-8")
    assert text == "".join(encode_line(r) + "\n" for r in records)


@settings(max_examples=300, deadline=None)
@given(_images)
def test_the_in_memory_check_passes_only_what_item_to_text_writes(image: Any) -> None:
    """Images whose binary values are bytes (as from the Streams API): what the check passes
    is written, base64 for bytes, exactly as item_to_text writes it, and reads back."""
    memory = _to_bytes(image)
    if _scan(memory, False):
        text = item_to_text(memory)
        assert item_from_text(text) == memory


def _to_bytes(value: Any) -> Any:
    """``value`` with each base64 text that decodes turned into bytes (the rest kept)."""
    if isinstance(value, dict):
        if len(value) == 1 and "B" in value and isinstance(value["B"], str):
            try:
                return {"B": base64.b64decode(value["B"], validate=True)}
            except ValueError:
                return value
        return {k: _to_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_bytes(v) for v in value]
    return value


def test_an_in_memory_image_the_check_refuses_goes_the_slow_way() -> None:
    record = ChangeRecord("e", "1", "1", "s", "INSERT", {"pk": {"B": bytearray(b"\x01")}},
                          {"pk": {"B": bytearray(b"\x01")}, "t": {"SS": ("a",)}})  # fmt: skip
    assert json.loads(encode_line(record))["newImage"] == {"pk": {"B": "AQ=="}, "t": {"SS": ["a"]}}
    text = gzip.decompress(encode_object([record]).data).decode("utf-8")
    assert text == encode_line(record) + "\n"
    bad = ChangeRecord("e", "1", "1", "s", "INSERT", {"pk": {"S": "a"}}, {"n": {"N": 1.5}})
    with pytest.raises(ItemFormatError, match="N must be a string"):
        encode_object([bad])
