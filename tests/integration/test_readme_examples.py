"""The README's local examples run as written, so the newcomer's path cannot go stale.

The README marks them with fenced blocks: ``sh local-server`` (the command that starts the
embedded server), ``sh local-env`` (the ``export`` lines it prints) and ``sh local`` (command
lines run in order, from a folder holding a copy of ``docs/examples``; a trailing ``# exit N``
states the expected exit code, else 0). This test starts that server on a free port, checks it
prints the variables the README shows, sets them, and runs every line with the installed
console scripts.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from dynamodb_replicator.cli.app import cli

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
README_PORT = "8000"
COMMANDS = frozenset(
    {
        "dynamodb-replicator",
        "diff-tables",
        "backup-table",
        "restore-table",
        "diff-record",
        "replicate-record",
    }
)
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
# Kept from the test session's hermetic environment: they keep the developer's AWS files out.
_KEEP_AWS = frozenset(
    {"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED"}
)


@dataclass(frozen=True)
class Example:
    """One README command line and the exit code the README states for it."""

    line: str
    argv: tuple[str, ...]
    exit_code: int


def blocks(text: str, info: str) -> list[str]:
    """Bodies of the fenced blocks whose info string is exactly ``info``."""
    return [m.group(2) for m in _FENCE.finditer(text) if m.group(1).strip() == info]


def logical_lines(body: str) -> Iterator[str]:
    """Non-empty, non-comment lines, with backslash continuations joined."""
    pending = ""
    for raw in body.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            yield line


def examples(text: str) -> list[Example]:
    """The README's ``sh local`` command lines, in order."""
    found = []
    for body in blocks(text, "sh local"):
        for line in logical_lines(body):
            match = _EXIT.search(line)
            argv = tuple(shlex.split(line, comments=True))
            found.append(Example(line, argv, int(match.group(1)) if match else 0))
    return found


def exports(body: str) -> dict[str, str]:
    """``export NAME=VALUE`` lines -> {NAME: VALUE}."""
    out = {}
    for line in logical_lines(body):
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            out[name] = value
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def script(name: str) -> str:
    """The installed console script ``name`` (next to this Python first)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"console script {name!r} is not installed: pip install -e '.[local]'"
    return found


def on_port(argv: tuple[str, ...], port: int) -> list[str]:
    """``argv`` with the README's port replaced by ``port``."""
    return [
        str(port) if arg == README_PORT else arg.replace(f":{README_PORT}", f":{port}")
        for arg in argv
    ]


def base_env() -> dict[str, str]:
    """This process's environment without AWS settings, so the server prints every variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k in _KEEP_AWS}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Server:
    """``dynamodb-replicator local`` started as the README says, its output collected."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_ready(self, marker: str, timeout: float = 60.0) -> list[str]:
        """Output lines up to the one containing ``marker``."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"server not ready within {timeout}s: {''.join(seen)}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            seen.append(line)
            if marker in line:
                return seen

    def stop(self) -> int:
        """Ctrl-C, as a user would; kill if it does not stop. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        code = self.process.wait(timeout=15)
        self.reader.join(timeout=15)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_the_readme_marks_its_local_examples(readme: str) -> None:
    servers = [list(logical_lines(b)) for b in blocks(readme, "sh local-server")]
    assert servers == [["dynamodb-replicator local --port 8000"]]
    assert len(blocks(readme, "sh local-env")) == 1
    found = examples(readme)
    assert len(found) >= 15
    assert {e.argv[0] for e in found} <= COMMANDS
    assert {e.exit_code for e in found} == {0, 1, 2}


def test_every_command_and_option_is_documented(readme: str) -> None:
    docs = readme + "".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))
    for name, command in cli.commands.items():
        usage = re.compile(rf"(^|dynamodb-replicator ){re.escape(name)} ", re.MULTILINE)
        assert usage.search(readme), f"the README shows no usage of {name}"
        for param in command.params:
            if isinstance(param, click.Option):
                longs = [o for o in param.opts if o.startswith("--") and o != "--help"]
                for opt in longs:
                    assert opt in docs, f"{name} {opt} is documented nowhere"


def test_the_readme_local_examples_run_as_written(readme: str, tmp_path: Path) -> None:
    shutil.copytree(DOCS / "examples", tmp_path / "docs" / "examples")
    port = free_port()
    (start,) = (next(iter(logical_lines(b))) for b in blocks(readme, "sh local-server"))
    env = base_env()
    server = Server(
        [script("dynamodb-replicator"), *on_port(tuple(shlex.split(start))[1:], port)], env
    )
    try:
        printed = exports("".join(server.wait_ready("Ctrl-C")))
        shown = exports(blocks(readme, "sh local-env")[0])
        assert printed.keys() == shown.keys(), (
            "the README shows other variables than `local` prints"
        )
        assert {k: on_port((v,), port)[0] for k, v in shown.items()} == printed
        env.update(printed)
        for example in examples(readme):
            argv = [script(example.argv[0]), *on_port(example.argv[1:], port)]
            done = subprocess.run(
                argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
            )
            context = (
                f"{example.line}\nstdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr[-2000:]}"
            )
            assert done.returncode == example.exit_code, context
            assert "Traceback" not in done.stderr, context
            if example.exit_code == 2:
                assert "hint:" in done.stderr, context
    finally:
        assert server.stop() in (0, 130)


_SHOWN = re.compile(r"^\s*\$ (.+)$")


def test_the_demos_printed_commands_run_as_shown(tmp_path: Path) -> None:
    """`demo --keep` leaves its server running and prints how to reach it; every `$ ...` line
    it printed then runs with the installed scripts, as shown, against the state it left (the
    backup job and the restored table it made are removed first, so those two run afresh)."""
    env = base_env()
    demo = Server([script("dynamodb-replicator"), "demo", "--items", "100", "--keep"], env)
    try:
        output = demo.wait_ready("keeps running", timeout=240)
        output += demo.wait_ready(" diff-tables ", timeout=30)
        env.update(exports("".join(output)))
        shown = [m.group(1) for line in output if (m := _SHOWN.match(line))]
        shown.append(output[-1].strip())  # the diff-tables line it suggests at the end
        assert len(shown) >= 10, "".join(output)
        argvs = [shlex.split(line) for line in shown]
        assert {argv[0] for argv in argvs} <= COMMANDS, shown
        _forget_backup_and_restore(argvs, env)
        for line, argv in zip(shown, argvs, strict=True):
            done = subprocess.run(
                [script(argv[0]), *argv[1:]],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            context = f"{line}\nstdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr[-2000:]}"
            assert done.returncode == 0, context
        assert list(tmp_path.iterdir()) == []  # nothing left where the user stands
    finally:
        assert demo.stop() in (0, 130)


def _forget_backup_and_restore(argvs: list[list[str]], env: dict[str, str]) -> None:
    """Delete the backup job and the restored table the demo made, so its printed
    backup-table and restore-table --create lines can run again exactly as shown."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )
    s3 = session.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"])
    ddb = session.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"])
    for argv in argvs:
        if argv[0] == "restore-table":
            source, target = argv[1], argv[2]
            ddb.delete_table(TableName=target.rsplit("/", 1)[1])
            bucket, _, prefix = source.removeprefix("s3://").partition("/")
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
            for obj in listed.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=obj["Key"])
