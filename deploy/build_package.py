"""Build the Lambda deployment package: ``python deploy/build_package.py``.

Writes ``deploy/build/dynamodb-replicator-lambda.zip`` (the template's ``CodeUri``) holding the
``dynamodb_replicator`` package without the command-line and local-server parts, which the
Lambda path never imports. The zip is reproducible: fixed timestamps, sorted entries.

``--with-boto3`` also bundles boto3 and botocore at the versions installed here, instead of
relying on the versions in the Lambda runtime (this step needs the package index).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "dynamodb_replicator"
DEFAULT_OUTPUT = ROOT / "deploy" / "build" / "dynamodb-replicator-lambda.zip"
#: Parts of the package the Lambda function never imports.
EXCLUDED = ("cli", "local")
_EPOCH = (1980, 1, 1, 0, 0, 0)


def package_files(root: Path, *, excluded: tuple[str, ...] = EXCLUDED) -> list[tuple[Path, str]]:
    """``(file, name in the zip)`` for every file of the package to ship, sorted by name."""
    files = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if not path.is_file() or "__pycache__" in relative.parts or path.suffix == ".pyc":
            continue
        if relative.parts[0] in excluded:
            continue
        files.append((path, f"{root.name}/{relative.as_posix()}"))
    return sorted(files, key=lambda entry: entry[1])


def _dependency_files(target: Path) -> list[tuple[Path, str]]:
    pins = [f"boto3=={version('boto3')}", f"botocore=={version('botocore')}"]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), *pins],
        check=True,
    )
    files = []
    for path in target.rglob("*"):
        relative = path.relative_to(target)
        if path.is_file() and "__pycache__" not in relative.parts and relative.parts[0] != "bin":
            files.append((path, relative.as_posix()))
    return sorted(files, key=lambda entry: entry[1])


def build(output: Path, *, with_boto3: bool = False) -> Path:
    """Write the deployment zip to ``output``; returns it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        entries = package_files(PACKAGE)
        if with_boto3:
            entries += _dependency_files(Path(scratch))
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, name in entries:
                info = zipfile.ZipInfo(name, date_time=_EPOCH)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="zip to write")
    parser.add_argument("--with-boto3", action="store_true", help="bundle boto3 and botocore")
    args = parser.parse_args(argv)
    path = build(args.output, with_boto3=args.with_boto3)
    sys.stdout.write(f"wrote {path} ({path.stat().st_size:,} bytes)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
