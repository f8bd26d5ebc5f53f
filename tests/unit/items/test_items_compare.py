"""Canonical equality and attribute diffs."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import items, shuffled_sets

from dynamodb_replicator.errors import ItemFormatError
from dynamodb_replicator.items import (
    AttributeDiff,
    canonical_value,
    diff_items,
    ignore_matcher,
    items_equal,
    values_equal,
)


@settings(max_examples=150, deadline=None)
@given(items, st.randoms(use_true_random=False))
def test_shuffled_sets_are_equal(item: dict[str, Any], rnd: random.Random) -> None:
    other = {n: shuffled_sets(v, rnd) for n, v in item.items()}
    assert items_equal(item, other)
    assert items_equal(other, item)
    assert not diff_items(item, other)
    assert hash(canonical_value({"M": item})) == hash(canonical_value({"M": other}))


@settings(max_examples=150, deadline=None)
@given(items)
def test_item_equals_itself_and_reordered_maps(item: dict[str, Any]) -> None:
    reordered = dict(reversed(list(item.items())))
    assert items_equal(item, reordered)
    assert diff_items(item, reordered) == AttributeDiff()


@pytest.mark.parametrize("spelling", ["1.0", "1", "1e0", "10E-1", "0.1e1", "+1", "001.000"])
def test_number_spellings_are_equal(spelling: str) -> None:
    assert values_equal({"N": "1"}, {"N": spelling})
    assert values_equal({"NS": ["1", "2"]}, {"NS": ["2.0", spelling]})
    assert values_equal({"L": [{"N": spelling}]}, {"L": [{"N": "1"}]})


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"N": "1"}, {"N": "1.0000000000000000000000000000000000001"}),
        ({"N": "1"}, {"S": "1"}),
        ({"S": "a"}, {"SS": ["a"]}),
        ({"NS": ["1", "2"]}, {"NS": ["1", "3"]}),
        ({"SS": ["a", "b"]}, {"SS": ["a"]}),
        ({"BS": [b"a"]}, {"BS": [b"b"]}),
        ({"L": [{"N": "1"}, {"N": "2"}]}, {"L": [{"N": "2"}, {"N": "1"}]}),
        ({"M": {"a": {"N": "1"}}}, {"M": {"a": {"N": "1"}, "b": {"NULL": True}}}),
        ({"B": b""}, {"S": ""}),
        ({"BOOL": True}, {"BOOL": False}),
        ({"NULL": True}, {"BOOL": True}),
    ],
)
def test_different_values_are_unequal(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert not values_equal(a, b)
    assert not values_equal(b, a)


def test_maps_compare_by_name() -> None:
    a = {"m": {"M": {"x": {"N": "1"}, "y": {"SS": ["p", "q"]}}}}
    b = {"m": {"M": {"y": {"SS": ["q", "p"]}, "x": {"N": "1.0"}}}}
    assert items_equal(a, b)


def test_diff_items() -> None:
    primary = {"pk": {"S": "k"}, "gone": {"N": "1"}, "same": {"NS": ["1", "2"]}, "v": {"S": "a"}}
    replica = {"pk": {"S": "k"}, "new": {"N": "1"}, "same": {"NS": ["2", "1.0"]}, "v": {"S": "b"}}
    diff = diff_items(primary, replica)
    assert diff == AttributeDiff(added=("new",), removed=("gone",), changed=("v",))
    assert diff.names == ("gone", "new", "v")
    assert diff
    assert not diff.is_empty
    assert not items_equal(primary, replica)


def test_empty_diff() -> None:
    diff = diff_items({"a": {"S": "x"}}, {"a": {"S": "x"}})
    assert not diff
    assert diff.is_empty
    assert diff.names == ()


def test_ignore_patterns() -> None:
    a = {"pk": {"S": "k"}, "aws:rep:updatetime": {"N": "1"}, "ttl": {"N": "5"}}
    b = {"pk": {"S": "k"}, "aws:rep:updateregion": {"S": "x"}, "ttl": {"N": "6"}}
    assert not items_equal(a, b)
    assert not items_equal(a, b, ignore=["aws:rep:*"])
    assert items_equal(a, b, ignore=["aws:rep:*", "ttl"])
    assert diff_items(a, b, ignore=["aws:rep:*"]) == AttributeDiff(changed=("ttl",))
    assert diff_items(a, b, ignore={"ttl"}).names == ("aws:rep:updateregion", "aws:rep:updatetime")


def test_ignore_matcher() -> None:
    match = ignore_matcher(["exact", "aws:rep:*", "x?"])
    assert match("exact")
    assert match("aws:rep:deleting")
    assert match("xy")
    assert not match("Exact")
    assert not match("xyz")
    assert not ignore_matcher([])("anything")
    assert ignore_matcher(["a"])("a")


def test_canonical_value_is_hashable_and_typed() -> None:
    value = {"M": {"s": {"SS": ["b", "a"]}, "l": {"L": [{"B": b"x"}, {"NULL": True}]}}}
    assert canonical_value(value) == (
        "M",
        (("l", ("L", (("B", b"x"), ("NULL", True)))), ("s", ("SS", frozenset({"a", "b"})))),
    )
    assert canonical_value({"N": "-0.0"}) == ("N", "0")


def test_canonical_value_rejects_malformed_values() -> None:
    with pytest.raises(ItemFormatError, match="unknown type tag"):
        canonical_value({"Q": 1})
    with pytest.raises(ItemFormatError, match="not a number"):
        values_equal({"N": "1"}, {"N": "x"})
