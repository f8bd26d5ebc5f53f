"""Deployment: the template passes cfn-lint, the package builds, and the Lambda path stays
free of CLI and terminal UI modules."""

from __future__ import annotations

import importlib.util
import json
import platform
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"

_IMPORT_CHECK = """
import json, sys
import dynamodb_replicator.lambda_handler as h
import dynamodb_replicator.changelog.lambda_writer  # what h.backup loads at its cold start
assert callable(h.handler) and callable(h.backup)
loaded = sorted(
    name for name in sys.modules
    if name.split(".")[0] in ("click", "rich") or name.startswith("dynamodb_replicator.cli")
)
orjson = sys.modules.get("orjson")
print(json.dumps({"loaded": loaded, "file": h.__file__, "orjson": getattr(orjson, "__file__", None)}))
"""


def _import_check(*path: str, isolated: bool = False) -> dict[str, object]:
    """Import both handlers with ``path`` first on ``sys.path``; ``isolated``: and nothing but
    the standard library after it (``-I -S``: no site-packages, no environment)."""
    code = f"import sys; sys.path[:0] = {list(path)!r}\n" + _IMPORT_CHECK
    flags = ["-I", "-S"] if isolated else []
    done = subprocess.run(
        [sys.executable, *flags, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_handler_imports_no_cli_click_or_rich() -> None:
    assert _import_check()["loaded"] == []


def test_template_passes_cfn_lint() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from cfnlint.runner import main; main()", str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !If, ...) as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_template_keeps_the_replicator_safe_settings() -> None:
    template = yaml.load(TEMPLATE.read_text(), Loader=_Loader)
    params = template["Parameters"]
    assert params["MaximumRetryAttempts"]["Default"] == -1
    assert 80_000 <= params["MaximumRecordAgeInSeconds"]["Default"] < 86_400
    mapping = template["Resources"]["StreamMapping"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    function = template["Resources"]["ReplicatorFunction"]["Properties"]
    assert function["Handler"] == "dynamodb_replicator.lambda_handler.handler"
    alarms = {
        r["Properties"]["MetricName"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert {"IteratorAge", "ApproximateNumberOfMessagesVisible"} <= alarms


#: What the Lambda runtime itself provides besides the standard library: boto3 and its deps.
_RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def _runtime_folder(folder: Path) -> Path:
    """A folder holding only what the Lambda runtime provides, linked from this environment."""
    folder.mkdir()
    for name in _RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (folder / source.name).symlink_to(source)
    return folder


def test_package_holds_all_the_lambda_path_needs_beyond_the_runtime(tmp_path: Path) -> None:
    """Built for this machine's platform, unpacked as Lambda unpacks it, the package imports
    both handlers in an interpreter that sees only the standard library, the runtime's boto3
    and the zip's contents (orjson from the zip)."""
    output = tmp_path / "lambda.zip"
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "build_package.py"),
            "--output",
            str(output),
            "--arch",
            arch,
            "--python",
            python,
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    names = zipfile.ZipFile(output).namelist()
    assert "dynamodb_replicator/lambda_handler.py" in names
    assert "dynamodb_replicator/replicate/records.py" in names
    assert "orjson/__init__.py" in names
    assert not any(
        n.startswith(("dynamodb_replicator/cli/", "dynamodb_replicator/local/")) for n in names
    )
    task = tmp_path / "task"
    zipfile.ZipFile(output).extractall(task)
    runtime = _runtime_folder(tmp_path / "runtime")
    result = _import_check(str(task), str(runtime), isolated=True)
    assert result["loaded"] == []
    assert str(task) in str(result["file"])
    assert str(task) in str(result["orjson"])


def _build_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "build_package", ROOT / "deploy" / "build_package.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_default_package_carries_orjson_for_the_templates_platform(tmp_path: Path) -> None:
    """Built as the deploy README says (no options), the zip holds orjson compiled for the
    template's Runtime and Architectures, and no bytecode of the building machine."""
    build = _build_module()
    template = yaml.load(TEMPLATE.read_text(), Loader=_Loader)
    function = template["Resources"]["ReplicatorFunction"]["Properties"]
    assert function["Runtime"] == f"python{build.DEFAULT_PYTHON}"
    assert function["Architectures"] == [build.DEFAULT_ARCH]
    names = zipfile.ZipFile(build.build(tmp_path / "lambda.zip")).namelist()
    tag = build.DEFAULT_PYTHON.replace(".", "")
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[build.DEFAULT_ARCH]
    assert f"orjson/orjson.cpython-{tag}-{machine}-linux-gnu.so" in names
    assert not [n for n in names if n.endswith(".pyc")]


class _Tagged(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags as ``{"Tag": value}`` (``!GetAtt X.Arn`` ->
    ``{"GetAtt": "X.Arn"}``), to check what they point at."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, object]:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    assert isinstance(node, yaml.MappingNode)
    return {suffix: loader.construct_mapping(node, deep=True)}


_Tagged.add_multi_constructor("!", _tagged)


def test_the_change_log_writer_keeps_discarded_batches_in_an_s3_bucket() -> None:
    """The writer's mapping sends discarded batches to an S3 bucket of the stack (which keeps
    the whole invocation, records included), its role may put objects there, and alarms tell
    when a batch lands there or could not be delivered."""
    template = yaml.load(TEMPLATE.read_text(), Loader=_Tagged)
    resources = template["Resources"]
    bucket = resources["BackupFailureBucket"]
    assert bucket["Type"] == "AWS::S3::Bucket"
    assert bucket["Condition"] == "HasBackup"
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    assert "LifecycleConfiguration" not in bucket["Properties"]  # kept until re-ingested
    assert not [
        name for name, r in resources.items()
        if r["Type"] == "AWS::SQS::Queue" and r.get("Condition") == "HasBackup"
    ]  # fmt: skip

    mapping = resources["BackupStreamMapping"]["Properties"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "GetAtt": "BackupFailureBucket.Arn"
    }
    assert mapping["MetricsConfig"] == {"Metrics": ["EventCount"]}

    (policy,) = resources["BackupFunctionRole"]["Properties"]["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    put, listing = statements["KeepDiscardedBatches"], statements["ListDiscardedBatches"]
    assert (put["Action"], put["Resource"]) == (
        "s3:PutObject",
        {"Sub": "${BackupFailureBucket.Arn}/*"},
    )
    assert (listing["Action"], listing["Resource"]) == (
        "s3:ListBucket",
        {"GetAtt": "BackupFailureBucket.Arn"},
    )
    for statement in (put, listing):
        assert statement["Condition"] == {
            "StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}
        }
    assert not any("sqs:" in str(s["Action"]) for s in statements.values())

    alarms = {
        r["Properties"]["MetricName"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r.get("Condition") == "HasBackup"
    }
    delivered = alarms["OnFailureDestinationDeliveredEventCount"]
    assert delivered["Dimensions"] == [
        {"Name": "EventSourceMappingUUID", "Value": {"Ref": "BackupStreamMapping"}}
    ]
    assert alarms["DestinationDeliveryFailures"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": "BackupFunction"}}
    ]
    output = template["Outputs"]["BackupFailureBucketName"]
    assert output["Value"] == {"Ref": "BackupFailureBucket"}
    assert "--from-failures" in output["Description"]
