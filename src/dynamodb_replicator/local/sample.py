"""Sample items of every DynamoDB type, for the demo and the benchmarks (deterministic)."""

from __future__ import annotations

import random

from ..items import Item

__all__ = ["sample_item", "sample_items"]


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


def sample_items(count: int, seed: int = 7) -> list[Item]:
    """``count`` sample items, the same for the same seed."""
    rng = random.Random(seed)
    return [sample_item(i, rng) for i in range(count)]
