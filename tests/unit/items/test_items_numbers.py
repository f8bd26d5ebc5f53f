"""Number syntax and exact canonical form (string arithmetic, checked against Fraction)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import fraction, number_parts, numbers, spell

from dynamodb_replicator.errors import ItemFormatError
from dynamodb_replicator.items import canonical_number, is_number, significant_digits


@pytest.mark.parametrize(
    "s",
    ["0", "-0", "+1", "1.", ".5", "1.5", "1e5", "1E-5", "1e+5", "-12.5e-3", "007", "0.00"],
)
def test_is_number_accepts(s: str) -> None:
    assert is_number(s)


@pytest.mark.parametrize(
    "s",
    ["", " 1", "1 ", "1\n", ".", "-", "e5", "1e", "1e+", "NaN", "Infinity", "-inf", "0x10",
     "1_000", "1,5", "١٢", "1.2.3", "--1", "1e5.5"],
)  # fmt: skip
def test_is_number_rejects(s: str) -> None:
    assert not is_number(s)


def test_is_number_rejects_non_strings() -> None:
    assert not is_number(1)
    assert not is_number(None)


@pytest.mark.parametrize(
    ("s", "expected"),
    [
        ("1.0", "1"),
        ("1e2", "100"),
        ("1E+2", "100"),
        ("-0", "0"),
        ("-0.000e7", "0"),
        ("0.00", "0"),
        ("+5", "5"),
        ("00012.5000E-1", "1.25"),
        ("10E-1", "1"),
        ("0.1e1", "1"),
        (".5", "0.5"),
        ("5.", "5"),
        ("-0.0012300", "-0.00123"),
        ("123.456e1", "1234.56"),
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ("1234567890123456789012345678901234567.8e1", "12345678901234567890123456789012345678"),
        ("9.9999999999999999999999999999999999999E+125", "99999999999999999999999999999999999999" + "0" * 88),
        ("1E-130", "0." + "0" * 129 + "1"),
        ("-1.00000000000000000000000000000000000001", "-1.00000000000000000000000000000000000001"),
    ],
)  # fmt: skip
def test_canonical_number_examples(s: str, expected: str) -> None:
    assert canonical_number(s) == expected
    assert fraction(canonical_number(s)) == fraction(s)


def test_canonical_number_far_out_of_range_stays_unique_and_short() -> None:
    big = canonical_number("1e100000")
    assert big == canonical_number("10e99999") == "1E100000"
    assert canonical_number("-25e-100000") == "-25E-100000"
    assert len(canonical_number("1e-1000")) < 20


@pytest.mark.parametrize("s", ["abc", "", "1e", "NaN", "1e" + "9" * 20])
def test_canonical_number_rejects(s: str) -> None:
    with pytest.raises(ItemFormatError):
        canonical_number(s)


@settings(max_examples=300, deadline=None)
@given(numbers)
def test_canonical_number_keeps_the_exact_value(s: str) -> None:
    canonical = canonical_number(s)
    assert fraction(canonical) == fraction(s)
    assert canonical_number(canonical) == canonical
    assert "e" not in canonical.lower()


@settings(max_examples=300, deadline=None)
@given(st.data(), number_parts(), number_parts(), st.booleans())
def test_canonical_equal_iff_values_equal(
    data: st.DataObject,
    a_parts: tuple[bool, str, int],
    b_parts: tuple[bool, str, int],
    same: bool,
) -> None:
    a = data.draw(spell(a_parts))
    b = data.draw(spell(a_parts if same else b_parts))
    assert (canonical_number(a) == canonical_number(b)) == (fraction(a) == fraction(b))


@pytest.mark.parametrize(
    ("s", "count"),
    [("0", 0), ("-0.00", 0), ("100", 1), ("1.5", 2), ("0.00120", 2), ("12345678901234567890123456789012345678", 38)],
)  # fmt: skip
def test_significant_digits(s: str, count: int) -> None:
    assert significant_digits(s) == count
