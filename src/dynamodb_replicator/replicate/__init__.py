"""Replication: change records -> changes (pure) -> a write plan (pure) -> writes.

The Lambda entry point (:mod:`dynamodb_replicator.lambda_handler`) and any other consumer of
change records share :class:`Replicator`, or the three steps :func:`parse_batch`,
:func:`plan_batch` and :func:`apply_plan`.
"""

from ..errors import DeadlineReached, RecordError
from .apply import (
    ApplyResult,
    TableRef,
    apply_plan,
    merge_results,
    schema_from_key,
)
from .config import LoadedConfig, ReplicatorConfig, load_config
from .metrics import JsonFormatter, configure_json_logging, emf_document, emf_line
from .pipeline import LAMBDA_BACKOFF, BatchOutcome, Replicator, outcome_of
from .plan import (
    Filters,
    Mode,
    PlannedWrite,
    Sources,
    WritePlan,
    image_problem,
    is_ttl_delete,
    keeps,
    plan_batch,
    source_problem,
    turnover_keeps,
)
from .records import (
    Change,
    ParsedBatch,
    RecordFailure,
    SkippedRecord,
    key_id_of,
    keys_text,
    parse_batch,
    parse_kinesis_payload,
    parse_kinesis_record,
    parse_stream_record,
    record_identifier,
    table_of_stream_arn,
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
    "SkippedRecord",
    "Sources",
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
    "keys_text",
    "load_config",
    "merge_results",
    "outcome_of",
    "parse_batch",
    "parse_kinesis_payload",
    "parse_kinesis_record",
    "parse_stream_record",
    "plan_batch",
    "record_identifier",
    "schema_from_key",
    "source_problem",
    "table_of_stream_arn",
    "turnover_keeps",
]
