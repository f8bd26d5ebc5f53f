"""Replication: change records -> changes (pure) -> a write plan (pure) -> writes.

The Lambda entry point (:mod:`dynamodb_replicator.lambda_handler`) and any other consumer of
change records share :class:`Replicator`, or the three steps :func:`parse_batch`,
:func:`plan_batch` and :func:`apply_plan`.
"""

from .apply import ApplyResult, DeadlineReached, TableRef, apply_plan, schema_from_key
from .config import LoadedConfig, ReplicatorConfig, load_config
from .metrics import JsonFormatter, configure_json_logging, emf_document, emf_line
from .pipeline import LAMBDA_BACKOFF, BatchOutcome, Replicator, outcome_of
from .plan import (
    Filters,
    Mode,
    PlannedWrite,
    WritePlan,
    image_problem,
    is_ttl_delete,
    keeps,
    plan_batch,
    turnover_keeps,
)
from .records import (
    Change,
    ParsedBatch,
    RecordError,
    RecordFailure,
    key_id_of,
    parse_batch,
    parse_kinesis_payload,
    parse_kinesis_record,
    parse_stream_record,
    record_identifier,
)

__all__ = [
    "LAMBDA_BACKOFF",
    "ApplyResult",
    "BatchOutcome",
    "Change",
    "DeadlineReached",
    "Filters",
    "JsonFormatter",
    "LoadedConfig",
    "Mode",
    "ParsedBatch",
    "PlannedWrite",
    "RecordError",
    "RecordFailure",
    "Replicator",
    "ReplicatorConfig",
    "TableRef",
    "WritePlan",
    "apply_plan",
    "configure_json_logging",
    "emf_document",
    "emf_line",
    "image_problem",
    "is_ttl_delete",
    "keeps",
    "key_id_of",
    "load_config",
    "outcome_of",
    "parse_batch",
    "parse_kinesis_payload",
    "parse_kinesis_record",
    "parse_stream_record",
    "plan_batch",
    "record_identifier",
    "schema_from_key",
    "turnover_keeps",
]
