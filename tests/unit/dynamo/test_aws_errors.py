"""botocore failures become the project's errors, with the exit code the scheme gives them."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError
from click.testing import CliRunner

from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.cli.exit_codes import ExitCode, exit_code_for
from dynamodb_replicator.dynamo.aws import translate
from dynamodb_replicator.errors import AwsError, ConfigError


def test_missing_credentials_are_a_configuration_error() -> None:
    error = translate(NoCredentialsError(), "DescribeTable at us-east-1/t")
    assert isinstance(error, ConfigError)
    assert exit_code_for(error) == ExitCode.USAGE
    assert error.hint is not None
    assert "credentials" in error.hint


def test_an_unreachable_endpoint_names_the_fix() -> None:
    error = translate(EndpointConnectionError(endpoint_url="http://h:1/"), "Scan of t")
    assert isinstance(error, AwsError)
    assert error.hint is not None
    assert "--endpoint-url" in error.hint


@pytest.mark.parametrize("option", ["--primary-role-arn", "--replica-role-arn"])
def test_a_malformed_role_arn_is_refused_before_any_call(option: str) -> None:
    result = CliRunner().invoke(
        cli, ["diff-tables", "localhost:1/aaa", "localhost:1/bbb", option, "x"]
    )
    assert result.exit_code == 2
    assert "is not an IAM role ARN" in result.output
    assert "Traceback" not in result.output
