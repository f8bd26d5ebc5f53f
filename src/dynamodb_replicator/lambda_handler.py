"""The AWS Lambda entry points: ``dynamodb_replicator.lambda_handler.handler`` (the replicator)
and ``dynamodb_replicator.lambda_handler.backup`` (the change log writer).

Thin on purpose: the configuration is read from the environment and the clients are built on
the first invocation (the cold start), then each event goes parse -> plan -> apply and the
handler returns the partial-batch response. Writes stop a margin before the function's own
timeout, so Lambda always gets the response instead of retrying the whole batch. Imports no
CLI or terminal UI code, to keep cold starts small.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from .dynamo.retry import CallCounts, call_counts
from .errors import UsageError
from .replicate.config import ReplicatorConfig, load_config
from .replicate.metrics import configure_json_logging, emf_line
from .replicate.pipeline import Replicator

__all__ = ["Handler", "backup", "build_backup_handler", "build_handler", "handler", "settle_heap"]

log = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


def _records(event: Mapping[str, Any]) -> list[Any]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        raise UsageError(
            "the event has no Records list: not a DynamoDB Streams or Kinesis event",
            hint="invoke this function only from a stream event source mapping",
        )
    return records


def _deadline(context: Any, margin_ms: int, clock: Callable[[], float]) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return clock() + (int(remaining()) - margin_ms) / 1000.0


def build_handler(
    environ: Mapping[str, str],
    *,
    emit: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    make_replicator: Callable[[ReplicatorConfig], Replicator] = Replicator.from_config,
) -> Handler:
    """A handler configured from ``environ`` (raises ``ConfigError`` when it is wrong).

    ``emit`` receives each EMF line (default: standard output, where CloudWatch reads it);
    ``make_replicator`` builds the clients (tests wrap it to inject faults).
    """
    loaded = load_config(environ)
    for warning in loaded.warnings:
        log.warning(warning)
    config = loaded.config
    replicator = make_replicator(config)
    write = emit or _stdout

    def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        records = _records(event)
        deadline = _deadline(context, config.deadline_margin_ms, clock)
        before = _calls(replicator)
        outcome = replicator.process_records(records, deadline=deadline, clock=clock)
        calls = _calls(replicator) - before
        document = outcome.metrics(config.metrics_namespace, config.replica_label)
        document.update(requests=calls.requests, retried_errors=calls.errors)
        write(emf_line(document))
        return outcome.response()

    return handle


def _calls(replicator: Replicator) -> CallCounts:
    """Requests the replicator's clients have sent so far, and the retried errors among them."""
    primary = replicator.primary.client if replicator.primary is not None else None
    return call_counts(replicator.replica.client, primary)


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


_handler: Handler | None = None


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point: configure on first use, then process one event."""
    global _handler
    if _handler is None:
        configure_json_logging(os.environ.get("LOG_LEVEL", "INFO"))
        _handler = build_handler(os.environ)
        settle_heap()
    return _handler(event, context)


def build_backup_handler(environ: Mapping[str, str], *, writer: Any = None) -> Handler:
    """The change log writer's handler configured from ``environ`` (``BACKUP_TARGET``, or the
    original's ``BackupBucket``/``BackupPrefix``/``BackupRegion``); ``writer`` replaces the
    :class:`~.changelog.lambda_writer.LambdaLogWriter` (tests)."""
    # Here, not at the top: not a cycle, but the replicator's function never loads the change
    # log writer (backup storage, S3) on its cold start.
    from .changelog.lambda_writer import LambdaLogWriter, load_backup_config

    log_writer = writer or LambdaLogWriter.from_config(load_backup_config(environ))

    def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        outcome = log_writer.process(_records(event))
        log.info(
            "backup: %d record(s) received, %d written in %d object(s)%s",
            outcome.received,
            outcome.written,
            outcome.objects,
            f"; failed: {outcome.reason}" if outcome.reason else "",
        )
        response: dict[str, Any] = outcome.response()
        return response

    return handle


_backup: Handler | None = None


def backup(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The change log writer's entry point (the original tool's ``backup`` export)."""
    global _backup
    if _backup is None:
        configure_json_logging(os.environ.get("LOG_LEVEL", "INFO"))
        _backup = build_backup_handler(os.environ)
        settle_heap()
    return _backup(event, context)


def settle_heap() -> None:
    """Move everything the cold start made (modules, boto3's models, clients) out of the
    garbage collector's view: they live as long as the process, and rescanning them on every
    full collection costs about a third of the time spent parsing a batch."""
    gc.collect()
    gc.freeze()
