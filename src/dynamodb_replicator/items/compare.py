"""Equality of items by value, the way DynamoDB stores them.

Two wire-format items can differ as dicts yet hold the same data: DynamoDB normalises numbers
(``"1.0"`` is stored as ``"1"``) and sets have no order. Comparison here maps each value to a
canonical, hashable form (numbers by exact string arithmetic, sets as frozensets, maps by
name) and compares those; identical dicts take a fast path.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from dynamodb_replicator.items.numbers import canonical_number
from dynamodb_replicator.items.wire import split_value

__all__ = [
    "AttributeDiff",
    "canonical_number",
    "canonical_value",
    "diff_items",
    "ignore_matcher",
    "items_equal",
    "values_equal",
]


def canonical_value(av: Mapping[str, Any]) -> Hashable:
    """A hashable form of one in-memory value, equal exactly when the values are equal.

    ``(tag, payload)`` with numbers canonicalised, sets as frozensets of canonical members,
    maps as name-sorted tuples of ``(name, canonical)``, lists as tuples, binary as ``bytes``.
    Values of different types are never equal (``{"S": "1"}`` is not ``{"N": "1"}``).
    """
    tag, payload = split_value(av)
    if tag == "N":
        return ("N", canonical_number(payload))
    if tag == "B":
        return ("B", bytes(payload))
    if tag == "M":
        entries = ((name, canonical_value(v)) for name, v in payload.items())
        return ("M", tuple(sorted(entries, key=lambda entry: entry[0])))
    if tag == "L":
        return ("L", tuple(canonical_value(v) for v in payload))
    if tag == "NS":
        return ("NS", frozenset(canonical_number(m) for m in payload))
    if tag == "BS":
        return ("BS", frozenset(bytes(m) for m in payload))
    if tag == "SS":
        return ("SS", frozenset(payload))
    return (tag, payload)  # S, BOOL, NULL


def values_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two in-memory values hold the same data (sets unordered, numbers by value)."""
    return a == b or canonical_value(a) == canonical_value(b)


def _has_magic(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def ignore_matcher(patterns: Collection[str]) -> Callable[[str], bool]:
    """A predicate telling whether an attribute name matches any of ``patterns``.

    Patterns are :func:`fnmatch.fnmatchcase` globs (``aws:rep:*``); plain names are looked up
    in a set.
    """
    literals = frozenset(p for p in patterns if not _has_magic(p))
    globs = tuple(p for p in patterns if _has_magic(p))
    if not globs:
        return literals.__contains__

    def matches(name: str) -> bool:
        return name in literals or any(fnmatchcase(name, g) for g in globs)

    return matches


def _kept_names(item: Mapping[str, Any], ignored: Callable[[str], bool] | None) -> set[str]:
    if ignored is None:
        return set(item)
    return {name for name in item if not ignored(name)}


def items_equal(a: Mapping[str, Any], b: Mapping[str, Any], ignore: Collection[str] = ()) -> bool:
    """Whether two in-memory items hold the same data, ignoring top-level attributes whose
    names match a pattern in ``ignore`` (see :func:`ignore_matcher`)."""
    if a == b:
        return True
    ignored = ignore_matcher(ignore) if ignore else None
    names = _kept_names(a, ignored)
    if names != _kept_names(b, ignored):
        return False
    return all(values_equal(a[name], b[name]) for name in names)


@dataclass(frozen=True, slots=True)
class AttributeDiff:
    """Which top-level attributes differ between a reference item and a replica.

    ``added``: only in the replica; ``removed``: only in the reference; ``changed``: in both
    with different values. Each is sorted. False (empty) when the items are equal.
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every differing attribute name, sorted."""
        return tuple(sorted({*self.added, *self.removed, *self.changed}))

    @property
    def is_empty(self) -> bool:
        """True when no attribute differs."""
        return not (self.added or self.removed or self.changed)

    def __bool__(self) -> bool:
        return not self.is_empty


def diff_items(
    a: Mapping[str, Any], b: Mapping[str, Any], ignore: Collection[str] = ()
) -> AttributeDiff:
    """The attribute-level difference from ``a`` (the primary, the reference) to ``b`` (the
    replica), ignoring names matching ``ignore``: ``added`` are in ``b`` only, ``removed`` in
    ``a`` only, ``changed`` in both but not equal by value."""
    if a == b:
        return AttributeDiff()
    ignored = ignore_matcher(ignore) if ignore else None
    names_a = _kept_names(a, ignored)
    names_b = _kept_names(b, ignored)
    changed = [n for n in names_a & names_b if not values_equal(a[n], b[n])]
    return AttributeDiff(
        added=tuple(sorted(names_b - names_a)),
        removed=tuple(sorted(names_a - names_b)),
        changed=tuple(sorted(changed)),
    )
