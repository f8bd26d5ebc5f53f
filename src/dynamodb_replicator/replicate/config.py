"""The replicator's configuration, from environment variables, validated once at cold start.

New names and the original tool's names are both accepted; when both are set the new name wins
and a warning says so. Every problem is a :class:`ConfigError` naming the variable and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, cast

from ..dynamo import Auth, ClientOptions, TableAddress, TableSpec
from ..dynamo.address import is_role_arn, is_table_name
from ..errors import ConfigError
from .plan import Filters, Mode, Sources, TurnoverRole

__all__ = ["ENV_NAMES", "LAMBDA_CLIENT_OPTIONS", "LoadedConfig", "ReplicatorConfig", "load_config"]

#: New name -> the original tool's name (``None``: no old name).
ENV_NAMES: Final[Mapping[str, str | None]] = {
    "REPLICA_TABLE": "ReplicaTable",
    "REPLICA_REGION": "ReplicaRegion",
    "REPLICA_ENDPOINT_URL": "ReplicaEndpoint",
    "REPLICA_ROLE_ARN": None,
    "REPLICA_ACCESS_KEY_ID": "ReplicaAccessKeyId",
    "REPLICA_SECRET_ACCESS_KEY": "ReplicaSecretAccessKey",
    "REPLICATION_MODE": None,
    "PRIMARY_TABLE": None,
    "PRIMARY_REGION": None,
    "PRIMARY_ENDPOINT_URL": None,
    "SKIP_TTL_DELETES": None,
    "TURNOVER_ROLE": "TurnoverRole",
    "TURNOVER_AT": "TurnoverAt",
    "DEADLINE_MARGIN_MS": None,
    "WRITE_CONCURRENCY": None,
    "METRICS_NAMESPACE": None,
    "TABLE_MAP": None,
    "SKIP_SEQUENCE_NUMBERS": None,
}

#: Short timeouts: 2 s to connect, 5 s to read. Under the invocation's deadline each attempt's
#: timeouts shrink further to the time left, and retries stop before it (``dynamo.retry``).
LAMBDA_CLIENT_OPTIONS: Final = ClientOptions(connect_timeout=2.0, read_timeout=5.0)

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})
_MAX_CONCURRENCY: Final = LAMBDA_CLIENT_OPTIONS.max_pool_connections


@dataclass(frozen=True)
class ReplicatorConfig:
    """Where to write, how, and what to leave out.

    ``table_map`` (from ``TABLE_MAP``) pairs source tables with replica tables, all replicas
    reached like ``replica`` (its region, endpoint and credentials) and, in fetch mode, all
    sources like ``primary``; without it the function replicates one table into ``replica``.
    ``skip_records`` holds the sequence numbers of records to skip on purpose.
    """

    replica: TableSpec
    mode: Mode = "image"
    primary: TableSpec | None = None
    filters: Filters = field(default_factory=Filters)
    deadline_margin_ms: int = 3_000
    metrics_namespace: str = "DynamoDBReplicator"
    write_concurrency: int = 4
    table_map: tuple[tuple[str, str], ...] = ()
    skip_records: frozenset[str] = frozenset()

    @property
    def sources(self) -> Sources:
        """Which source tables a batch may hold (see :class:`~.plan.Sources`)."""
        if self.table_map:
            return Sources(mapped=frozenset(source for source, _ in self.table_map))
        return Sources(expected=self.primary.name if self.primary is not None else None)

    @property
    def replica_label(self) -> str:
        """The replica table(s), for metrics: the mapped replicas joined by commas."""
        if self.table_map:
            return ",".join(sorted({replica for _, replica in self.table_map}))
        return self.replica.name


@dataclass(frozen=True)
class LoadedConfig:
    """A configuration and the warnings found while reading it (log them)."""

    config: ReplicatorConfig
    warnings: tuple[str, ...] = ()


class _Env:
    """Reads one variable by its new or old name, collecting warnings."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.warnings: list[str] = []

    def get(self, name: str) -> str | None:
        old = ENV_NAMES.get(name)
        new_value = self.environ.get(name, "").strip() or None
        old_value = (self.environ.get(old, "").strip() or None) if old else None
        if new_value is not None and old_value is not None:
            note = f"both {name} and {old} are set; using {name} and ignoring {old}"
            if note not in self.warnings:
                self.warnings.append(note)
        return new_value if new_value is not None else old_value


def _bad(name: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{name}: {problem}", hint=fix)


def _table(env: _Env, name: str) -> str:
    value = env.get(name)
    if value is None:
        old = ENV_NAMES.get(name)
        fix = f"set {name}" + (f" (or {old})" if old else "") + " to the table's name"
        if name == "REPLICA_TABLE":
            fix += ", or TABLE_MAP to SOURCE=REPLICA pairs for several tables"
        raise _bad(name, "not set", fix)
    if not is_table_name(value):
        raise _bad(name, f"{value!r} is not a table name", "3-255 letters, digits, '_', '-', '.'")
    return value


def _region(env: _Env, name: str) -> str:
    value = env.get(name) or env.environ.get("AWS_REGION") or env.environ.get("AWS_DEFAULT_REGION")
    if not value:
        raise _bad(name, "no region", f"set {name} (Lambda sets AWS_REGION itself)")
    return value


def _endpoint(env: _Env, name: str) -> str | None:
    value = env.get(name)
    if value is not None and not value.startswith(("http://", "https://")):
        raise _bad(name, f"{value!r} is not a URL", "give http://HOST:PORT or https://HOST")
    return value.rstrip("/") if value else None


def _flag(env: _Env, name: str) -> bool:
    value = (env.get(name) or "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _bad(name, f"{value!r} is not a boolean", "use true or false")


def _int(env: _Env, name: str, default: int) -> int:
    value = env.get(name)
    if value is None:
        return default
    if not _DIGITS.fullmatch(value):
        raise _bad(name, f"{value!r} is not a whole number", "give a non-negative integer")
    return int(value)


_DIGITS: Final = re.compile(r"[0-9]{1,18}")
#: Epoch milliseconds below this (2001-09-09) are almost surely epoch seconds.
_EARLIEST_MS: Final = 1_000_000_000_000
#: Lambda functions run for at most 15 minutes.
_MAX_MARGIN_MS: Final = 900_000


def _margin(env: _Env) -> int:
    value = _int(env, "DEADLINE_MARGIN_MS", 3_000)
    if value >= _MAX_MARGIN_MS:
        raise _bad(
            "DEADLINE_MARGIN_MS", f"{value} leaves no time to write", "a few seconds, e.g. 3000"
        )
    return value


def _concurrency(env: _Env) -> int:
    value = _int(env, "WRITE_CONCURRENCY", 4)
    if not 1 <= value <= _MAX_CONCURRENCY:
        raise _bad("WRITE_CONCURRENCY", f"{value} is out of range", f"use 1 to {_MAX_CONCURRENCY}")
    return value


def _mode(env: _Env) -> Mode:
    value = (env.get("REPLICATION_MODE") or "image").lower()
    if value not in ("image", "fetch"):
        raise _bad("REPLICATION_MODE", f"{value!r} is not a mode", "use image or fetch")
    return cast(Mode, value)


def _auth(env: _Env) -> Auth:
    role = env.get("REPLICA_ROLE_ARN")
    if role is not None and not is_role_arn(role):
        raise _bad(
            "REPLICA_ROLE_ARN", f"{role!r} is not an IAM role ARN", "arn:aws:iam::ACCOUNT:role/NAME"
        )
    key_id = env.get("REPLICA_ACCESS_KEY_ID")
    secret = env.get("REPLICA_SECRET_ACCESS_KEY")
    if (key_id is None) != (secret is None):
        raise _bad(
            "REPLICA_ACCESS_KEY_ID",
            "an access key id and a secret access key go together",
            "set both ReplicaAccessKeyId and ReplicaSecretAccessKey, or neither (prefer REPLICA_ROLE_ARN)",
        )
    return Auth(role_arn=role, access_key_id=key_id, secret_access_key=secret)


def _filters(env: _Env) -> Filters:
    role = env.get("TURNOVER_ROLE")
    at = env.get("TURNOVER_AT")
    if (role is None) != (at is None):
        raise _bad(
            "TURNOVER_ROLE", "TURNOVER_ROLE and TURNOVER_AT go together", "set both or neither"
        )
    if role is not None and role.upper() not in ("BEFORE", "AFTER"):
        raise _bad("TURNOVER_ROLE", f"{role!r} is not BEFORE or AFTER", "use BEFORE or AFTER")
    if at is not None and (not _DIGITS.fullmatch(at) or int(at) < _EARLIEST_MS):
        raise _bad("TURNOVER_AT", f"{at!r} is not epoch milliseconds", "e.g. 1700000000000")
    return Filters(
        skip_ttl_deletes=_flag(env, "SKIP_TTL_DELETES"),
        turnover_role=cast(TurnoverRole, role.upper()) if role else None,
        turnover_at_ms=int(at) if at else None,
    )


_SEQUENCE: Final = re.compile(r"[0-9]{1,128}")


def _skip_records(env: _Env) -> frozenset[str]:
    value = env.get("SKIP_SEQUENCE_NUMBERS") or ""
    numbers = [part.strip() for part in value.split(",") if part.strip()]
    for number in numbers:
        if not _SEQUENCE.fullmatch(number):
            raise _bad(
                "SKIP_SEQUENCE_NUMBERS",
                f"{number!r} is not a sequence number",
                "give the failed records' sequence numbers (digits), separated by commas",
            )
    return frozenset(numbers)


def _table_map(env: _Env) -> tuple[tuple[str, str], ...]:
    value = env.get("TABLE_MAP")
    if value is None:
        return ()
    fix = "give SOURCE=REPLICA pairs separated by commas, e.g. orders=orders-copy,users=users-copy"
    pairs: list[tuple[str, str]] = []
    for part in value.split(","):
        source, equals, replica = (x.strip() for x in part.partition("="))
        if not equals or not is_table_name(source) or not is_table_name(replica):
            raise _bad("TABLE_MAP", f"{part.strip()!r} is not SOURCE=REPLICA", fix)
        pairs.append((source, replica))
    for index, name in ((0, "source"), (1, "replica")):
        names = [pair[index] for pair in pairs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise _bad("TABLE_MAP", f"{name} table {twice[0]!r} is named twice", fix)
    for name in ("REPLICA_TABLE", "PRIMARY_TABLE"):
        if env.get(name) is not None:
            raise _bad(
                name,
                "set together with TABLE_MAP",
                f"unset {name}: TABLE_MAP names every source and replica table",
            )
    return tuple(pairs)


def _primary_spec(env: _Env, table: str) -> TableSpec:
    address = TableAddress(
        table, _region(env, "PRIMARY_REGION"), _endpoint(env, "PRIMARY_ENDPOINT_URL")
    )
    return TableSpec(address, options=LAMBDA_CLIENT_OPTIONS)


def _replica_spec(env: _Env, table: str) -> TableSpec:
    address = TableAddress(
        table, _region(env, "REPLICA_REGION"), _endpoint(env, "REPLICA_ENDPOINT_URL")
    )
    return TableSpec(address, auth=_auth(env), options=LAMBDA_CLIENT_OPTIONS)


def _same_table(primary: TableSpec, replica: TableSpec, variable: str) -> None:
    if primary.address == replica.address:
        raise _bad(
            variable,
            f"the replica is the primary ({replica.address})",
            "name a different table, region or endpoint for the replica",
        )


def _mapped(
    env: _Env, table_map: tuple[tuple[str, str], ...], mode: Mode
) -> tuple[TableSpec, TableSpec | None]:
    """The replica (first mapped) and, in fetch mode, the primary (first source) of a table map;
    every pair is checked not to name one table twice."""
    for source, replica in table_map:
        _same_table(_primary_spec(env, source), _replica_spec(env, replica), "TABLE_MAP")
    first_source, first_replica = table_map[0]
    primary = _primary_spec(env, first_source) if mode == "fetch" else None
    return _replica_spec(env, first_replica), primary


def load_config(environ: Mapping[str, str]) -> LoadedConfig:
    """Read and check the configuration in ``environ``; raises :class:`ConfigError`."""
    env = _Env(environ)
    mode = _mode(env)
    table_map = _table_map(env)
    if table_map:
        replica, primary = _mapped(env, table_map, mode)
    else:
        replica = _replica_spec(env, _table(env, "REPLICA_TABLE"))
        primary = None
        if mode == "fetch" or env.get("PRIMARY_TABLE") is not None:
            if env.get("PRIMARY_TABLE") is None:
                raise _bad(
                    "PRIMARY_TABLE", "fetch mode reads the primary table", "set PRIMARY_TABLE"
                )
            primary = _primary_spec(env, _table(env, "PRIMARY_TABLE"))
            _same_table(primary, replica, "REPLICA_TABLE")
    config = ReplicatorConfig(
        replica=replica,
        mode=mode,
        primary=primary,
        filters=_filters(env),
        deadline_margin_ms=_margin(env),
        metrics_namespace=env.get("METRICS_NAMESPACE") or "DynamoDBReplicator",
        write_concurrency=_concurrency(env),
        table_map=table_map,
        skip_records=_skip_records(env),
    )
    return LoadedConfig(config, tuple(env.warnings))
