"""A lean data path for DynamoDB's bulk operations, installed into a botocore client.

botocore parses every response by walking the service's shape model for every attribute of every
item; for Scan, Query, BatchGetItem, BatchWriteItem and GetRecords that walk is most of the
client's CPU. :func:`install` keeps botocore for endpoints, credentials, retries, hooks and
errors, and replaces three steps for those operations only:

* parsing a successful response: the body is decoded once with orjson, and the result is
  converted only where the wire form needs it (base64 text to ``bytes`` for ``B``/``BS`` at any
  depth, timestamps, unknown members dropped), through converters compiled once per output
  shape from botocore's own model. The result equals botocore's parse; anything unusual (an
  error status, a body orjson refuses, a malformed attribute value) goes to botocore's parser.
* serializing a request: the parameters, already in wire form, are dumped by orjson (``bytes``
  as base64) into the request botocore built for an empty parameter set.
* signing: :mod:`.signing` signs with SigV4 itself, skipping botocore's per-request event chain
  (same signature, same retry headers).

It relies on private attributes of botocore clients (``_endpoint._response_parser_factory``,
``_serializer``, ``_request_signer``), present across the botocore range pinned in ``pyproject.toml``; when they
are missing :func:`install` leaves the client as botocore made it and says so in the log.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import botocore
from botocore.parsers import JSONParser, ResponseParserFactory
from botocore.serialize import JSONSerializer

from . import signing

__all__ = ["ENV_SWITCH", "LEAN_OPERATIONS", "SERVICES", "install", "is_installed"]

logger = logging.getLogger(__name__)

try:  # a dependency (the Lambda package bundles it); without it, botocore's path is kept
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is absent
    orjson = None  # type: ignore[assignment]

#: The botocore releases whose client internals this module was tested against (inclusive,
#: exclusive); outside them clients keep botocore's own parsing.
TESTED_BOTOCORE = ((1, 34), (1, 44))

#: Set to ``0`` to keep botocore's own parsing and serializing (for comparison or diagnosis).
ENV_SWITCH = "DYNAMODB_REPLICATOR_LEAN"

#: The services whose clients the client factory gives the lean path.
SERVICES = frozenset({"dynamodb", "dynamodbstreams"})

#: Operations whose successful responses are parsed lean (and requests serialized directly,
#: for the four that take items).
LEAN_OPERATIONS = frozenset({"Scan", "Query", "BatchGetItem", "BatchWriteItem", "GetRecords"})
_LEAN_OUTPUTS = frozenset(f"{name}Output" for name in LEAN_OPERATIONS)
_DIRECT_INPUTS = frozenset({"Scan", "Query", "BatchGetItem", "BatchWriteItem"})

#: Attribute-value tags whose payload botocore returns as it came (strings, lists of strings,
#: booleans).
_PLAIN_TAGS = frozenset({"S", "N", "BOOL", "NULL", "SS", "NS"})

Convert = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


class _Refuse(Exception):
    """orjson read something differently from ``json.loads``: let botocore parse the body."""


_NUMBER_KINDS = frozenset({"integer", "long", "float", "double"})

#: botocore's parser classes, as ``Any``: what is built on here (``_parse_shape``, ``_do_parse``,
#: the blob and timestamp parsers) is botocore's private API, which its type stubs do not declare.
_Parser: Any = JSONParser
_ParserFactory: Any = ResponseParserFactory


def _number(value: Any) -> Any:
    """JSON numbers pass through, but orjson reads integers past 64 bits as floats."""
    if value.__class__ is float and not -(2**63) <= value < 2**64:
        raise _Refuse
    return value


def _is_attribute_value(shape: Any) -> bool:
    return bool(shape.name == "AttributeValue" and shape.type_name == "structure")


class _Compiler:
    """Builds a converter per shape, equal to what ``reference`` (botocore's parser) returns."""

    def __init__(self, reference: _Parser) -> None:
        self._reference = reference
        self._cache: dict[str, Convert | None] = {}
        self._attribute_pair: tuple[Convert, Convert] | None = None
        self._ready: dict[str, Convert] = {}
        self._lock = threading.Lock()

    def converter(self, shape: Any) -> Convert:
        """The converter of an output shape; compiled once, safely from any thread."""
        ready = self._ready.get(shape.name)
        if ready is None:
            with self._lock:
                ready = self._compile(shape) or _identity
                self._ready[shape.name] = ready
        return ready

    def _compile(self, shape: Any) -> Convert | None:
        """A converter for ``shape``, or ``None`` when botocore returns the value unchanged."""
        name = shape.name
        if name in self._cache:
            return self._cache[name]
        cache = self._cache
        # A shape met again while being compiled (a recursive model) calls its final converter.
        cache[name] = lambda value: (cache[name] or _identity)(value)
        kind = shape.type_name
        result: Convert | None
        if kind == "structure":
            result = self._structure(shape)
        elif kind == "list":
            result = self._list(shape)
        elif kind == "map":
            result = self._map(shape)
        elif kind == "blob":
            result = self._reference._blob_parser
        elif kind == "timestamp":
            result = self._reference._timestamp_parser
        elif kind in _NUMBER_KINDS:
            result = _number
        else:
            result = None
        self._cache[name] = result
        return result

    def _attributes(self, shape: Any) -> tuple[Convert, Convert]:
        if self._attribute_pair is None:
            self._attribute_pair = _attribute_converters(
                shape,
                self._reference,
                sparse_lists=self._sparse(shape.members["L"]),
                sparse_sets=self._sparse(shape.members["BS"]),
            )
        return self._attribute_pair

    def _fallback(self, shape: Any) -> Convert:
        parse = self._reference._parse_shape
        return lambda value: parse(shape, value)

    def _list(self, shape: Any) -> Convert | None:
        member = self._compile(shape.member)
        if member is None:
            return None
        if self._sparse(shape):
            return lambda value: [None if v is None else member(v) for v in value]
        return lambda value: [member(v) for v in value]

    def _sparse(self, shape: Any) -> bool:
        """Whether botocore turns a ``null`` member of this list into ``None`` (newer releases
        do for any list; older ones parse it as a member, which fails for most shapes)."""
        try:
            return bool(self._reference._handle_list(shape, [None]) == [None])
        except Exception:
            return False

    def _map(self, shape: Any) -> Convert | None:
        if _is_attribute_value(shape.value) and shape.key.type_name == "string":
            return self._attributes(shape.value)[1]
        key = self._compile(shape.key)
        value_conv = self._compile(shape.value)
        if key is None and value_conv is None:
            return None
        k = key or _identity
        v = value_conv or _identity
        return lambda value: {k(a): v(b) for a, b in value.items()}

    def _structure(self, shape: Any) -> Convert:
        if _is_attribute_value(shape):
            return self._attributes(shape)[0]
        if shape.is_document_type or getattr(shape, "is_tagged_union", False):
            return self._fallback(shape)
        members = [
            (name, member.serialization.get("name", name), self._compile(member) or _identity)
            for name, member in shape.members.items()
        ]
        fallback = self._fallback(shape)

        def convert(value: Any) -> Any:
            if value.__class__ is not dict:
                return fallback(value)
            out = {}
            for name, wire_name, conv in members:
                raw = value.get(wire_name)
                if raw is not None:
                    out[name] = conv(raw)
            return out

        return convert


def _attribute_converters(
    shape: Any, reference: _Parser, *, sparse_lists: bool, sparse_sets: bool
) -> tuple[Convert, Convert]:
    """The hot path: (one attribute value, a map of them), converted in place.

    orjson's result is fresh and unshared, so values already in botocore's form (strings,
    numbers, booleans, string and number sets) are kept as they are and only binary payloads
    are replaced; anything not a well-formed single-tag value goes to botocore's parser.
    """
    parse = reference._parse_shape
    blob = reference._blob_parser
    plain = _PLAIN_TAGS

    def convert_map(attributes: Any) -> Any:
        for name, value in attributes.items():
            if value.__class__ is dict and len(value) == 1:
                ((tag, payload),) = value.items()
                if tag in plain and payload is not None:
                    continue
            attributes[name] = convert(value)
        return attributes

    def convert(value: Any) -> Any:
        if value.__class__ is dict and len(value) == 1:
            ((tag, payload),) = value.items()
            if payload is not None:
                if tag in plain:
                    return value
                if tag == "M" and payload.__class__ is dict:
                    convert_map(payload)
                    return value
                if tag == "L" and payload.__class__ is list:
                    for i, member in enumerate(payload):
                        if member is not None or not sparse_lists:
                            payload[i] = convert(member)
                    return value
                if tag == "B":
                    value["B"] = blob(payload)
                    return value
                if tag == "BS" and payload.__class__ is list:
                    if sparse_sets:
                        value["BS"] = [None if m is None else blob(m) for m in payload]
                    else:
                        value["BS"] = [blob(m) for m in payload]
                    return value
        return parse(shape, value)

    return convert, convert_map


class _LeanJSONParser(_Parser):  # type: ignore[misc]
    """botocore's JSON parser, with a lean successful-response path for the bulk outputs."""

    def __init__(self, compiler: _Compiler, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._compiler = compiler

    def _do_parse(self, response: dict[str, Any], shape: Any) -> Any:
        body = response["body"]
        if shape is None or shape.name not in _LEAN_OUTPUTS or not body:
            return super()._do_parse(response, shape)
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError:
            return super()._do_parse(response, shape)
        try:
            parsed = self._compiler.converter(shape)(raw)
        except _Refuse:
            return super()._do_parse(response, shape)
        self._inject_response_metadata(parsed, response["headers"])
        return parsed


class _LeanParserFactory(_ParserFactory):  # type: ignore[misc]
    """Creates the lean parser for the json protocol, botocore's for any other."""

    def __init__(self, base: ResponseParserFactory) -> None:
        super().__init__()
        self._defaults = dict(getattr(base, "_defaults", {}))
        self._compiler = _Compiler(JSONParser(**self._defaults))

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return _LeanJSONParser(self._compiler, **self._defaults)
        return super().create_parser(protocol_name)


def _default(value: Any) -> Any:
    """orjson's fallback: binary becomes base64 text, as botocore's serializer writes it."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot serialize {type(value).__name__}")


class _DirectSerializer:
    """Serializes the item-carrying requests with orjson; anything else goes to botocore's."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> Any:
        if operation_model.name not in _DIRECT_INPUTS:
            return self._inner.serialize_to_request(parameters, operation_model)
        try:
            body = orjson.dumps(parameters, default=_default)
        except TypeError:
            return self._inner.serialize_to_request(parameters, operation_model)
        request = self._inner.serialize_to_request({}, operation_model)
        request["body"] = body
        return request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _tested_botocore(version: str) -> bool:
    """Whether ``version`` (e.g. ``1.43.11``) lies in :data:`TESTED_BOTOCORE`."""
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    low, high = TESTED_BOTOCORE
    return low <= major_minor < high


def _protocol(client: Any) -> str | None:
    model = client.meta.service_model
    return getattr(model, "resolved_protocol", None) or getattr(model, "protocol", None)


def install(client: Any, *, serialize: bool = True) -> bool:
    """Give ``client`` (dynamodb or dynamodbstreams) the lean path; ``False`` if it could not.

    Parameter validation must already be off (``Config(parameter_validation=False)``) for the
    direct serializer to be used: a client that validates keeps botocore's serializer, whose
    validation would otherwise be skipped silently.
    """
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return False
    if orjson is None or not _tested_botocore(botocore.__version__):
        logger.info("lean data path not installed: needs orjson and botocore %s", TESTED_BOTOCORE)
        return False
    endpoint = getattr(client, "_endpoint", None)
    factory = getattr(endpoint, "_response_parser_factory", None)
    if not isinstance(factory, ResponseParserFactory) or _protocol(client) != "json":
        logger.warning("lean data path not installed: botocore client internals differ")
        return False
    if not isinstance(factory, _LeanParserFactory):
        endpoint._response_parser_factory = _LeanParserFactory(factory)  # type: ignore[union-attr]
    inner = getattr(client, "_serializer", None)
    # A validating client's serializer is botocore's ParamValidationDecorator: it stays.
    if serialize and isinstance(inner, JSONSerializer):
        client._serializer = _DirectSerializer(inner)
    signing.install(client, LEAN_OPERATIONS)
    return True


def is_installed(client: Any) -> bool:
    """Whether ``client`` (or the botocore client a retrying wrapper holds) parses its bulk
    responses lean."""
    client = getattr(client, "botocore_client", client)
    factory = getattr(getattr(client, "_endpoint", None), "_response_parser_factory", None)
    return isinstance(factory, _LeanParserFactory)
