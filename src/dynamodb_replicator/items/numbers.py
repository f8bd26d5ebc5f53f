"""DynamoDB numbers as exact decimal strings.

DynamoDB numbers have up to 38 significant digits and exponents from -130 to +125: more than a
float holds, and more than :mod:`decimal`'s default context keeps. This module never converts a
number to ``float`` or :class:`decimal.Decimal`; it parses the string and works on its digits.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from dynamodb_replicator.errors import ItemFormatError

__all__ = ["canonical_number", "is_number", "significant_digits"]

_NUMBER = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?", re.ASCII)

# A canonical number longer than this in plain notation is written as ``<digits>E<exponent>``
# instead (only values far outside DynamoDB's range get there).
_PLAIN_LIMIT = 400
# Exponents with more digits than this are not numbers anyone stores (and ``int()`` of a huge
# digit string is slow or refused).
_MAX_EXPONENT_DIGITS = 12


class _Parts(NamedTuple):
    """A number as ``sign * digits * 10**exponent`` with no leading or trailing zero digits."""

    negative: bool
    digits: str  # "" for zero
    exponent: int


def _match(s: str) -> re.Match[str] | None:
    match = _NUMBER.fullmatch(s)
    if match is None or not (match.group(2) or match.group(3)):
        return None  # no digit at all before the exponent: "", ".", "e5", "-"
    return match


def is_number(s: object) -> bool:
    """Whether ``s`` is a string DynamoDB accepts as a number, syntactically.

    An optional sign, digits with an optional fraction (``1``, ``1.``, ``.5``, ``1.5``), an
    optional exponent (``e``/``E``, optional sign, digits). No whitespace, NaN, Infinity or hex.
    The 38-digit and exponent limits are not checked here.
    """
    return isinstance(s, str) and _match(s) is not None


def _parts(s: str) -> _Parts:
    match = _match(s) if isinstance(s, str) else None
    if match is None:
        raise ItemFormatError(
            f"{s!r} is not a number",
            hint="a DynamoDB number is a decimal string such as '12', '-0.5' or '1.5E+3'",
        )
    sign, whole, fraction, exponent_text = match.groups()
    fraction = fraction or ""
    exponent = 0
    if exponent_text:
        unsigned = exponent_text.lstrip("+-").lstrip("0")
        if len(unsigned) > _MAX_EXPONENT_DIGITS:
            raise ItemFormatError(
                f"{s!r}: exponent out of range",
                hint="DynamoDB exponents run from -130 to +125",
            )
        exponent = int(exponent_text)
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return _Parts(False, "", 0)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped) - len(fraction)
    return _Parts(sign == "-", stripped, exponent)


def significant_digits(s: str) -> int:
    """How many significant digits the number ``s`` has (leading and trailing zeros trimmed)."""
    return len(_parts(s).digits)


def canonical_number(s: str) -> str:
    """The exact value of the number ``s`` in one normal form: equal values, equal strings.

    Plain notation like DynamoDB's own: no exponent, no leading or trailing zeros, no ``+``,
    no ``.`` for integers, ``"0"`` for every zero (``"1.0"`` -> ``"1"``, ``"1e2"`` -> ``"100"``,
    ``"-0"`` -> ``"0"``, ``"00012.5000E-1"`` -> ``"1.25"``). Values too large or small for a
    short plain form (far beyond DynamoDB's range) come out as ``<digits>E<exponent>``, which
    depends only on the value, so the form stays unique. Raises :class:`ItemFormatError` if
    ``s`` is not a number.
    """
    negative, digits, exponent = _parts(s)
    if not digits:
        return "0"
    sign = "-" if negative else ""
    count = len(digits)
    if exponent >= 0:
        if count + exponent > _PLAIN_LIMIT:
            return f"{sign}{digits}E{exponent}"
        return sign + digits + "0" * exponent
    point = count + exponent  # digits before the decimal point
    if point > 0:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if count - point > _PLAIN_LIMIT:
        return f"{sign}{digits}E{exponent}"
    return f"{sign}0.{'0' * -point}{digits}"
