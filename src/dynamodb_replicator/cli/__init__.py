"""The command-line interface: the only package that parses arguments, prints and maps errors
to exit codes. Library code and the Lambda path never import it."""

from __future__ import annotations

import gc

import click

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
    _run(cli, "dynamodb-replicator")


def _standalone(name: str) -> None:
    _run(cli.commands[name], name)


def _run(command: click.Command, prog_name: str) -> None:
    """Run ``command`` as the whole process, which ends when it returns or raises.

    The objects made so far (modules, mostly) and those the run leaves (botocore's models alone
    are ~20,000 dicts) live until the process ends, so the collector is told to stop walking
    them: before the run, which spares the full collections that building the first client
    would trigger (~35 ms), and after it, which spares the collections at interpreter exit
    (0.1-0.2 s a command). Files and connections are still closed by ``with`` blocks, reference
    counts and ``atexit`` handlers; only garbage in reference cycles is left to the OS.
    """
    gc.freeze()
    try:
        command.main(prog_name=prog_name)
    finally:
        gc.freeze()


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
