"""Hypothesis strategies for in-memory DynamoDB items (binary as bytes, numbers as strings).

Covers every type, M/L nesting to depth 3, 38-digit numbers with exponents, empty strings and
binary, astral-plane characters and NUL, binary nested in maps, lists and sets.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

DIGITS = "0123456789"

# Code points without surrogates (DynamoDB strings are UTF-8), plus the awkward ones forced in.
_chars = st.characters(exclude_categories=["Cs"])
texts = st.one_of(
    st.text(_chars, max_size=12),
    st.sampled_from(["", "\x00", "a\x00b", "\U0001f600", "\U0010ffff", "é", "\u2028", '"\\/']),
)
names = st.one_of(
    st.text(_chars, min_size=1, max_size=8),
    st.sampled_from(["pk", "sk", "aws:rep:updatetime", "a.b", "\U0001f600", "\x00"]),
)
binaries = st.one_of(st.binary(max_size=16), st.sampled_from([b"", b"\x00", b"\xff\xfe"]))


@st.composite
def number_parts(draw: st.DrawFn) -> tuple[bool, str, int]:
    """A DynamoDB-range value as (negative, significant digits, exponent): value = digits*10**e.

    ``digits`` has no leading or trailing zero ("" for zero); up to 38 digits.
    """
    if draw(st.integers(0, 15)) == 0:
        return (draw(st.booleans()), "", 0)
    count = draw(st.integers(1, 38))
    if count == 1:
        digits = draw(st.sampled_from("123456789"))
    else:
        middle = draw(st.text(DIGITS, min_size=count - 2, max_size=count - 2))
        digits = draw(st.sampled_from("123456789")) + middle + draw(st.sampled_from("123456789"))
    # Keep the magnitude within 1E-130 .. 9.99E+125.
    exponent = draw(st.integers(-130, 126 - count))
    return (draw(st.booleans()), digits, exponent)


@st.composite
def spell(draw: st.DrawFn, parts: tuple[bool, str, int]) -> str:
    """Some valid spelling of the value ``parts`` (zeros, point and exponent vary)."""
    negative, digits, exponent = parts
    trail = draw(st.integers(0, 3))
    body = (digits or "0") + "0" * trail
    exponent -= trail
    point = draw(st.integers(0, len(body)))
    fraction_len = len(body) - point
    written_exponent = exponent + fraction_len
    lead = "0" * draw(st.integers(0, 2))
    if fraction_len == 0 and draw(st.booleans()):
        mantissa = lead + body
    else:
        mantissa = lead + body[:point] + "." + body[point:]
    if written_exponent != 0 or draw(st.booleans()):
        e = draw(st.sampled_from(["e", "E"]))
        sign = draw(st.sampled_from(["", "+"])) if written_exponent >= 0 else ""
        mantissa += f"{e}{sign}{written_exponent}"
    if negative:
        return "-" + mantissa
    return draw(st.sampled_from(["", "", "+"])) + mantissa


numbers = number_parts().flatmap(spell)
"""Number strings in DynamoDB's range, spelled in many ways."""

plain_numbers = st.one_of(
    st.integers(-(10**38) + 1, 10**38 - 1).map(str),
    st.sampled_from(["0", "1", "-1", "12345678901234567890123456789012345678", "1E-130"]),
    numbers,
)


def fraction(s: str) -> Fraction:
    """The exact value of a number string (test-side oracle)."""
    return Fraction(s)


def _set_of(members: st.SearchStrategy[Any], **kw: Any) -> st.SearchStrategy[list[Any]]:
    return st.lists(members, min_size=1, max_size=5, **kw)


leaves: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.builds(lambda s: {"S": s}, texts),
    st.builds(lambda n: {"N": n}, plain_numbers),
    st.builds(lambda b: {"B": b}, binaries),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda m: {"SS": m}, _set_of(texts, unique=True)),
    st.builds(lambda m: {"NS": m}, _set_of(plain_numbers, unique_by=fraction)),
    st.builds(lambda m: {"BS": m}, _set_of(binaries, unique=True)),
)


def values(depth: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    """Any value, with M and L nested up to ``depth`` levels."""
    if depth == 0:
        return leaves
    child = values(depth - 1)
    return st.one_of(
        leaves,
        st.builds(lambda m: {"M": m}, st.dictionaries(names, child, max_size=4)),
        st.builds(lambda items: {"L": items}, st.lists(child, max_size=4)),
    )


items = st.dictionaries(names, values(), max_size=6)
"""Arbitrary in-memory items."""


def shuffled_sets(value: Any, rnd: Any) -> Any:
    """``value`` with every set's members shuffled (recursively), using ``rnd``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for tag, payload in value.items():
            if tag in ("SS", "NS", "BS"):
                members = list(payload)
                rnd.shuffle(members)
                out[tag] = members
            elif tag == "M":
                out[tag] = {n: shuffled_sets(v, rnd) for n, v in payload.items()}
            elif tag == "L":
                out[tag] = [shuffled_sets(v, rnd) for v in payload]
            else:
                out[tag] = payload
        return out
    return value
