"""Pure parts of the diff job: classification, conditions, repair items, reports, options."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamodb_replicator.diff import (
    Action,
    DiffOptions,
    DiffResult,
    DiffStats,
    Discrepancy,
    Kind,
    check_options,
    format_human,
    format_jsonl,
    summary_lines,
)
from dynamodb_replicator.diff.passes import classify
from dynamodb_replicator.diff.repair import (
    MAX_OPERATORS,
    absent_condition,
    unchanged_condition,
    write_item,
)
from dynamodb_replicator.diff.segment import SegmentOutcome
from dynamodb_replicator.diff.worker import merge_partial_outcomes
from dynamodb_replicator.errors import PartialSegmentError, ReplicatorError, UsageError
from dynamodb_replicator.items import KeySchema

KEY = {"pk": {"S": "a"}}


def test_classify_each_kind() -> None:
    p = {**KEY, "n": {"N": "1.0"}, "s": {"SS": ["a", "b"]}}
    assert classify(KEY, None, None) is None
    assert classify(KEY, p, None) == Discrepancy(Kind.MISSING, KEY)
    assert classify(KEY, None, p) == Discrepancy(Kind.EXTRANEOUS, KEY)
    assert classify(KEY, p, {**KEY, "n": {"N": "1"}, "s": {"SS": ["b", "a"]}}) is None
    found = classify(KEY, p, {**KEY, "n": {"N": "2"}, "x": {"S": ""}})
    assert found is not None
    assert found.attributes == ("n", "s", "x")
    assert classify(KEY, p, {**KEY, "n": {"N": "2"}, "s": p["s"]}, ignore=("n",)) is None


def test_unchanged_condition_names_every_attribute_by_placeholder() -> None:
    item = {**KEY, "a weird:name": {"B": b"\x00"}}
    cond = unchanged_condition(item)
    assert cond is not None
    assert cond.expression == "#a0 = :v0 AND #a1 = :v1"
    assert dict(cond.names) == {"#a0": "pk", "#a1": "a weird:name"}
    assert dict(cond.values) == {":v0": {"S": "a"}, ":v1": {"B": b"\x00"}}
    assert absent_condition(KeySchema("pk", "S")).args()["ConditionExpression"] == (
        "attribute_not_exists(#k)"
    )


def test_unchanged_condition_gives_up_past_expression_limits() -> None:
    wide = {f"a{i}": {"N": str(i)} for i in range(MAX_OPERATORS // 2 + 1)}
    assert unchanged_condition(wide) is None
    big = {**KEY, "blob": {"B": b"x" * 310_000}}
    assert unchanged_condition(big) is None


def test_write_item_keeps_replica_values_of_ignored_attributes() -> None:
    primary = {**KEY, "v": {"N": "1"}, "aws:rep:updatetime": {"N": "5"}}
    replica = {**KEY, "v": {"N": "0"}, "aws:rep:updatetime": {"N": "9"}, "seen": {"S": "r"}}
    out = write_item(primary, replica, ("aws:rep:*", "seen"))
    assert out == {**KEY, "v": {"N": "1"}, "aws:rep:updatetime": {"N": "9"}, "seen": {"S": "r"}}
    assert write_item(primary, None, ()) == primary


def test_report_lines() -> None:
    key = {"pk": {"S": "a"}, "sk": {"B": b"\xff"}}
    d = Discrepancy(Kind.DIFFERENT, key, ("a", "b"))
    assert (
        format_human(d, ["pk", "sk"])
        == '[different] {"pk":{"S":"a"},"sk":{"B":"/w=="}} attributes: a, b'
    )
    assert format_human(
        Discrepancy(Kind.MISSING, key, action=Action.REPAIRED), ["pk", "sk"]
    ).endswith("(repaired)")
    line = json.loads(format_jsonl(Discrepancy(Kind.EXTRANEOUS, key), ["pk", "sk"]))
    assert line == {
        "kind": "extraneous",
        "key": {"pk": {"S": "a"}, "sk": {"B": "/w=="}},
        "attributes": [],
        "action": "none",
    }


def test_summary_and_agreement() -> None:
    stats = DiffStats(
        scanned_primary=3,
        scanned_replica=2,
        missing=1,
        repaired=1,
        read_units=1.5,
        requests=200,
        retried_errors=5,
    )
    result = DiffResult(
        (Discrepancy(Kind.MISSING, KEY, action=Action.REPAIRED, resolved=True),), stats, 1.25
    )
    text = "\n".join(summary_lines(result))
    assert "scanned: primary 3, replica 2" in text
    assert "repaired 1, skipped 0, failed 0" in text
    assert "read 1.5, write 0 units" in text
    assert "5 of 200 requests failed and were retried (2.5%)" in text
    assert result.agree
    failed = DiffResult((Discrepancy(Kind.MISSING, KEY, action=Action.FAILED),), stats)
    assert failed.failed_keys == (KEY,)
    assert not failed.agree


_FIELDS = len(DiffStats.__dataclass_fields__)


@given(
    st.lists(st.integers(0, 1000), min_size=_FIELDS, max_size=_FIELDS),
    st.lists(st.integers(0, 1000), min_size=_FIELDS, max_size=_FIELDS),
)
def test_stats_add_up(a: list[int], b: list[int]) -> None:
    names = [f for f in DiffStats.__dataclass_fields__]
    left = DiffStats(**dict(zip(names, a, strict=True)))
    right = DiffStats(**dict(zip(names, b, strict=True)))
    total = left + right
    assert [getattr(total, n) for n in names] == [x + y for x, y in zip(a, b, strict=True)]


@pytest.mark.parametrize(
    "options",
    [
        DiffOptions(recheck_delay=-1),
        DiffOptions(max_deletes=-1),
        DiffOptions(rate_read=0),
        DiffOptions(overwrite=True),
        DiffOptions(backfill=True, overwrite=True, ignore_attributes=("seen_at",)),
    ],
)
def test_bad_options_are_usage_errors(options: DiffOptions) -> None:
    with pytest.raises(UsageError):
        check_options(options)


def _key(name: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": name}}


def test_merge_partial_outcomes_reports_each_key_once() -> None:
    schema = KeySchema("pk", "S")
    done = Action.REPAIRED
    first = SegmentOutcome(
        (
            Discrepancy(Kind.MISSING, _key("a"), action=done, resolved=True),
            Discrepancy(Kind.DIFFERENT, _key("b"), ("n",), action=Action.FAILED),
        ),
        DiffStats(scanned_primary=9, missing=1, different=1, repaired=1, failed=1, write_units=2),
    )
    second = SegmentOutcome(
        (Discrepancy(Kind.EXTRANEOUS, _key("c"), action=done, resolved=True),),
        DiffStats(scanned_primary=9, extraneous=1, repaired=1, write_units=1),
    )
    final = SegmentOutcome(
        (Discrepancy(Kind.DIFFERENT, _key("b"), ("n",), action=done, resolved=True),),
        DiffStats(scanned_primary=10, scanned_replica=10, different=1, repaired=1, rechecked=1),
    )
    merged = merge_partial_outcomes(schema, final, [first, second])
    assert merged.discrepancies == (
        final.discrepancies[0],  # reported by the final attempt: its entry wins
        Discrepancy(Kind.MISSING, _key("a"), action=done, resolved=True),
        Discrepancy(Kind.EXTRANEOUS, _key("c"), action=done, resolved=True),
    )
    s = merged.stats
    assert (s.scanned_primary, s.scanned_replica, s.rechecked) == (10, 10, 3)
    assert (s.missing, s.different, s.extraneous) == (1, 1, 1)
    assert (s.repaired, s.skipped, s.failed, s.write_units) == (3, 0, 0, 3)
    assert merge_partial_outcomes(schema, final, []) == final


def test_merge_partial_outcomes_a_failed_repair_found_clean_later_is_skipped() -> None:
    failed = Discrepancy(Kind.MISSING, _key("a"), action=Action.FAILED)
    merged = merge_partial_outcomes(
        KeySchema("pk", "S"),
        SegmentOutcome((), DiffStats()),
        [SegmentOutcome((failed,), DiffStats(missing=1, failed=1))],
    )
    assert merged.discrepancies == (
        Discrepancy(Kind.MISSING, _key("a"), action=Action.SKIPPED, resolved=True),
    )
    assert (merged.stats.failed, merged.stats.skipped, merged.stats.missing) == (0, 1, 1)


def test_partial_segment_error_survives_pickling_with_its_data() -> None:
    outcome = SegmentOutcome(
        (Discrepancy(Kind.MISSING, _key("a"), action=Action.REPAIRED, resolved=True),),
        DiffStats(missing=1, repaired=1),
    )
    cause = ReplicatorError("boom", hint="try again")
    error = PartialSegmentError("boom", partial=outcome, hint="try again", cause=cause)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is PartialSegmentError
    assert (back.message, back.hint, back.partial) == ("boom", "try again", outcome)
    assert isinstance(back.cause, ReplicatorError)
    assert back.cause.message == "boom"
    assert back.__cause__ is back.cause
