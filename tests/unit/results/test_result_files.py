"""Segment result files and their merge: pure encoding, checks and exit-relevant verdicts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamodb_replicator.backup import StorageSpec, parse_location
from dynamodb_replicator.diff import Action, DiffResult, DiffStats, Discrepancy, Kind
from dynamodb_replicator.errors import BackupError, ConfigError
from dynamodb_replicator.results import (
    SegmentResult,
    decode_result,
    diff_segment_result,
    encode_result,
    merge_results,
    read_results,
    result_name,
    write_result,
)


def _diff(segment: int, total: int, *found: Discrepancy, **counts: int) -> SegmentResult:
    stats = DiffStats(**counts, read_units=1.5)
    result = DiffResult(tuple(found), stats, 0.5, ("pk", "sk"))
    return diff_segment_result("diff-tables a -> b", segment, total, result)


KEY = {"pk": {"B": b"\x00\xff"}, "sk": {"N": "12345678901234567890123456789012345678"}}


def test_diff_result_round_trips_binary_keys_and_counts() -> None:
    d = Discrepancy(Kind.DIFFERENT, KEY, ("a", "b"), Action.REPAIRED, True)
    original = _diff(3, 8, d, scanned_primary=5, different=1, repaired=1)
    data = encode_result(original)
    assert b'"AP8="' in data  # binary as base64 in the text form
    back = decode_result(data)
    assert back == original
    assert back.discrepancies[0].key["pk"]["B"] == b"\x00\xff"


@given(st.binary(min_size=1, max_size=40), st.text(max_size=20))
def test_any_binary_or_unicode_key_round_trips(blob: bytes, text: str) -> None:
    key = {"pk": {"B": blob}, "sk": {"S": text}}
    d = Discrepancy(Kind.MISSING, key)
    assert decode_result(encode_result(_diff(0, 1, d))).discrepancies == (d,)


def test_unreadable_result_names_the_file() -> None:
    with pytest.raises(BackupError, match=r"segment-2\.json is not a readable segment result"):
        decode_result(b"{not json", "segment-2.json")


def test_merge_adds_counts_and_keeps_segment_order() -> None:
    a = Discrepancy(Kind.MISSING, {"pk": {"S": "a"}})
    b = Discrepancy(Kind.EXTRANEOUS, {"pk": {"S": "b"}})
    merged = merge_results(
        {1: _diff(1, 2, b, scanned_primary=2, extraneous=1), 0: _diff(0, 2, a, missing=1)}
    )
    assert merged.complete
    result = merged.diff_result()
    assert result.discrepancies == (a, b)
    assert result.stats.scanned_primary == 2
    assert result.stats.found == 2
    assert result.stats.read_units == 3.0
    assert result.key_names == ("pk", "sk")


def test_missing_and_failed_segments_are_named() -> None:
    failed = SegmentResult("diff-tables", "diff-tables a -> b", 2, 4, failures=("boom",))
    merged = merge_results({0: _diff(0, 4), 2: failed})
    assert not merged.complete
    assert merged.missing == (1, 3)
    assert merged.failed == (2,)
    assert merged.problems() == [
        "segment 1: no result",
        "segment 3: no result",
        "segment 2 failed: boom",
    ]


def test_results_of_different_jobs_do_not_merge() -> None:
    other = SegmentResult("diff-tables", "diff-tables c -> d", 1, 2)
    with pytest.raises(ConfigError, match="different jobs"):
        merge_results({0: _diff(0, 2), 1: other})


def test_no_results_needs_the_segment_count() -> None:
    with pytest.raises(ConfigError, match="no segment results"):
        merge_results({})
    assert merge_results({}, expected_total=3).missing == (0, 1, 2)


def test_files_in_a_folder(tmp_path: object) -> None:
    spec = StorageSpec(parse_location(str(tmp_path)))
    write_result(spec, _diff(1, 2, missing=1))
    assert result_name(1) == "segment-1.json"
    found = read_results(spec)
    assert list(found) == [1]
    assert found[1].counts["missing"] == 1
