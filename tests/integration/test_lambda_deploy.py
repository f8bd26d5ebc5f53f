"""Deployment: the template passes cfn-lint, the package builds, and the Lambda path stays
free of CLI and terminal UI modules."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

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
print(json.dumps({"loaded": loaded, "file": h.__file__}))
"""


def _import_check(*path: str) -> dict[str, object]:
    code = f"import sys; sys.path[:0] = {list(path)!r}\n" + _IMPORT_CHECK
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
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


def test_package_builds_and_its_handler_imports_from_the_zip(tmp_path: Path) -> None:
    output = tmp_path / "lambda.zip"
    subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "build_package.py"), "--output", str(output)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    names = zipfile.ZipFile(output).namelist()
    assert "dynamodb_replicator/lambda_handler.py" in names
    assert "dynamodb_replicator/replicate/records.py" in names
    assert not any(
        n.startswith(("dynamodb_replicator/cli/", "dynamodb_replicator/local/")) for n in names
    )
    result = _import_check(str(output))
    assert result["loaded"] == []
    assert str(output) in str(result["file"])
