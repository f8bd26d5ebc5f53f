"""The import rules of CONTRIBUTING.md, checked on the source (parsed with ``ast``, not imported).

Imports under ``if TYPE_CHECKING:`` never run and are left out; imports inside functions run
when the function does and are counted.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = "dynamodb_replicator"
SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / PACKAGE

#: Packages that run a job; none imports another's internals (see ALLOWED_CROSS_JOB).
JOBS = ("replicate", "diff", "backup")
#: Where segments run: the engines, below the jobs.
ENGINES = ("segments",)
#: Packages built on the jobs, above them: the result files and merge-results, the change log
#: (on the follower and backup storage) and point-in-time work (on backups and the change log).
ABOVE_JOBS = ("results", "changelog", "pitr")
#: Third-party packages only ``cli/`` may import (the terminal UI and argument parsing).
CLI_ONLY = ("click", "rich")
#: What the Lambda handler must never load: the CLI and its UI, the Dask engine, the embedded
#: server, and platformdirs (used for the CLI's checkpoint home).
NOT_IN_LAMBDA = ("click", "rich", "dask", "distributed", "moto", "werkzeug", "platformdirs")


@dataclass(frozen=True)
class Import:
    """One import statement's target, as a dotted module name."""

    importer: str
    target: str
    line: int

    def where(self) -> str:
        return f"{self.importer}:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_time_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those in the body of an ``if TYPE_CHECKING:`` (its ``else`` runs)."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _type_checking_only(child):
            for other in child.orelse:
                yield other
                yield from _run_time_nodes(other)
            continue
        yield child
        yield from _run_time_nodes(child)


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = modules()[importer].name == "__init__.py"
    base = importer.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    """The modules ``module`` imports at run time (``from pkg import mod`` names ``pkg.mod``)."""
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    found: list[Import] = []
    for node in _run_time_nodes(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            found.append(Import(module, target, node.lineno))
            for alias in node.names:
                if f"{target}.{alias.name}" in modules():
                    found.append(Import(module, f"{target}.{alias.name}", node.lineno))
    return tuple(found)


def _local(name: str) -> str | None:
    """``name`` relative to the package (``""`` for the package itself), or ``None``."""
    if name == PACKAGE:
        return ""
    if name.startswith(PACKAGE + "."):
        return name[len(PACKAGE) + 1 :]
    return None


def _in(name: str, packages: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _modules_in(*packages: str) -> list[str]:
    return [m for m in modules() if _in(_local(m) or "", packages)]


def _parents(module: str) -> Iterator[str]:
    """The packages Python imports before ``module`` (their ``__init__`` runs too)."""
    parts = module.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i])


def closure(start: str) -> tuple[set[str], list[Import]]:
    """The project modules ``start`` loads at run time, and every import made on the way."""
    seen: set[str] = set()
    made: list[Import] = []
    todo = [start]
    while todo:
        module = todo.pop()
        if module in seen or module not in modules():
            continue
        seen.add(module)
        todo.extend(_parents(module))
        for imp in imports_of(module):
            made.append(imp)
            if _local(imp.target) is not None:
                todo.append(imp.target)
    return seen, made


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_source_is_found() -> None:
    assert f"{PACKAGE}.lambda_handler" in modules()
    assert f"{PACKAGE}.items" in modules()
    assert any(i.target.endswith("errors") for i in imports_of(f"{PACKAGE}.items.wire"))
    seen, _ = closure(f"{PACKAGE}.lambda_handler")
    assert {f"{PACKAGE}.replicate.pipeline", f"{PACKAGE}.replicate", f"{PACKAGE}.dynamo"} <= seen
    _, made = closure(f"{PACKAGE}.cli")
    assert any(_top(i.target) == "click" for i in made)  # the closure follows imports


def test_lambda_handler_imports_no_cli_ui_or_engine() -> None:
    seen, made = closure(f"{PACKAGE}.lambda_handler")
    cli = sorted(m for m in seen if _in(_local(m) or "", ("cli", "local")))
    assert cli == [], "the Lambda path loads cli/ or the embedded server"
    bad = [i.where() for i in made if _top(i.target) in NOT_IN_LAMBDA]
    assert bad == []


def test_no_type_stubs_needed_at_run_time() -> None:
    bad = [
        i.where()
        for m in modules()
        for i in imports_of(m)
        if _top(i.target).startswith(("mypy_boto3", "boto3_stubs", "botocore_stubs"))
    ]
    assert bad == [], "type stubs are imported only under TYPE_CHECKING"


def test_boto3_is_not_imported_at_run_time() -> None:
    """boto3 is a dev dependency (the tests drive the servers with it): the package runs on
    botocore alone, so an install without the dev extras must not need it."""
    bad = [i.where() for m in modules() for i in imports_of(m) if _top(i.target) == "boto3"]
    assert bad == [], "import botocore instead: boto3 is not a run-time dependency"


Imports = Callable[[str], Iterable[Import]]


def items_violations(imports: Imports = imports_of) -> list[str]:
    return [
        i.where()
        for m in _modules_in("items")
        for i in imports(m)
        if (name := _local(i.target)) is not None and not _in(name, ("items", "errors"))
    ]


def dynamo_violations(imports: Imports = imports_of) -> list[str]:
    forbidden = (*JOBS, *ABOVE_JOBS, *ENGINES, "cli", "local", "lambda_handler")
    return [
        i.where()
        for m in _modules_in("dynamo")
        for i in imports(m)
        if (name := _local(i.target)) is not None and _in(name, forbidden)
    ]


def test_items_import_nothing_else_of_the_project_but_errors() -> None:
    assert items_violations() == []


def test_errors_import_nothing_of_the_project() -> None:
    """``errors`` is the bottom layer (every module may import it, and every error class lives
    in it): it imports nothing else of the project, not even for type checking."""
    tree = ast.parse(modules()[f"{PACKAGE}.errors"].read_text(encoding="utf-8"))
    bad = [
        node.lineno
        for node in ast.walk(tree)
        if (
            isinstance(node, ast.ImportFrom)
            and (node.level or _local(node.module or "") is not None)
        )
        or (isinstance(node, ast.Import) and any(_local(a.name) is not None for a in node.names))
    ]
    assert bad == []


def test_dynamo_knows_no_job() -> None:
    assert dynamo_violations() == []


def test_only_cli_imports_click_or_rich() -> None:
    bad = [
        i.where()
        for m in modules()
        if not _in(_local(m) or "", ("cli",))
        for i in imports_of(m)
        if _top(i.target) in CLI_ONLY
    ]
    assert bad == []


#: (importing job module, module it may import): ``verify-backup --against`` uses the diff
#: engine through its public function (``diff.verify_against``, from the package).
ALLOWED_CROSS_JOB = {("backup.against", "diff")}


def _job_of(name: str) -> str | None:
    return next((job for job in JOBS if _in(name, (job,))), None)


def test_no_job_imports_another_jobs_internals() -> None:
    bad = []
    for m in _modules_in(*JOBS):
        importer = _local(m) or ""
        for i in imports_of(m):
            target = _local(i.target)
            if target is None:
                continue
            job = _job_of(target)
            if job is not None and job != _job_of(importer):
                if (importer, target) not in ALLOWED_CROSS_JOB:
                    bad.append(i.where())
            elif _in(target, ABOVE_JOBS):
                bad.append(i.where())  # a job may use an engine, not what is built above it
    assert bad == []


def test_engines_import_no_job() -> None:
    bad = [
        i.where()
        for m in _modules_in(*ENGINES)
        for i in imports_of(m)
        if (name := _local(i.target)) is not None and _in(name, (*JOBS, "cli"))
    ]
    assert bad == []


def test_result_files_use_jobs_through_their_packages() -> None:
    """``merge-results`` and the result files sit above the jobs and use their public names."""
    above = _modules_in("results")
    bad = [
        i.where()
        for m in above
        for i in imports_of(m)
        if (name := _local(i.target)) is not None and _job_of(name) not in (None, name)
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("package", "violations"), [("items", items_violations), ("dynamo", dynamo_violations)]
)
def test_the_checks_see_a_broken_rule(
    package: str, violations: Callable[[Imports], list[str]]
) -> None:
    """The checks are not vacuous: an import of a job added to the package is found."""
    module = f"{PACKAGE}.{package}"
    added = Import(module, f"{PACKAGE}.diff", 1)

    def imports(m: str) -> Iterable[Import]:
        return (*imports_of(m), added) if m == module else imports_of(m)

    assert violations(imports) == [added.where()]


def test_importing_the_lambda_handler_loads_no_cli_or_ui() -> None:
    """The same, measured: a fresh interpreter imports the handler and lists what it loaded."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    script = f"import sys, {PACKAGE}.lambda_handler; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    loaded = set(done.stdout.split())
    timed = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert f"{PACKAGE}.lambda_handler" in loaded
    assert f"{PACKAGE}.lambda_handler" in timed
    for name in ("click", "rich", "dask", "distributed", "moto", f"{PACKAGE}.cli"):
        assert name not in loaded
        assert name not in timed
