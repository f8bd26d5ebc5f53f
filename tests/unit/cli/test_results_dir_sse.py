"""--results-dir: where a segment's result goes, encrypted as the command's own objects."""

from __future__ import annotations

import pytest

from dynamodb_replicator.cli.options import ResultsParams, results_dir_from_options
from dynamodb_replicator.errors import UsageError


def test_the_result_file_is_encrypted_as_the_backup() -> None:
    spec = results_dir_from_options(
        ResultsParams(results_dir="s3://bucket/results"),
        [3],
        "http://127.0.0.1:9",
        sse="aws:kms",
        sse_kms_key_id="alias/backups",
    )
    assert spec is not None
    assert spec.location.url() == "s3://bucket/results"
    assert (spec.sse, spec.sse_kms_key_id) == ("aws:kms", "alias/backups")
    assert spec.s3_endpoint_url == "http://127.0.0.1:9"


def test_no_encryption_unless_asked() -> None:
    spec = results_dir_from_options(ResultsParams(results_dir="./results"), [0])
    assert spec is not None
    assert (spec.sse, spec.sse_kms_key_id) == (None, None)


def test_a_result_file_needs_one_segment() -> None:
    with pytest.raises(UsageError, match="--segment N"):
        results_dir_from_options(ResultsParams(results_dir="./results"), None)
