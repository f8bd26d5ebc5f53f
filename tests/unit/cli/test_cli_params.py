"""Every command that takes a params object has a field for each of its click parameters,
with no field left over, so a renamed option cannot slip past mypy as a missing string key."""

from __future__ import annotations

import dataclasses
import typing

import click
import pytest

from dynamodb_replicator.cli import app


def _params_type(command: click.Command) -> type | None:
    """The params class the command's body takes (``None``: the body takes plain arguments)."""
    body = getattr(command.callback, "__wrapped__", None)
    if body is None:
        return None
    hints = typing.get_type_hints(body)
    (kind,) = (hint for name, hint in hints.items() if name != "return")
    assert dataclasses.is_dataclass(kind), kind
    return typing.cast(type, kind)


#: The commands whose body takes a params object (the others take typed arguments).
WITH_PARAMS = sorted(n for n, c in app.cli.commands.items() if _params_type(c) is not None)


@pytest.mark.parametrize("name", WITH_PARAMS)
def test_params_fields_are_the_commands_parameters(name: str) -> None:
    command = app.cli.commands[name]
    kind = _params_type(command)
    assert kind is not None
    fields = {f.name for f in dataclasses.fields(kind)}
    assert fields == {p.name for p in command.params}


@pytest.mark.parametrize(
    "name",
    [
        "diff-tables",
        "diff-record",
        "replicate-record",
        "replicate",
        "backup-table",
        "restore-table",
        "verify-backup",
        "merge-results",
    ],
)
def test_these_commands_take_one_frozen_params_object(name: str) -> None:
    kind = _params_type(app.cli.commands[name])
    assert kind is not None
    assert kind.__dataclass_params__.frozen  # type: ignore[attr-defined]
