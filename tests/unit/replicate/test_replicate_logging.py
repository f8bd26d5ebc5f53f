"""JSON logging for the Lambda path: one handler however often a cold start is retried."""

from __future__ import annotations

import io
import json
import logging

import pytest

from dynamodb_replicator.errors import ConfigError
from dynamodb_replicator.replicate import configure_json_logging


def test_configuring_again_replaces_the_handler() -> None:
    name = "dynamodb_replicator.test_logging"
    first, second = io.StringIO(), io.StringIO()
    configure_json_logging("INFO", stream=first, logger=name)
    configure_json_logging("warning", stream=second, logger=name)
    log = logging.getLogger(name)
    assert len(log.handlers) == 1
    log.warning("once", extra={"record_id": "7"})
    assert first.getvalue() == ""
    line = json.loads(second.getvalue())
    assert line["message"] == "once"
    assert line["record_id"] == "7"


def test_an_unknown_level_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="LOG_LEVEL 'VERBOSE' is not a log level"):
        configure_json_logging("VERBOSE", logger="dynamodb_replicator.test_logging_bad")
