"""Where the follower keeps its place, and the lease that keeps it to one follower.

A checkpoint holds, per shard, the sequence number of the last applied record and whether the
shard is finished. Two stores share one small protocol:

- :class:`FileCheckpoint`: a JSON file, replaced atomically (write a temporary file, fsync,
  rename), with an exclusive ``flock`` on ``<file>.lock`` as the lease (the lock file is
  removed on release); by default in the user's state folder (:func:`default_checkpoint`);
- :class:`TableCheckpoint`: one item in a DynamoDB table (``ddb://REGION/TABLE``), with a lease
  item taken and renewed by a conditional write that expires, so a crashed follower's lease
  lapses on its own.

A second follower asking for a lease someone holds gets a :class:`ConfigError` (exit 2) that
names the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from botocore.exceptions import ClientError

from ..dynamo import Client
from ..dynamo.aws import BotoError, Outcome, aws_errors, expected, raising, translate
from ..errors import ConfigError, ReplicatorError, UsageError
from ..fsutil import replace_durably

__all__ = [
    "CHECKPOINT_TABLE_PREFIX",
    "STATE_DIR_VARIABLE",
    "CheckpointState",
    "CheckpointStore",
    "DefaultCheckpoint",
    "FileCheckpoint",
    "ShardCheckpoint",
    "TableCheckpoint",
    "default_checkpoint",
    "holder_identity",
    "parse_checkpoint_location",
]

log = logging.getLogger(__name__)

CHECKPOINT_TABLE_PREFIX = "ddb://"
_FORMAT_VERSION = 1
#: Overrides the per-user state folder (tests, containers, a shared service account).
STATE_DIR_VARIABLE = "DYNAMODB_REPLICATOR_STATE_DIR"
_APP_NAME = "dynamodb-replicator"
#: Attempts to lock the file at the lock path while other followers remove and recreate it.
_LOCK_ATTEMPTS = 50


@dataclass(frozen=True)
class ShardCheckpoint:
    """One shard's place: the last applied sequence number (``None``: none yet), and done."""

    sequence: str | None = None
    finished: bool = False


@dataclass(frozen=True)
class CheckpointState:
    """The whole checkpoint: which stream, and every known shard's place."""

    stream_arn: str
    shards: Mapping[str, ShardCheckpoint] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _FORMAT_VERSION,
            "stream_arn": self.stream_arn,
            "shards": {
                shard_id: {"sequence": s.sequence, "finished": s.finished}
                for shard_id, s in sorted(self.shards.items())
            },
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> CheckpointState:
        """Parse a stored checkpoint; anything unexpected is a clear exit-2 error."""
        try:
            if data.get("version") != _FORMAT_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            shards = {
                str(shard_id): ShardCheckpoint(
                    sequence=None if s.get("sequence") is None else str(s["sequence"]),
                    finished=bool(s.get("finished", False)),
                )
                for shard_id, s in data["shards"].items()
            }
            return cls(stream_arn=str(data["stream_arn"]), shards=shards)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"checkpoint {where} is not a valid checkpoint: {exc}",
                hint="point --checkpoint at another place, or delete it to start over",
                cause=exc,
            ) from exc


class CheckpointStore(Protocol):
    """Loads and saves a :class:`CheckpointState`, and holds the lease on it."""

    def describe(self) -> str:
        """Where the checkpoint lives, for messages."""

    def acquire(self) -> None:
        """Take the lease; a :class:`ConfigError` naming the holder if someone has it."""

    def renew(self) -> None:
        """Keep the lease (called after each save); no-op for stores whose lease cannot lapse."""

    def release(self) -> None:
        """Give the lease back."""

    def load(self) -> CheckpointState | None:
        """The saved state, or ``None`` when there is none (the very first start)."""

    def save(self, state: CheckpointState) -> None:
        """Store ``state`` durably (atomically: a crash leaves the old or the new state)."""


def holder_identity() -> str:
    """Who holds a lease, as shown to a refused follower: host, process id and a nonce."""
    return f"{socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:8]})"


# --- file -------------------------------------------------------------------------------------


class FileCheckpoint:
    """A JSON file replaced atomically; the lease is an exclusive ``flock`` on ``<path>.lock``.

    The operating system drops the lock when the process dies, even by SIGKILL, so a crashed
    follower never blocks its successor. :meth:`release` deletes the lock file while still
    holding the lock; :meth:`acquire` therefore checks, once it holds a lock, that the file it
    locked is still the one at the path (same device and inode) and starts over if not, so two
    followers can never both hold "the" lock through an unlinked file.
    """

    def __init__(self, path: Path, *, holder: str | None = None) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.holder = holder or holder_identity()
        self._lock: IO[str] | None = None

    def describe(self) -> str:
        return str(self.path)

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(_LOCK_ATTEMPTS):
            handle = self._lock_once()
            if handle is not None:
                break
        else:
            raise ConfigError(
                f"cannot lock {self.lock_path}: it kept being removed and recreated",
                hint="another follower is starting and stopping on this checkpoint: stop it",
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"{self.holder} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        handle.flush()
        self._lock = handle

    def _lock_once(self) -> IO[str] | None:
        """The locked lock file, or ``None`` when the file locked was unlinked or replaced
        meanwhile (a follower released it between our open and our lock: try again)."""
        handle = open(self.lock_path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            who = handle.read().strip() or "another process"
            handle.close()
            raise ConfigError(
                f"checkpoint {self.path} is in use by another follower: {who}",
                hint="one follower per checkpoint: stop the other one, or use another --checkpoint",
                cause=exc,
            ) from exc
        if _same_file(handle, self.lock_path):
            return handle
        handle.close()
        return None

    def renew(self) -> None:
        return None

    def release(self) -> None:
        """Remove the lock file, then drop the lock (in that order: see the class)."""
        handle, self._lock = self._lock, None
        if handle is not None:
            with contextlib.suppress(OSError):
                if _same_file(handle, self.lock_path):
                    os.unlink(self.lock_path)
            handle.close()

    def load(self) -> CheckpointState | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read checkpoint {self.path}: {exc}", cause=exc) from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(
                f"checkpoint {self.path} is not JSON: {exc}",
                hint="delete it to start over (then run diff-tables --repair)",
                cause=exc,
            ) from exc
        return CheckpointState.from_json(data, str(self.path))

    def save(self, state: CheckpointState) -> None:
        text = json.dumps(state.to_json(), indent=1, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            replace_durably(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _same_file(handle: IO[str], path: Path) -> bool:
    """Whether the open ``handle`` is the file now at ``path`` (same device and inode)."""
    try:
        at_path = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (opened.st_dev, opened.st_ino) == (at_path.st_dev, at_path.st_ino)


@dataclass(frozen=True)
class DefaultCheckpoint:
    """Where ``replicate`` (or ``backup-changes``) keeps its checkpoint when no ``--checkpoint``
    is given.

    ``legacy`` is true when an earlier version's file in the current folder is used instead of
    the state folder, so a scheduled follower never restarts from the stream's start.
    """

    path: Path
    legacy: bool = False


def _state_dir(environ: Mapping[str, str]) -> Path:
    override = environ.get(STATE_DIR_VARIABLE)
    if override:
        return Path(override).expanduser()
    import platformdirs  # only the stand-alone follower needs it, never the Lambda path

    return platformdirs.user_state_path(_APP_NAME)


def default_checkpoint(
    primary: str,
    replica: str,
    primary_address: str,
    replica_address: str,
    *,
    environ: Mapping[str, str],
    cwd: Path,
    command: str = "replicate",
) -> DefaultCheckpoint:
    """The default checkpoint file of ``command`` for the pair ``primary`` -> ``replica``.

    ``COMMAND-PRIMARY-REPLICA.checkpoint.json`` in the current folder when an earlier version
    left one there; otherwise ``<state folder>/checkpoints/COMMAND-PRIMARY-REPLICA-<hash>
    .checkpoint.json``, the hash (of both addresses) telling apart same-named tables at other
    endpoints or regions. ``replica`` may be empty (``backup-changes``: the pair is a table and
    a change log, told apart by the hash only); the name then has the primary alone. The state
    folder is the user's (``platformdirs``) unless ``DYNAMODB_REPLICATOR_STATE_DIR`` names
    another.
    """
    pair = f"{primary}-{replica}" if replica else primary
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", pair)
    legacy = cwd / f"{command}-{safe}.checkpoint.json"
    if legacy.exists():
        return DefaultCheckpoint(legacy, legacy=True)
    digest = hashlib.sha256(f"{primary_address}->{replica_address}".encode()).hexdigest()[:10]
    name = f"{command}-{safe}-{digest}.checkpoint.json"
    return DefaultCheckpoint(_state_dir(environ) / "checkpoints" / name)


# --- DynamoDB table ---------------------------------------------------------------------------


class TableCheckpoint:
    """The checkpoint as one item of a DynamoDB table, keyed by ``id`` (a string).

    The state item is ``id = <name>``; the lease item is ``id = <name>#lease`` with the holder
    and an ``expires`` time (epoch seconds). Taking the lease is a conditional put that succeeds
    only if there is no lease, it expired, or it is ours; every save renews it. The table is
    created (on demand billing) when missing.
    """

    def __init__(
        self,
        client: Client,
        table: str,
        name: str,
        *,
        holder: str | None = None,
        lease_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.table = table
        self.name = name
        self.holder = holder or holder_identity()
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._held = False

    def describe(self) -> str:
        return f"{CHECKPOINT_TABLE_PREFIX}{self.table} (id {self.name!r})"

    def _errors(
        self,
        what: str,
        *,
        codes: Mapping[str, Outcome] | None = None,
        otherwise: Outcome | None = None,
    ) -> aws_errors:
        """:func:`aws_errors` for a call on the checkpoint table (a missing table named)."""
        return aws_errors(self._on_table(what), table=self.table, codes=codes, otherwise=otherwise)

    def _on_table(self, what: str) -> str:
        return f"{what} on checkpoint table {self.table}"

    def ensure_table(self) -> None:
        """Create the checkpoint table if it does not exist, and wait until it is active."""
        with self._errors(
            "DescribeTable", codes={"ResourceNotFoundException": expected}
        ) as missing:
            self.client.describe_table(TableName=self.table)
        if not missing:
            return
        log.info("creating checkpoint table %s", self.table)
        # ResourceInUseException: another follower created it meanwhile.
        with self._errors("CreateTable", codes={"ResourceInUseException": expected}):
            self.client.create_table(
                TableName=self.table,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        inactive = raising(
            ConfigError,
            f"checkpoint table {self.table} did not become active",
            hint="create it yourself: hash key 'id' (S)",
        )
        with self._errors("waiting (table_exists)", otherwise=inactive):
            self.client.get_waiter("table_exists").wait(
                TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )

    def _lease_put(self) -> None:
        now = self.clock()
        self.client.put_item(
            TableName=self.table,
            Item={
                "id": {"S": f"{self.name}#lease"},
                "holder": {"S": self.holder},
                "expires": {"N": str(int(now + self.lease_seconds))},
            },
            ConditionExpression="attribute_not_exists(id) OR expires < :now OR holder = :me",
            ExpressionAttributeValues={":now": {"N": str(int(now))}, ":me": {"S": self.holder}},
        )

    def acquire(self) -> None:
        self.ensure_table()

        def in_use(exc: BotoError) -> ConfigError:
            return ConfigError(
                f"checkpoint {self.describe()} is in use by another follower: {self._who()}",
                hint="one follower per checkpoint: stop the other one (its lease expires "
                f"{self.lease_seconds:.0f} s after its last save), or use another --checkpoint",
            )

        with self._errors("PutItem (lease)", codes={"ConditionalCheckFailedException": in_use}):
            self._lease_put()
        self._held = True

    def _who(self) -> str:
        with self._errors("GetItem (lease)", otherwise=expected) as unreadable:
            item = self.client.get_item(
                TableName=self.table, Key={"id": {"S": f"{self.name}#lease"}}, ConsistentRead=True
            ).get("Item", {})
        if unreadable:
            return "unknown holder"
        holder = str(item.get("holder", {}).get("S", "unknown holder"))
        expires = item.get("expires", {}).get("N")
        if expires is None:
            return holder
        left = int(expires) - int(self.clock())
        return f"{holder} (lease expires in {max(left, 0)} s)"

    def renew(self) -> None:
        if not self._held:
            return
        with self._errors(
            "PutItem (lease)", codes={"ConditionalCheckFailedException": expected}
        ) as lost:
            self._lease_put()
        if lost:
            self._held = False
            raise ReplicatorError(
                f"lost the lease on checkpoint {self.describe()} to {self._who()}",
                hint="another follower took over after this one stalled; run only one",
                cause=lost.error,
            ) from lost.error

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        with self._errors("DeleteItem (lease)", otherwise=expected):  # it lapses on its own
            self.client.delete_item(
                TableName=self.table,
                Key={"id": {"S": f"{self.name}#lease"}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": self.holder}},
            )

    def load(self) -> CheckpointState | None:
        with self._errors("GetItem"):
            item = self.client.get_item(
                TableName=self.table, Key={"id": {"S": self.name}}, ConsistentRead=True
            ).get("Item")
        if item is None:
            return None
        try:
            data = json.loads(item["state"]["S"])
        except (KeyError, ValueError) as exc:
            raise ConfigError(
                f"checkpoint {self.describe()} holds no valid state",
                hint="delete that item to start over",
                cause=exc,
            ) from exc
        return CheckpointState.from_json(data, self.describe())

    def save(self, state: CheckpointState) -> None:
        """Write the state and renew the lease in one transaction, only while the lease is ours.

        A follower that stalled and lost its lease must not overwrite the new holder's
        positions: the state write is conditional on the lease item naming this holder.
        """
        if not self._held:
            raise ReplicatorError(
                f"checkpoint {self.describe()} is not held by this follower",
                hint="acquire the lease before saving",
            )
        text = json.dumps(state.to_json(), sort_keys=True)
        now = self.clock()
        what = "TransactWriteItems (state and lease)"

        def lease_refused(exc: BotoError) -> ReplicatorError | None:
            """Expected when the lease item's condition failed (handled below); any other
            cancellation is a failure like any other."""
            if _lease_refused(exc):
                return None
            return translate(exc, self._on_table(what), table=self.table)

        codes = {"TransactionCanceledException": lease_refused}
        with self._errors(what, codes=codes) as lost:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {"id": {"S": self.name}, "state": {"S": text}},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {
                                "id": {"S": f"{self.name}#lease"},
                                "holder": {"S": self.holder},
                                "expires": {"N": str(int(now + self.lease_seconds))},
                            },
                            "ConditionExpression": "holder = :me",
                            "ExpressionAttributeValues": {":me": {"S": self.holder}},
                        }
                    },
                ]
            )
        if lost:
            self._held = False
            raise ReplicatorError(
                f"lost the lease on checkpoint {self.describe()} to {self._who()}; "
                "this follower's positions were not saved",
                hint="another follower took over after this one stalled; run only one",
                cause=lost.error,
            ) from lost.error


def _lease_refused(exc: BotoError) -> bool:
    """Whether a cancelled transaction failed on the lease item's condition (the second item)."""
    response = exc.response if isinstance(exc, ClientError) else {}
    reasons = response.get("CancellationReasons") or []
    if len(reasons) >= 2:
        return bool(reasons[1].get("Code") == "ConditionalCheckFailed")
    return "ConditionalCheckFailed" in str(exc)


def parse_checkpoint_location(text: str) -> tuple[str, str] | Path:
    """``ddb://REGION/TABLE`` -> ``(region, table)``; anything else is a file path."""
    if not text.startswith(CHECKPOINT_TABLE_PREFIX):
        if not text.strip():
            raise UsageError("--checkpoint is empty", hint="give a file path or ddb://REGION/TABLE")
        return Path(text)
    rest = text[len(CHECKPOINT_TABLE_PREFIX) :]
    region, sep, table = rest.partition("/")
    if not sep or not region or not table or "/" in table or ":" in region:
        raise UsageError(
            f"malformed checkpoint table address {text!r}",
            hint="use ddb://REGION/TABLE, for example ddb://us-east-1/replicator-checkpoints "
            "(the table is reached like the primary: --endpoint-url for a local server)",
        )
    return region, table
