"""The point-in-time roll-forward core and exactness rule against a simple model (pure)."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given, settings

from dynamodb_replicator.backup.layout import Location, Manifest
from dynamodb_replicator.backup.reader import BackupSource, SegmentSource
from dynamodb_replicator.backup.storage import StorageSpec
from dynamodb_replicator.changelog.format import ChangeRecord
from dynamodb_replicator.errors import BackupError, ChangeLogError, NotExactError, UsageError
from dynamodb_replicator.items import Item, items_equal
from dynamodb_replicator.pitr import (
    ScanWindow,
    apply_records,
    assumed_window,
    check_exact,
    roll_forward_items,
    scan_window,
)
from dynamodb_replicator.pitr.rollforward import base_window
from unit.pitr.model import SCHEMA, Event, item_of, model_at, record_of, workloads


def _by_key(items: list[Item]) -> dict[int, Item]:
    return {int(float(item["pk"]["N"])) - 1: item for item in items}


@settings(max_examples=300, deadline=None)
@given(workloads())
def test_roll_forward_equals_the_model_at_t(
    case: tuple[list[Event], int, list[Item], list[ChangeRecord], int],
) -> None:
    events, to_time, base, records, upto = case
    got = _by_key(list(roll_forward_items(base, records, SCHEMA, to_time)))
    want = model_at(events, upto)
    assert sorted(got) == sorted(want)
    for key, item in want.items():
        assert items_equal(got[key], item)


def test_only_the_longest_prefix_within_t_applies_even_if_a_later_record_is_earlier() -> None:
    key = Event(0, 1, 1, 0)
    records = [
        record_of(0, Event(0, 1, 10, 0)),
        record_of(1, Event(0, 2, 12, 0)),
        record_of(2, Event(0, 3, 11, 0)),
    ]
    assert apply_records(None, records, 11) == item_of(Event(0, 1, 10, 0))
    assert apply_records(item_of(key), records, 9) == item_of(key)
    assert apply_records(None, records, 12) == item_of(Event(0, 3, 11, 0))


def test_a_time_is_the_end_of_its_second() -> None:
    record = record_of(999_999, Event(0, 7, 50, 0))  # 50.xxx s
    assert apply_records(None, [record], 50) == item_of(Event(0, 7, 50, 0))
    assert apply_records(None, [record], 49) is None


def test_keys_compare_by_value_and_a_remove_deletes() -> None:
    base = [item_of(Event(0, 1, 0, 1))]  # pk "1.0"
    records = [record_of(0, Event(0, None, 5, 0))]  # pk "1"
    assert list(roll_forward_items(base, records, SCHEMA, 5)) == []
    assert list(roll_forward_items(base, records, SCHEMA, 4)) == base


def test_a_ttl_delete_is_a_remove() -> None:
    ttl = ChangeRecord(
        event_id="t",
        sequence_number="5",
        time="5",
        time_unit="s",
        event_name="REMOVE",
        keys={"pk": {"N": "1"}},
        old_image={"pk": {"N": "1"}},
        user_identity={"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    )
    assert apply_records({"pk": {"N": "1"}}, [ttl], 5) is None


def test_a_record_without_new_image_is_refused() -> None:
    keys_only = ChangeRecord("e", "1", "1", "s", "MODIFY", {"pk": {"N": "1"}})
    with pytest.raises(ChangeLogError, match="no new image"):
        apply_records(None, [keys_only], 1)


def _manifest(segment: int, started: str, finished: str) -> Manifest:
    return Manifest(
        jobid="j",
        table="t",
        region="r",
        segment=segment,
        segments=2,
        item_count=0,
        uncompressed_bytes=0,
        compressed_bytes=0,
        sha256="",
        started_at=started,
        finished_at=finished,
        tool_version="",
    )


def test_the_scan_window_is_job_wide_and_rounded_outwards() -> None:
    window = scan_window(
        [
            _manifest(0, "2026-01-01T00:00:10.900Z", "2026-01-01T00:00:20.001Z"),
            _manifest(1, "2026-01-01T00:00:11.000Z", "2026-01-01T00:00:30.000Z"),
        ]
    )
    assert window == ScanWindow(start=1767225610, end=1767225630)
    window = scan_window([_manifest(0, "2026-01-01T00:00:10Z", "2026-01-01T00:00:29.001Z")])
    assert window.end == 1767225630


def test_no_manifest_no_window() -> None:
    with pytest.raises(BackupError, match="scan window"):
        scan_window([])


def test_exact_from_e_plus_margin_with_the_log_from_s_minus_margin() -> None:
    window = ScanWindow(start=100, end=130)
    with pytest.raises(NotExactError, match=r"\+ 5 s"):
        check_exact(window, 134)
    exact = check_exact(window, 135)
    assert (exact.log_from, exact.earliest, exact.margin) == (95, 135, 5)
    assert check_exact(window, 130, margin=0).log_from == 100
    with pytest.raises(NotExactError):
        check_exact(window, 140, margin=-1)


def test_an_assumed_window_is_rounded_outwards_and_checked() -> None:
    window = assumed_window("2026-01-01T00:00:10.500Z", "2026-01-01T01:00:29.001+01:00")
    assert window == ScanWindow(start=1767225610, end=1767225630, assumed=True)
    assert assumed_window("100", "130") == ScanWindow(100, 130, assumed=True)
    with pytest.raises(UsageError, match=r"E \(100\) is before S"):
        assumed_window("130", "100")
    with pytest.raises(UsageError, match="no time zone"):
        assumed_window("2026-01-01T00:00:10", "130")


def _source(kind: Literal["ours", "original"], manifests: bool) -> BackupSource:
    manifest = _manifest(0, "2026-01-01T00:00:10Z", "2026-01-01T00:00:20Z") if manifests else None
    return BackupSource(
        StorageSpec(Location("folder", "base")), kind, (SegmentSource("0", 0, manifest),), ()
    )


def test_a_base_without_a_window_needs_one_assumed_and_one_with_a_window_refuses_it() -> None:
    assumed = ScanWindow(100, 130, assumed=True)
    with pytest.raises(NotExactError, match="only with --assume-window S E"):
        base_window(_source("original", manifests=False))
    assert base_window(_source("original", manifests=False), assumed) == assumed
    recorded = base_window(_source("ours", manifests=True))
    assert recorded == ScanWindow(1767225610, 1767225620)
    with pytest.raises(UsageError, match="records its own"):
        base_window(_source("ours", manifests=True), assumed)
