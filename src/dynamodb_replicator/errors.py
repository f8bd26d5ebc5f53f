"""One error hierarchy for the whole project.

Every failure the library raises is a :class:`ReplicatorError`. Each failure domain has its own
subclass so callers can catch what they can handle; the CLI alone maps them to exit codes.
Errors that wrap a botocore failure keep it as ``cause`` (and as ``__cause__``) and expose its
AWS error code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AwsError",
    "BackupError",
    "BackupIntegrityError",
    "CallDeadlineError",
    "ChangeLogError",
    "ConcurrentChangeError",
    "ConfigError",
    "DeadlineReached",
    "GapError",
    "IncompleteBatchError",
    "ItemFormatError",
    "JobInterrupted",
    "NotCaughtUpError",
    "NotExactError",
    "PartialSegmentError",
    "RecordError",
    "RepairLimitError",
    "ReplicatorError",
    "RetriesExhaustedError",
    "SegmentFailedError",
    "TableNotFoundError",
    "UsageError",
    "aws_error_code",
]


def aws_error_code(exc: BaseException | None) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping):
            code = error.get("Code")
            return str(code) if code is not None else None
    return None


class ReplicatorError(Exception):
    """Base of every error this project raises on purpose.

    ``hint`` is the one-line advice printed after the message (what to do about it).
    """

    def __init__(
        self, message: str, *, hint: str | None = None, cause: BaseException | None = None
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause

    @property
    def code(self) -> str | None:
        """The AWS error code of the underlying botocore error, if any."""
        return aws_error_code(self.cause)

    def __str__(self) -> str:
        return self.message


# --- found before any work: usage and configuration -------------------------------------------


class UsageError(ReplicatorError):
    """Bad arguments: a malformed address, a conflicting option, an out-of-range segment."""


class ConfigError(ReplicatorError):
    """The environment or the tables do not allow the job: key schemas differ, bucket missing."""


class TableNotFoundError(ConfigError):
    """A table named by the user does not exist at the address given."""

    def __init__(self, table: str, where: str, *, cause: BaseException | None = None):
        super().__init__(
            f"table {table!r} not found at {where}",
            hint="check the table name, the region and the endpoint (--endpoint-url)",
            cause=cause,
        )
        self.table = table


# --- data -------------------------------------------------------------------------------------


class ItemFormatError(ReplicatorError):
    """A value is not valid DynamoDB wire format (bad type tag, bad base64, bad number)."""


class RecordError(ItemFormatError):
    """A change record that cannot be used: malformed, unknown event name, missing image."""


# --- while running ----------------------------------------------------------------------------


class AwsError(ReplicatorError):
    """An AWS call failed after bounded retries."""


class CallDeadlineError(AwsError):
    """No time was left before the deadline to start (or retry) a call."""


class DeadlineReached(AwsError):
    """The time left for this batch ran out before every write was made."""


class IncompleteBatchError(AwsError):
    """A batch call left keys not read or not written; ``keys`` holds exactly those (wire format).

    Raised as is for a failure that retrying cannot fix (a validation error, access denied);
    :class:`RetriesExhaustedError` when bounded retries of leftovers ran out. Nothing is dropped
    silently either way.
    """

    def __init__(
        self,
        message: str,
        *,
        keys: Sequence[Mapping[str, Any]],
        hint: str | None = None,
        cause: BaseException | None = None,
    ):
        super().__init__(message, hint=hint, cause=cause)
        self.keys: tuple[Mapping[str, Any], ...] = tuple(keys)


class RetriesExhaustedError(IncompleteBatchError):
    """Bounded retries of unprocessed keys or items ran out (throttling that did not ease)."""


class SegmentFailedError(ReplicatorError):
    """One or more segments of a parallel job failed; ``segments`` names them."""

    def __init__(
        self,
        message: str,
        *,
        segments: Sequence[int],
        hint: str | None = None,
        cause: BaseException | None = None,
    ):
        super().__init__(message, hint=hint, cause=cause)
        self.segments: tuple[int, ...] = tuple(segments)


class PartialSegmentError(ReplicatorError):
    """A segment failed after doing work that stays done (repairs already written).

    ``partial`` records that work in the job's own picklable form, so an engine that retries the
    segment can report it once with the retry's result; the original failure is the cause (its
    message is this error's). Survives pickling (workers send it back to the coordinator).
    """

    def __init__(
        self,
        message: str,
        *,
        partial: object,
        hint: str | None = None,
        cause: BaseException | None = None,
    ):
        super().__init__(message, hint=hint, cause=cause)
        self.partial = partial

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_partial, (type(self), self.message, self.partial, self.hint, self.cause))


def _rebuild_partial(
    cls: type[PartialSegmentError],
    message: str,
    partial: object,
    hint: str | None,
    cause: BaseException | None,
) -> PartialSegmentError:
    return cls(message, partial=partial, hint=hint, cause=cause)


class RepairLimitError(ReplicatorError):
    """A repair would exceed ``--max-writes`` or ``--max-deletes``; nothing beyond it was written.

    ``result`` holds what the run found (every discrepancy, unrepaired) when it is known: the
    diff job's ``DiffResult`` (typed ``object`` here, as this module imports nothing of the
    project).
    """

    def __init__(self, message: str, *, hint: str | None = None, result: object | None = None):
        super().__init__(message, hint=hint)
        self.result = result


# --- the stream follower ----------------------------------------------------------------------


class GapError(ReplicatorError):
    """Trimmed records were found and ``fail_on_gap`` asked to stop at once (exit 1: the job
    stopped, and data may be missing)."""


class NotCaughtUpError(ReplicatorError):
    """``max_seconds`` ran out before the follower caught up (exit 3)."""


# --- backups and change logs ------------------------------------------------------------------


class BackupError(ReplicatorError):
    """A backup could not be written or read."""


class BackupIntegrityError(BackupError):
    """A backup is damaged or incomplete (count, size or checksum mismatch, undecodable line).

    ``before_write`` is true when the damage was found before anything was written to a table:
    such a refusal is a configuration error (exit 2), not a failure mid-job (exit 3).
    """

    def __init__(
        self,
        message: str,
        *,
        before_write: bool,
        hint: str | None = None,
        cause: BaseException | None = None,
    ):
        super().__init__(message, hint=hint, cause=cause)
        self.before_write = before_write

    def __reduce__(self) -> tuple[Any, ...]:
        """Survive pickling (worker processes send it back): ``before_write`` is keyword-only."""
        return (
            _rebuild_integrity,
            (type(self), self.message, self.before_write, self.hint, self.cause),
        )


def _rebuild_integrity(
    cls: type[BackupIntegrityError],
    message: str,
    before_write: bool,
    hint: str | None,
    cause: BaseException | None,
) -> BackupIntegrityError:
    return cls(message, before_write=before_write, hint=hint, cause=cause)


class ChangeLogError(BackupError):
    """A change log could not be written or read: bad record, bad object, mismatched stream."""


class JobInterrupted(ReplicatorError):
    """The user interrupted the job (Ctrl-C); ``done`` names the segments that had finished,
    ``progress`` the units each segment had reported by task (items scanned, written...)."""

    def __init__(
        self,
        message: str,
        *,
        done: Sequence[int] = (),
        progress: Mapping[int, Mapping[str, int]] | None = None,
        hint: str | None = None,
    ):
        super().__init__(message, hint=hint)
        self.done: tuple[int, ...] = tuple(done)
        self.progress: dict[int, dict[str, int]] = {
            segment: dict(tasks) for segment, tasks in (progress or {}).items()
        }


class NotExactError(ConfigError):
    """A point-in-time result would not be exact (the base backup's scan ends too close to the
    time asked for, or the change log is not proven complete over the window): refused before
    anything is written."""


class ConcurrentChangeError(ConfigError):
    """A race-safe single-item write was refused: the item changed since it was read, so
    nothing was overwritten."""
