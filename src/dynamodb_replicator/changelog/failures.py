"""Batches Lambda discarded, kept by the event source mapping's S3 on-failure destination.

An S3 destination receives, per discarded batch, one JSON object: the invocation's metadata
and, under ``payload``, the invocation event itself (as an object or as JSON text). This module
reads those objects (a plain ``{"Records": [...]}`` event is accepted too), re-ingests their
records into the change log through the Lambda writer, and tells which batches are not in the
log yet (for ``verify-changes``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..backup.storage import Storage
from ..errors import ChangeLogError
from .format import sequence_key
from .lambda_writer import LambdaLogWriter
from .store import walk

__all__ = ["FailedBatch", "Reingested", "failed_batches", "reingest"]


@dataclass(frozen=True)
class FailedBatch:
    """One discarded batch: the object it was found in and its stream records."""

    name: str
    records: tuple[dict[str, Any], ...]

    def sequence_numbers(self) -> list[int]:
        return [sequence_key(str(r["dynamodb"]["SequenceNumber"])) for r in self.records]


@dataclass(frozen=True)
class Reingested:
    """What re-ingesting did: batches and records read, records written, batches that failed."""

    batches: int
    records: int
    written: int
    failed: tuple[tuple[str, str], ...]


def _records_of(data: bytes, name: str) -> list[dict[str, Any]]:
    try:
        obj = json.loads(data)
        event = obj.get("payload", obj) if isinstance(obj, dict) else obj
        if isinstance(event, str):
            event = json.loads(event)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChangeLogError(f"{name} is not a JSON invocation record ({exc})") from exc
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ChangeLogError(
            f"{name} holds no invocation event (no payload with Records)",
            hint="point at the on-failure destination of an S3 bucket of a DynamoDB stream mapping",
        )
    return records


def failed_batches(source: Storage) -> Iterator[FailedBatch]:
    """Every discarded batch under ``source`` (any depth), in name order."""
    for name in walk(source):
        yield FailedBatch(name, tuple(_records_of(source.get(name), source.location.url(name))))


def reingest(source: Storage, writer: LambdaLogWriter) -> Reingested:
    """Write every discarded batch under ``source`` into the log, as the Lambda writer would."""
    batches = records = written = 0
    failed: list[tuple[str, str]] = []
    for batch in failed_batches(source):
        batches += 1
        records += len(batch.records)
        outcome = writer.process(list(batch.records))
        written += outcome.written
        if outcome.failed_ids:
            failed.append((batch.name, outcome.reason or "records not written"))
    return Reingested(batches, records, written, tuple(failed))
