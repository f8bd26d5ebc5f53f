"""The lossless item model: DynamoDB wire format in memory, its text form, comparison, keys.

Pure: no I/O and no boto3. Numbers stay strings throughout; binary is ``bytes`` in memory and
base64 only at text boundaries.
"""

from dynamodb_replicator.items.compare import (
    AttributeDiff,
    canonical_number,
    canonical_value,
    diff_items,
    ignore_matcher,
    items_equal,
    values_equal,
)
from dynamodb_replicator.items.jsonl import decode_item, encode_item, encode_key_for_report
from dynamodb_replicator.items.keys import (
    KEY_TYPES,
    MAX_DIGITS,
    JsonNumber,
    KeySchema,
    extract_key,
    item_size,
    key_identity,
    parse_key_argument,
    parse_plain_key,
)
from dynamodb_replicator.items.numbers import is_number, significant_digits
from dynamodb_replicator.items.wire import (
    TYPE_TAGS,
    AttributeValue,
    Item,
    Key,
    item_from_text,
    item_to_text,
    split_value,
    text_is_canonical,
    value_from_text,
    value_to_text,
)

__all__ = [
    "KEY_TYPES",
    "MAX_DIGITS",
    "TYPE_TAGS",
    "AttributeDiff",
    "AttributeValue",
    "Item",
    "JsonNumber",
    "Key",
    "KeySchema",
    "canonical_number",
    "canonical_value",
    "decode_item",
    "diff_items",
    "encode_item",
    "encode_key_for_report",
    "extract_key",
    "ignore_matcher",
    "is_number",
    "item_from_text",
    "item_size",
    "item_to_text",
    "items_equal",
    "key_identity",
    "parse_key_argument",
    "parse_plain_key",
    "significant_digits",
    "split_value",
    "text_is_canonical",
    "value_from_text",
    "value_to_text",
    "values_equal",
]
