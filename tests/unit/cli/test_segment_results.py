"""``--results-dir``: the one way the commands record a segment's result."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from dynamodb_replicator.backup import StorageSpec, parse_location
from dynamodb_replicator.cli.segment_results import recording
from dynamodb_replicator.errors import BackupError, SegmentFailedError
from dynamodb_replicator.results import SegmentResult, failed_segment_result, read_results

FAILED = partial(failed_segment_result, "diff-tables", "job", 2, 4)


def _folder(path: Path) -> StorageSpec:
    return StorageSpec(parse_location(str(path)))


def test_a_finished_segment_records_its_result(tmp_path: Path) -> None:
    done = SegmentResult("diff-tables", "job", 2, 4, counts={"found": 1})
    with recording(_folder(tmp_path), FAILED) as record:
        record(done)
    assert read_results(_folder(tmp_path)) == {2: done}


def test_a_failed_segment_records_why_and_the_error_goes_on(tmp_path: Path) -> None:
    with (
        pytest.raises(SegmentFailedError),
        recording(_folder(tmp_path), FAILED),
    ):
        raise SegmentFailedError("segment 2 failed", segments=[2])
    (result,) = read_results(_folder(tmp_path)).values()
    assert result.failures == ("segment 2 failed",)
    assert not result.ok


def test_without_a_results_dir_nothing_is_built_or_written() -> None:
    def never(why: str) -> SegmentResult:
        raise AssertionError(why)

    with recording(None, never) as record:
        record(SegmentResult("diff-tables", "job", 0, 1))
    with pytest.raises(SegmentFailedError), recording(None, never):
        raise SegmentFailedError("segment 0 failed", segments=[0])


def test_a_result_that_cannot_be_written_after_a_failure_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(SegmentFailedError), recording(_folder(blocked), FAILED):
        raise SegmentFailedError("segment 2 failed", segments=[2])
    assert capsys.readouterr().err.startswith("warning: segment result not written: ")


def test_a_finished_result_that_cannot_be_written_fails_the_segment(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(BackupError), recording(_folder(blocked), FAILED) as record:
        record(SegmentResult("diff-tables", "job", 2, 4))
