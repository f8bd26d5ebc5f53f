"""The command-line interface: the only package that parses arguments, prints and maps errors
to exit codes. Library code and the Lambda path never import it."""

from __future__ import annotations

from .app import cli

__all__ = [
    "backup_table_main",
    "cli",
    "diff_record_main",
    "diff_tables_main",
    "main",
    "replicate_record_main",
    "restore_table_main",
]


def main() -> None:
    """``dynamodb-replicator``."""
    cli.main(prog_name="dynamodb-replicator")


def _standalone(name: str) -> None:
    command = cli.commands[name]
    command.main(prog_name=name)


def diff_tables_main() -> None:
    """``diff-tables``: the same command as ``dynamodb-replicator diff-tables``."""
    _standalone("diff-tables")


def backup_table_main() -> None:
    """``backup-table``."""
    _standalone("backup-table")


def restore_table_main() -> None:
    """``restore-table``."""
    _standalone("restore-table")


def diff_record_main() -> None:
    """``diff-record``."""
    _standalone("diff-record")


def replicate_record_main() -> None:
    """``replicate-record``."""
    _standalone("replicate-record")
