"""The newcomer's first command: the demo runs the whole story and exits 0."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

from click.testing import CliRunner

from dynamodb_replicator.cli.app import cli


def test_demo_tells_the_whole_story_and_exits_zero() -> None:
    result = CliRunner().invoke(cli, ["demo", "--items", "200"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "found exactly the damage: 10 missing, 10 different, 10 extraneous" in out
    assert "30 repairs written" in out
    assert re.search(r"9 objects written: 0, 0\.manifest\.json, .*_started", out)
    assert out.count("0 discrepancies") == 3
    assert "summary" in out
    assert "total" in out
    installed = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())[
        "project"
    ]["scripts"]
    shown = [shlex.split(m) for m in re.findall(r"^\s*\$ (.+)$", out, re.MULTILINE)]
    assert len(shown) == 9
    for argv in shown:  # each printed command names an installed program
        assert argv[0] in installed, argv
    assert shown[6][:2] == ["dynamodb-replicator", "verify-backup"]


def test_demo_refuses_a_tiny_size() -> None:
    result = CliRunner().invoke(cli, ["demo", "--items", "5"])
    assert result.exit_code == 2
