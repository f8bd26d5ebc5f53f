"""Build the Lambda deployment package: ``python deploy/build_package.py``.

Writes ``deploy/build/dynamodb-replicator-lambda.zip`` (the template's ``CodeUri``) holding the
``dynamodb_replicator`` package without the command-line and local-server parts, which the
Lambda path never imports, and orjson, which the Lambda runtime lacks: its wheel for the
function's platform (the template's arm64 and Python 3.13 unless ``--arch`` / ``--python`` say
otherwise), at the version installed here, fetched from the package index. The package's own
files are stored reproducibly: fixed timestamps, sorted entries.

``--with-boto3`` also bundles boto3 and botocore at the versions installed here, instead of
relying on the versions in the Lambda runtime.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "dynamodb_replicator"
DEFAULT_OUTPUT = ROOT / "deploy" / "build" / "dynamodb-replicator-lambda.zip"
#: Parts of the package the Lambda function never imports.
EXCLUDED = ("cli", "local")
_EPOCH = (1980, 1, 1, 0, 0, 0)
#: The template's function platform (``Architectures``, ``Runtime``).
DEFAULT_ARCH = "arm64"
DEFAULT_PYTHON = "3.13"
#: pip's platform tags for a Lambda architecture: Amazon Linux 2023 (glibc 2.34) runs wheels
#: built for glibc 2.34 and older, named either way.
_PLATFORMS = {
    "arm64": ("manylinux_2_34_aarch64", "manylinux2014_aarch64"),
    "x86_64": ("manylinux_2_34_x86_64", "manylinux2014_x86_64"),
}


def _tree_files(folder: Path, prefix: str, skipped: tuple[str, ...]) -> list[tuple[Path, str]]:
    """``(file, prefix + path in folder)`` for every file under ``folder`` but bytecode and the
    top-level entries named in ``skipped``, sorted by name."""
    files = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if not path.is_file() or "__pycache__" in relative.parts or path.suffix == ".pyc":
            continue
        if relative.parts[0] in skipped:
            continue
        files.append((path, prefix + relative.as_posix()))
    return sorted(files, key=lambda entry: entry[1])


def package_files(root: Path, *, excluded: tuple[str, ...] = EXCLUDED) -> list[tuple[Path, str]]:
    """``(file, name in the zip)`` for every file of the package to ship, sorted by name."""
    return _tree_files(root, f"{root.name}/", excluded)


def _pip_install(target: Path, pins: list[str], *platform: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--target",
            str(target),
            *platform,
            *pins,
        ],
        check=True,
    )


def _dependency_files(
    target: Path, *, arch: str, python: str, with_boto3: bool
) -> list[tuple[Path, str]]:
    """orjson's wheel for the function's platform (compiled: the runtime's own pip cannot
    help), plus boto3 and botocore (pure Python) when asked."""
    platforms = [flag for tag in _PLATFORMS[arch] for flag in ("--platform", tag)]
    _pip_install(
        target,
        [f"orjson=={_installed('orjson')}"],
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python,
        *platforms,
    )
    if with_boto3:
        _pip_install(
            target, [f"boto3=={_installed('boto3')}", f"botocore=={_installed('botocore')}"]
        )
    return _tree_files(target, "", ("bin",))


class BuildError(Exception):
    """The package cannot be built as asked; the message says why and what to do."""


def _installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        raise BuildError(
            f"{name} is not installed here, and the package bundles the version installed here: "
            f"pip install {name}"
        ) from None


def build(
    output: Path,
    *,
    with_boto3: bool = False,
    arch: str = DEFAULT_ARCH,
    python: str = DEFAULT_PYTHON,
) -> Path:
    """Write the deployment zip to ``output``; returns it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        entries = package_files(PACKAGE)
        entries += _dependency_files(Path(scratch), arch=arch, python=python, with_boto3=with_boto3)
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, name in sorted(entries, key=lambda entry: entry[1]):
                info = zipfile.ZipInfo(name, date_time=_EPOCH)
                # Compiled modules keep their execute bit, as pip installed them.
                info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="zip to write")
    parser.add_argument("--with-boto3", action="store_true", help="bundle boto3 and botocore")
    parser.add_argument(
        "--arch",
        choices=sorted(_PLATFORMS),
        default=DEFAULT_ARCH,
        help="the function's architecture (default: the template's, %(default)s)",
    )
    parser.add_argument(
        "--python",
        default=DEFAULT_PYTHON,
        help="the function's Python version (default: the template's, %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        path = build(args.output, with_boto3=args.with_boto3, arch=args.arch, python=args.python)
    except BuildError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except subprocess.CalledProcessError:
        sys.stderr.write(
            f"error: pip could not fetch the wheels for {args.arch}, Python {args.python} (see "
            "its message above): the build needs the package index pip is configured with\n"
        )
        return 1
    sys.stdout.write(f"wrote {path} ({path.stat().st_size:,} bytes)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
