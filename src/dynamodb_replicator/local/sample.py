"""Sample items of every DynamoDB type, for the demo, tests and benchmarks (deterministic)."""

from __future__ import annotations

import random

from ..items import AttributeValue, Item

__all__ = ["light_item", "sample_item", "sample_items"]


def sample_item(index: int, rng: random.Random) -> Item:
    """Item ``index``: every attribute type, binary nested in maps, lists and sets, a 38-digit number."""
    blob = rng.randbytes(16)
    return {
        "pk": {"S": f"item-{index:08d}"},
        "n38": {"N": "1234567890123456789012345678901234567" + str(index % 10)},
        "small": {"N": str(rng.randint(-1000, 1000))},
        "frac": {"N": f"{rng.randint(0, 10**6)}.{rng.randint(0, 999):03d}"},
        "text": {"S": f"héllo wörld ✓ 🦆 #{index}"},
        "empty": {"S": ""},
        "bin": {"B": blob},
        "flag": {"BOOL": index % 2 == 0},
        "nothing": {"NULL": True},
        "tags": {"SS": sorted({f"t{rng.randint(0, 9)}" for _ in range(3)})},
        "nums": {"NS": sorted({str(rng.randint(0, 99)) for _ in range(3)})},
        "bins": {"BS": [blob[:4], blob[4:8] + b"\x00"]},
        "map": {
            "M": {
                "nested_bin": {"B": blob[::-1]},
                "list": {"L": [{"N": "-0.5"}, {"S": "x"}, {"B": b"\xff\x00"}]},
            }
        },
    }


def _rotating_values(index: int, rng: random.Random) -> list[tuple[str, AttributeValue]]:
    blob = rng.randbytes(8)
    return [
        ("n38", {"N": "9876543210987654321098765432109876543" + str(index % 10)}),
        ("text", {"S": f"ünïcode ✓ 🦆 #{index}"}),
        ("empty", {"S": ""}),
        ("bin", {"B": blob}),
        ("flag", {"BOOL": index % 2 == 0}),
        ("nothing", {"NULL": True}),
        ("tags", {"SS": [f"t{index % 7}", "all"]}),
        ("nums", {"NS": [str(index), "-1.5"]}),
        ("bins", {"BS": [blob[:3], b"\x00"]}),
        ("map", {"M": {"b": {"B": blob[::-1]}, "l": {"L": [{"BS": [b"\xff"]}, {"N": "0.1"}]}}}),
    ]


def light_item(index: int, rng: random.Random) -> Item:
    """A small item of item ``index``: the key and four attribute types, rotating with the index.

    Every ten consecutive items hold every DynamoDB type between them (binary nested in maps,
    lists and sets, a 38-digit number, empty strings, unicode), at a fraction of the size of
    :func:`sample_item`: the demo's embedded server is slow with wide items.
    """
    values = _rotating_values(index, rng)
    picked = [values[(index + step) % len(values)] for step in range(4)]
    return {"pk": {"S": f"item-{index:08d}"}, **dict(picked)}


def sample_items(count: int, seed: int = 7, *, light: bool = False) -> list[Item]:
    """``count`` sample items, the same for the same seed."""
    rng = random.Random(seed)
    make = light_item if light else sample_item
    return [make(i, rng) for i in range(count)]
