"""The ``dynamodb-replicator`` command group and the stand-alone command names.

Each stand-alone name (``diff-tables``, ``backup-table``, ...) is the very same click command as
the matching subcommand, so both behave identically.
"""

from __future__ import annotations

import click

from .. import __version__
from .backup_cmd import backup_table, restore_table, verify_backup
from .changelog_cmd import (
    backup_changes_command,
    record_history_command,
    verify_changes_command,
)
from .demo_cmd import demo
from .diff_cmd import diff_record, diff_tables, replicate_record
from .exit_codes import EXIT_CODES_HELP
from .incremental_cmd import incremental_snapshot
from .local_cmd import local
from .merge_cmd import merge_results_command
from .options import CONTEXT_SETTINGS
from .pitr_cmd import roll_forward_command
from .replicate_cmd import replicate

__all__ = ["cli"]


@click.group(
    context_settings=CONTEXT_SETTINGS,
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, prog_name="dynamodb-replicator")
def cli() -> None:
    """Replicate, compare, repair, back up and restore DynamoDB tables, losslessly.

    Items stay in DynamoDB's wire format end to end: 38-digit numbers, binary, sets and empty
    strings come back byte for byte.
    """


for command in (
    diff_tables,
    diff_record,
    replicate_record,
    replicate,
    backup_table,
    restore_table,
    verify_backup,
    incremental_snapshot,
    roll_forward_command,
    backup_changes_command,
    verify_changes_command,
    record_history_command,
    merge_results_command,
    local,
    demo,
):
    cli.add_command(command)
