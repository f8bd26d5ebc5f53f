"""``verify-backup --against TABLE``: a backup's items compared with a live table.

The comparison is the diff-tables engine's, through its public :func:`verify_against`; this
module only streams the backup's items into it, verifying each object as it goes. A scan backup
covers a time window, so a live table also shows every change made since.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ..diff import DiffResult, Discrepancy, verify_against
from ..dynamo import TableSpec, describe_table
from ..errors import BackupIntegrityError, ConfigError
from ..items import Item, KeySchema
from ..progress import ProgressListener
from .reader import BackupSource, open_source, read_items
from .storage import StorageSpec

__all__ = ["AgainstReport", "compare_with_table"]

PAGE = 1000


@dataclass(frozen=True)
class AgainstReport:
    """The backup's own problems (listing, damage) and, when it could be read, the diff."""

    source: BackupSource
    problems: tuple[str, ...]
    diff: DiffResult | None

    @property
    def agree(self) -> bool:
        return not self.problems and self.diff is not None and self.diff.agree


def _pages(source: BackupSource) -> Iterator[Sequence[Item]]:
    storage = source.storage.open()
    page: list[Item] = []
    for segment in source.segments:
        for item in read_items(storage, segment, before_write=True):
            page.append(item)
            if len(page) >= PAGE:
                yield page
                page = []
    if page:
        yield page


def _check_keys(backed_up: KeySchema, live: TableSpec) -> None:
    """A live table keyed differently cannot be compared item by item (exit 2, before reading)."""
    info = describe_table(live.client(), live.name, str(live.address))
    if info.key_schema != backed_up:
        raise ConfigError(
            f"key schemas differ: the backup's table has {backed_up.names}, "
            f"{live.address} has {info.key_schema.names}",
            hint="compare the backup with a table of the same key schema",
        )


def compare_with_table(
    source_spec: StorageSpec,
    live: TableSpec,
    *,
    rate_read: float | None = None,
    progress: ProgressListener | None = None,
    on_discrepancy: Callable[[Discrepancy], None] | None = None,
) -> AgainstReport:
    """Compare every item of the backup with ``live`` (missing / different / extraneous).

    A backup with listing problems is not compared; damage found while reading stops the
    comparison and is reported as a problem.
    """
    source = open_source(source_spec)
    if source.problems:
        return AgainstReport(source, source.problems, None)
    if source.definition:
        _check_keys(KeySchema.from_description(source.definition), live)
    try:
        result = verify_against(
            _pages(source),
            live,
            rate_read=rate_read,
            progress=progress,
            on_discrepancy=on_discrepancy,
        )
    except BackupIntegrityError as exc:
        return AgainstReport(source, (exc.message,), None)
    return AgainstReport(source, (), result)
