"""The chaos proxy's fault plan: deterministic at a seed, near its rate, batch kinds only for
batch operations, and partial batches that lose nothing."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from chaos.proxy import FaultPlan, _merge_leftovers, _split_batch


def test_the_same_seed_draws_the_same_faults() -> None:
    plan = FaultPlan(seed=5, rate=0.2)
    bodies = [f'{{"TableName":"t","Key":{{"pk":{{"S":"{i}"}}}}}}'.encode() for i in range(200)]
    first = [plan.draw("PutItem", body, 1)[0] for body in bodies]
    assert first == [plan.draw("PutItem", body, 1)[0] for body in bodies]
    assert first != [FaultPlan(seed=6, rate=0.2).draw("PutItem", b, 1)[0] for b in bodies]
    retried = [plan.draw("PutItem", body, 2)[0] for body in bodies]
    assert retried != first  # a retry is a new draw


def test_rate_and_kinds() -> None:
    plan = FaultPlan(seed=1, rate=0.2)
    kinds = Counter(plan.draw("PutItem", str(i).encode(), 1)[0] for i in range(5000))
    assert 0.17 < 1 - kinds[None] / 5000 < 0.23
    assert "unprocessed" not in kinds  # only batch operations get partial answers
    batch = Counter(plan.draw("BatchWriteItem", str(i).encode(), 1)[0] for i in range(5000))
    assert batch["unprocessed"] > 0
    assert FaultPlan(rate=1.0, only=frozenset({"Scan"})).draw("PutItem", b"x", 1)[0] is None
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultPlan(weights={"meteor": 1})


@pytest.mark.parametrize("operation", ["BatchWriteItem", "BatchGetItem"])
def test_a_partial_batch_hands_back_exactly_what_it_did_not_forward(operation: str) -> None:
    requests = [{"PutRequest": {"Item": {"pk": {"S": str(i)}}}} for i in range(25)]
    keys = [{"pk": {"S": str(i)}} for i in range(25)]
    body = requests if operation == "BatchWriteItem" else {"Keys": keys, "ConsistentRead": True}
    forward, held = _split_batch(operation, {"RequestItems": {"t": body}}, random.Random(3), 0.5)
    answer: dict[str, object] = {}
    _merge_leftovers(operation, answer, held)
    if operation == "BatchWriteItem":
        assert sorted(map(str, forward["t"] + held["t"])) == sorted(map(str, requests))
        assert answer == {"UnprocessedItems": {"t": held["t"]}}
    else:
        assert sorted(map(str, forward["t"]["Keys"] + held["t"]["Keys"])) == sorted(map(str, keys))
        assert answer == {
            "UnprocessedKeys": {"t": {"ConsistentRead": True, "Keys": held["t"]["Keys"]}}
        }
    assert forward
    assert held
