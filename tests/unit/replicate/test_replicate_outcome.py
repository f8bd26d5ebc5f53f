"""Outcomes, metrics and JSON logs (pure parts of the pipeline)."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "events"))

from lambda_events import load_event

from dynamodb_replicator.errors import RetriesExhaustedError
from dynamodb_replicator.replicate import (
    ApplyResult,
    BatchOutcome,
    JsonFormatter,
    configure_json_logging,
    emf_document,
    outcome_of,
    parse_batch,
    plan_batch,
)


def test_outcome_after_a_bad_record() -> None:
    evt = load_event("streams-unknown-event")
    plan = plan_batch(parse_batch(evt["Records"]))
    outcome = outcome_of(plan, ApplyResult(stop=plan.stop), now_ms=1_700_000_010_000)
    assert outcome.applied == 2
    assert outcome.failed == 3
    assert outcome.skipped == 0
    assert outcome.failed_ids == tuple(r["dynamodb"]["SequenceNumber"] for r in evt["Records"][2:])
    assert outcome.lag_ms == 10_000
    assert "UPSERT" in (outcome.reason or "")
    assert outcome.response() == {
        "batchItemFailures": [{"itemIdentifier": i} for i in outcome.failed_ids]
    }


def test_outcome_when_writes_stop_earlier_than_the_plan() -> None:
    plan = plan_batch(parse_batch(load_event("streams-unknown-event")["Records"]))
    error = RetriesExhaustedError("throttled", keys=[{"pk": {"S": "b"}}])
    outcome = outcome_of(plan, ApplyResult(stop=1, error=error), now_ms=0)
    assert outcome.applied == 1
    assert outcome.failed == 4
    assert outcome.reason == "throttled"
    assert outcome.lag_ms == 0


def test_empty_outcome() -> None:
    outcome = outcome_of(plan_batch(parse_batch([])), ApplyResult(stop=0), now_ms=5)
    assert outcome == BatchOutcome(received=0, applied=0, skipped=0, failed_ids=())
    assert outcome.response() == {"batchItemFailures": []}


def test_emf_document_shape() -> None:
    outcome = BatchOutcome(
        received=3, applied=2, skipped=0, failed_ids=("9",), lag_ms=1500, reason="x"
    )
    doc: dict[str, Any] = outcome.metrics("NS", "replica")
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "NS"
    assert directive["Dimensions"] == [["ReplicaTable"]]
    names = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert names == {
        "RecordsReceived": "Count",
        "RecordsApplied": "Count",
        "RecordsSkipped": "Count",
        "RecordsSkippedOnRequest": "Count",
        "RecordsFailed": "Count",
        "ReplicationLag": "Milliseconds",
    }
    assert doc["ReplicaTable"] == "replica"
    assert doc["RecordsFailed"] == 1
    assert doc["ReplicationLag"] == 1500
    assert doc["failure"] == "x"
    assert isinstance(doc["_aws"]["Timestamp"], int)
    plain = emf_document("NS", {"A": (1, "Count")}, dimensions={}, timestamp_ms=7)
    assert plain["_aws"]["Timestamp"] == 7
    assert plain["A"] == 1


def test_json_log_lines_carry_extra_fields() -> None:
    stream = io.StringIO()
    handler = configure_json_logging("INFO", stream=stream, logger="dynamodb_replicator.test_json")
    logger = logging.getLogger("dynamodb_replicator.test_json")
    try:
        logger.warning("record %s failed", "42", extra={"record_id": "42"})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    line = json.loads(stream.getvalue())
    assert line["message"] == "record 42 failed"
    assert line["level"] == "WARNING"
    assert line["record_id"] == "42"
    assert isinstance(JsonFormatter().format(logging.makeLogRecord({"msg": "x"})), str)
