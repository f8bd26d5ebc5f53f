"""The job layout, jobids, locations, records and listing checks (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamodb_replicator.backup.jobs import check_jobid
from dynamodb_replicator.backup.layout import (
    Location,
    Manifest,
    Started,
    check_job,
    data_name,
    manifest_name,
    parse_location,
    segment_of,
    validate_jobid,
)
from dynamodb_replicator.errors import BackupError, UsageError


@pytest.mark.parametrize("jobid", ["my-job-id", "a", "2024-06-01.nightly", "_x", "A_b-9"])
def test_safe_jobids_are_kept(jobid: str) -> None:
    assert validate_jobid(jobid) == jobid


@pytest.mark.parametrize(
    "jobid", ["", "../x", "..", ".", "a/b", "a\\b", "x..y", ".hidden", "a b", "é", "a" * 201]
)
def test_unsafe_jobids_are_usage_errors(jobid: str) -> None:
    with pytest.raises(UsageError, match="single safe path component"):
        validate_jobid(jobid)


@given(st.text(max_size=30))
def test_a_valid_jobid_is_one_path_component(jobid: str) -> None:
    try:
        validate_jobid(jobid)
    except UsageError:
        return
    assert "/" not in jobid
    assert "\\" not in jobid
    assert ".." not in jobid
    assert not jobid.startswith(".")


@pytest.mark.parametrize(
    ("jobid", "resume", "shared", "refused"),
    [
        (None, False, False, None),  # one process: a random jobid
        ("j", True, True, None),
        (None, False, True, "separate segment processes of one backup need the same --jobid"),
        (None, True, False, "--resume needs the --jobid of the backup to resume"),
    ],
)
def test_the_jobid_rules(
    jobid: str | None, resume: bool, shared: bool, refused: str | None
) -> None:
    if refused is None:
        check_jobid(jobid, resume=resume, shared=shared)
        return
    with pytest.raises(UsageError, match=refused):
        check_jobid(jobid, resume=resume, shared=shared)


@pytest.mark.parametrize(
    ("text", "bucket", "prefix"),
    [
        ("s3://my-bucket/some-prefix", "my-bucket", "some-prefix"),
        ("s3://my-bucket/some-prefix/", "my-bucket", "some-prefix"),
        ("s3://my-bucket", "my-bucket", ""),
        ("s3://my-bucket/", "my-bucket", ""),
        ("s3://my-bucket/a//b/", "my-bucket", "a/b"),
    ],
)
def test_s3_locations(text: str, bucket: str, prefix: str) -> None:
    assert parse_location(text) == Location("s3", prefix, bucket)


def test_jobs_under_a_bare_bucket_have_no_junk_key() -> None:
    job = parse_location("s3://my-bucket").child("job")
    assert job.prefix == "job"
    assert job.url("0") == "s3://my-bucket/job/0"


def test_folder_locations(tmp_path: object) -> None:
    assert parse_location("file:///tmp/x").prefix == "/tmp/x"
    assert parse_location("/tmp/x/").prefix == "/tmp/x"
    assert parse_location("/tmp/x").child("j").url("0") == "/tmp/x/j/0"


@pytest.mark.parametrize("text", ["s3://", "s3://A_B", "s3://b/../x", "gs://bucket/x", ""])
def test_bad_locations(text: str) -> None:
    with pytest.raises(UsageError):
        parse_location(text)


def test_names() -> None:
    assert data_name(4) == "4"
    assert manifest_name(4) == "4.manifest.json"
    assert segment_of("4") == 4
    assert segment_of("04") is None
    assert segment_of("_started") is None
    assert segment_of("4.manifest.json") is None


def _manifest(segment: int, size: int) -> Manifest:
    return Manifest(
        jobid="j",
        table="t",
        region="us-east-1",
        segment=segment,
        segments=2,
        item_count=3,
        uncompressed_bytes=30,
        compressed_bytes=size,
        sha256="00",
        started_at="s",
        finished_at="f",
        tool_version="0",
        table_description={"TableName": "t"},
    )


STARTED = Started("j", "t", "us-east-1", 2, "s", "0")


def test_records_round_trip() -> None:
    assert Started.from_bytes(STARTED.to_bytes()) == STARTED
    manifest = _manifest(1, 10)
    assert Manifest.from_bytes(manifest.to_bytes()) == manifest


def test_unreadable_records_are_backup_errors() -> None:
    with pytest.raises(BackupError, match="not valid JSON"):
        Manifest.from_bytes(b"{")
    with pytest.raises(BackupError, match="lacks"):
        Started.from_bytes(b"{}")
    with pytest.raises(BackupError, match="format version 9"):
        Manifest.from_bytes(b'{"format_version": 9}')


def test_complete_job() -> None:
    sizes = {"_started": 1, "0": 10, "0.manifest.json": 1, "1": 20, "1.manifest.json": 1}
    check = check_job(sizes, STARTED, {0: _manifest(0, 10), 1: _manifest(1, 20)})
    assert check.kind == "ours"
    assert check.ok
    assert check.segments == (0, 1)


def test_every_missing_or_inconsistent_part_is_named() -> None:
    sizes = {"_started": 1, "0": 9, "0.manifest.json": 1}
    check = check_job(sizes, STARTED, {0: _manifest(0, 10)})
    assert not check.ok
    assert check.problems == (
        "segment 0: object is 9 bytes, its manifest says 10 (truncated or replaced)",
        "segments present: 0; still missing: 1 (of 2; not yet run, or failed before writing "
        "anything)",
    )
    check = check_job({"_started": 1, "0": 10, "1": 5}, STARTED, {0: _manifest(0, 10)})
    assert check.problems == ("segment 1: no manifest (the segment did not finish)",)
    check = check_job({"_started": 1, "0": 10}, STARTED, {0: _manifest(0, 10), 1: _manifest(1, 3)})
    assert check.problems == ("segment 1: manifest present but the data object is missing",)


def test_original_tool_backups_and_incomplete_ones() -> None:
    assert check_job({"0": 5, "3": 5}, None, {}).kind == "original"
    assert check_job({"0": 5, "3": 5}, None, {}).segments == (0, 3)
    assert check_job({}, None, {}).kind == "empty"
    orphan = check_job({"0": 10}, None, {0: _manifest(0, 10)})
    assert orphan.kind == "ours"
    assert not orphan.ok


def test_a_segment_from_another_table_is_a_problem() -> None:
    import dataclasses

    ours = dataclasses.replace(STARTED, table_arn="arn:aws:dynamodb:us-east-1:111:table/t")
    assert Started.from_bytes(ours.to_bytes()) == ours
    theirs = dataclasses.replace(
        _manifest(1, 20), table_description={"TableArn": "arn:aws:dynamodb:us-east-1:222:table/t"}
    )
    same = dataclasses.replace(_manifest(0, 10), table_description={"TableArn": ours.table_arn})
    sizes = {"_started": 1, "0": 10, "1": 20}
    check = check_job(sizes, ours, {0: same, 1: theirs})
    assert check.problems == (
        "segment 1: backed up from arn:aws:dynamodb:us-east-1:222:table/t, "
        "but the job is of arn:aws:dynamodb:us-east-1:111:table/t",
    )
    assert not ours.same_job(dataclasses.replace(ours, table_arn="arn:other"))
    assert ours.same_job(dataclasses.replace(ours, table_arn=None))  # jobs written before


def test_a_job_run_one_segment_per_machine_names_what_is_present_and_missing() -> None:
    import dataclasses

    started = dataclasses.replace(STARTED, segments=10)
    done = {s: dataclasses.replace(_manifest(s, 10), segments=10) for s in (0, 4, 5, 9)}
    sizes = {"_started": 1, **{str(s): 10 for s in done}}
    check = check_job(sizes, started, done)
    assert check.problems == (
        "segments present: 0, 4-5, 9; still missing: 1-3, 6-8 (of 10; not yet run, or failed "
        "before writing anything)",
    )
    everything = {s: dataclasses.replace(_manifest(s, 10), segments=10) for s in range(10)}
    all_sizes = {"_started": 1, **{str(s): 10 for s in range(10)}}
    assert check_job(all_sizes, started, everything).ok


def test_unreadable_records_are_listed_with_every_other_problem() -> None:
    sizes = {"_started": 1, "0": 10, "0.manifest.json": 1, "1": 7, "1.manifest.json": 1}
    check = check_job(
        sizes,
        None,
        {0: _manifest(0, 10)},
        {"_started": "_started is not valid JSON", "1.manifest.json": "m1 is not valid JSON"},
    )
    assert check.kind == "ours"
    assert check.segments == (0, 1)  # the count the readable manifests agree on
    assert check.problems == (
        "_started is not valid JSON: the job's segment count is unknown",
        "segment 1: m1 is not valid JSON",
    )
    moved = check_job(
        {"_started": 1, "0": 10, "1": 20}, STARTED, {0: _manifest(1, 10), 1: _manifest(1, 20)}
    )
    assert moved.problems == ("segment 0: its manifest describes segment 1",)
