"""The diff job's vocabulary: options, discrepancies, counts and results (frozen, picklable)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum

from ..dynamo.retry import CallCounts
from ..items import Item, Key

__all__ = [
    "Action",
    "DiffOptions",
    "DiffResult",
    "DiffStats",
    "Discrepancy",
    "Kind",
    "Tally",
]


class Kind(StrEnum):
    """What is wrong with one key of the replica."""

    MISSING = "missing"  # in the primary only
    DIFFERENT = "different"  # in both, not canonically equal
    EXTRANEOUS = "extraneous"  # in the replica only


class Action(StrEnum):
    """What a run did about a discrepancy."""

    NONE = "none"
    REPAIRED = "repaired"
    SKIPPED = "skipped"  # live replication changed the key first; re-checked at the end
    FAILED = "failed"


@dataclass(frozen=True)
class Discrepancy:
    """One confirmed discrepancy (it survived the consistent re-check).

    ``attributes`` names the differing attributes (``different`` only). ``resolved`` is true
    when the key agrees at the end of the run (repaired, or skipped and re-checked clean).
    ``primary_item``/``replica_item`` are the consistently read items the repair works from;
    they are not part of the report and are dropped before results cross processes.
    """

    kind: Kind
    key: Key
    attributes: tuple[str, ...] = ()
    action: Action = Action.NONE
    resolved: bool = False
    primary_item: Item | None = field(default=None, compare=False, repr=False)
    replica_item: Item | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DiffOptions:
    """How to compare and what to do about discrepancies.

    ``rate_read``/``rate_write`` are the job's budgets in capacity units per second (``None``:
    no cap); the read budget applies to each table. ``max_writes``/``max_deletes`` cap a repair
    (per invocation). ``max_retries`` bounds the retries of leftover batch keys and items made
    without progress (the clients' give-up time bounds them too).
    """

    repair: bool = False
    backfill: bool = False
    overwrite: bool = False
    dry_run: bool = False
    ignore_attributes: tuple[str, ...] = ()
    recheck_delay: float = 2.0
    recheck_batch: int = 1000
    max_writes: int | None = None
    max_deletes: int | None = None
    rate_read: float | None = None
    rate_write: float | None = None
    page_size: int | None = None
    max_retries: int = 50
    method: str = "scan-both"
    window: int = 5000
    fallback_share: float = 0.25

    @property
    def writes(self) -> bool:
        """True when this run may write to the replica."""
        return (self.repair or self.backfill) and not self.dry_run

    @property
    def capped(self) -> bool:
        """True when a write or delete cap is set."""
        return self.max_writes is not None or self.max_deletes is not None


@dataclass(frozen=True)
class DiffStats:
    """The counts a run reports in its summary; segments add up with ``+``."""

    scanned_primary: int = 0
    scanned_replica: int = 0
    missing: int = 0
    different: int = 0
    extraneous: int = 0
    repaired: int = 0
    skipped: int = 0
    failed: int = 0
    cleared: int = 0
    rechecked: int = 0
    unconditional: int = 0
    written: int = 0
    would_put: int = 0
    would_delete: int = 0
    unresolved: int = 0
    compared: int = 0
    fallbacks: int = 0
    requests: int = 0
    retried_errors: int = 0
    read_units: float = 0.0
    write_units: float = 0.0

    def __add__(self, other: DiffStats) -> DiffStats:
        return DiffStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @property
    def read_units_per_item(self) -> float:
        """Read capacity units consumed per distinct key compared (0 when none)."""
        return self.read_units / self.compared if self.compared else 0.0

    @property
    def found(self) -> int:
        """Discrepancies confirmed by the re-check."""
        return self.missing + self.different + self.extraneous

    @property
    def calls(self) -> CallCounts:
        """Requests made to both tables and the errors among them that were retried."""
        return CallCounts(self.requests, self.retried_errors)


@dataclass(frozen=True)
class DiffResult:
    """A whole run: every discrepancy (in segment order), the counts and the time taken."""

    discrepancies: tuple[Discrepancy, ...]
    stats: DiffStats
    duration: float = 0.0
    key_names: tuple[str, ...] = ()

    @property
    def failed_keys(self) -> tuple[Key, ...]:
        """Keys whose repair could not be written after bounded retries."""
        return tuple(d.key for d in self.discrepancies if d.action is Action.FAILED)

    @property
    def agree(self) -> bool:
        """True when the tables agree at the end of the run (exit 0)."""
        return self.stats.unresolved == 0 and not self.failed_keys


class Tally:
    """Mutable counts inside one segment or call; frozen into :class:`DiffStats` at the end."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    def get(self, name: str) -> int:
        return self.counts.get(name, 0)

    def freeze(self, *, read_units: float = 0.0, write_units: float = 0.0) -> DiffStats:
        return DiffStats(**self.counts, read_units=read_units, write_units=write_units)
