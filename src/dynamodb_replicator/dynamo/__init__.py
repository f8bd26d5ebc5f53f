"""Table access: the one place that talks to DynamoDB. It knows no job (replicate, diff, backup)."""

from .address import ACCEPTED_FORMS, TableAddress, parse_table_address, resolve_region
from .backoff import Backoff, RetryBudget
from .batch import (
    MAX_GET_KEYS,
    MAX_WRITE_REQUESTS,
    BatchResult,
    Delete,
    Put,
    WriteRequest,
    batch_get,
    batch_write,
    collapse_writes,
)
from .clients import (
    Auth,
    Client,
    ClientOptions,
    S3Client,
    StreamsClient,
    TableSpec,
    make_client,
    s3_client,
)
from .conditional import Condition, ConditionalResult, conditional_delete, conditional_put
from .ratelimit import RateLimiter, RateSpec
from .scan import ScanPage, scan_segment
from .tables import (
    DescribedTable,
    TableInfo,
    TablePair,
    check_compatible,
    describe_pair,
    describe_table,
)

__all__ = [
    "ACCEPTED_FORMS",
    "MAX_GET_KEYS",
    "MAX_WRITE_REQUESTS",
    "Auth",
    "Backoff",
    "BatchResult",
    "Client",
    "ClientOptions",
    "Condition",
    "ConditionalResult",
    "Delete",
    "DescribedTable",
    "Put",
    "RateLimiter",
    "RateSpec",
    "RetryBudget",
    "S3Client",
    "ScanPage",
    "StreamsClient",
    "TableAddress",
    "TableInfo",
    "TablePair",
    "TableSpec",
    "WriteRequest",
    "batch_get",
    "batch_write",
    "check_compatible",
    "collapse_writes",
    "conditional_delete",
    "conditional_put",
    "describe_pair",
    "describe_table",
    "make_client",
    "parse_table_address",
    "resolve_region",
    "s3_client",
    "scan_segment",
]
