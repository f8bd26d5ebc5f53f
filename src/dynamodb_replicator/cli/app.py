"""The ``dynamodb-replicator`` command group and the stand-alone command names.

Each stand-alone name (``diff-tables``, ``backup-table``, ...) is the very same click command as
the matching subcommand, so both behave identically.

A command's module is imported when the command is first looked up, not when the group is: a
run of ``restore-table`` pays for importing restore-table's code only (start-up time is part of
every command's run time; the group's ``--help`` still imports them all, for their summaries).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

import click

from .. import __version__
from .exit_codes import EXIT_CODES_HELP
from .options import CONTEXT_SETTINGS

__all__ = ["COMMANDS", "cli"]

#: Each subcommand's name, and the module and attribute (in this package) that define it.
COMMANDS: dict[str, tuple[str, str]] = {
    "diff-tables": ("diff_cmd", "diff_tables"),
    "diff-record": ("diff_cmd", "diff_record"),
    "replicate-record": ("diff_cmd", "replicate_record"),
    "replicate": ("replicate_cmd", "replicate"),
    "backup-table": ("backup_cmd", "backup_table"),
    "restore-table": ("backup_cmd", "restore_table"),
    "verify-backup": ("backup_cmd", "verify_backup"),
    "incremental-snapshot": ("incremental_cmd", "incremental_snapshot"),
    "roll-forward": ("pitr_cmd", "roll_forward_command"),
    "backup-changes": ("changelog_cmd", "backup_changes_command"),
    "verify-changes": ("changelog_cmd", "verify_changes_command"),
    "record-history": ("changelog_cmd", "record_history_command"),
    "merge-results": ("merge_cmd", "merge_results_command"),
    "local": ("local_cmd", "local"),
    "demo": ("demo_cmd", "demo"),
}


class _LazyCommands(MutableMapping[str, click.Command]):
    """The group's commands by name, each imported on first lookup."""

    def __init__(self, specs: dict[str, tuple[str, str]]) -> None:
        self._specs = dict(specs)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            module, attribute = self._specs[name]
            command = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
            if not isinstance(command, click.Command) or command.name != name:
                raise RuntimeError(f"{module}.{attribute} is not the {name!r} command")
            self._loaded[name] = command
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._specs.setdefault(name, ("", ""))
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._specs[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def get(self, name: str, default: click.Command | None = None) -> click.Command | None:  # type: ignore[override]
        return self[name] if name in self._specs else default


@click.group(
    context_settings=CONTEXT_SETTINGS,
    epilog=EXIT_CODES_HELP,
    commands=_LazyCommands(COMMANDS),
)
@click.version_option(__version__, prog_name="dynamodb-replicator")
def cli() -> None:
    """Replicate, compare, repair, back up and restore DynamoDB tables, losslessly.

    Items stay in DynamoDB's wire format end to end: 38-digit numbers, binary, sets and empty
    strings come back byte for byte.
    """
