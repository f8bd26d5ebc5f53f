"""Structured JSON log lines and CloudWatch embedded-metric-format (EMF) documents.

Both are one JSON object per line. CloudWatch extracts metrics only from log events that are a
bare JSON object, so the Lambda entry point writes EMF documents straight to standard output;
this module only builds them (pure), plus a logging formatter and its set-up.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import IO, Any, Final

from ..errors import ConfigError

__all__ = ["JsonFormatter", "configure_json_logging", "emf_document", "emf_line"]

_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": int(record.created * 1000),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_json_logging(
    level: str = "INFO", *, stream: IO[str] | None = None, logger: str = "dynamodb_replicator"
) -> logging.Handler:
    """Send ``logger``'s records as JSON lines to ``stream`` (stdout); returns the handler.

    The logger stops propagating, so the Lambda runtime's text handler does not repeat them.
    Calling it again replaces the JSON handler it installed before (a cold start that failed
    is retried on the next invocation). An unknown ``level`` is a :class:`ConfigError`.
    """
    name = level.strip().upper()
    if name not in _LEVELS:
        raise ConfigError(
            f"LOG_LEVEL {level!r} is not a log level",
            hint=f"use one of {', '.join(_LEVELS)}",
        )
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if isinstance(h.formatter, JsonFormatter)]:
        target.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    target.addHandler(handler)
    target.setLevel(name)
    target.propagate = False
    return handler


_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def emf_document(
    namespace: str,
    metrics: Mapping[str, tuple[float, str]],
    *,
    dimensions: Mapping[str, str],
    properties: Mapping[str, Any] | None = None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """An EMF document: ``metrics`` maps a name to ``(value, unit)``; ``properties`` are logged
    fields that are not metrics."""
    when = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": when,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": n, "Unit": unit} for n, (_, unit) in metrics.items()],
                }
            ],
        },
        **dict(properties or {}),
        **dimensions,
    }
    for name, (value, _) in metrics.items():
        document[name] = value
    return document


def emf_line(document: Mapping[str, Any]) -> str:
    """An EMF document as the single line CloudWatch expects."""
    return json.dumps(document, separators=(",", ":"), default=str)
