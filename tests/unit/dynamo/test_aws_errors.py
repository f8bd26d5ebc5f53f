"""botocore failures become the project's errors, with the exit code the scheme gives them."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from click.testing import CliRunner

from dynamodb_replicator.cli.app import cli
from dynamodb_replicator.cli.exit_codes import ExitCode, exit_code_for
from dynamodb_replicator.dynamo.aws import BotoError, aws_errors, expected, raising, translate
from dynamodb_replicator.errors import (
    AwsError,
    BackupError,
    ConfigError,
    ReplicatorError,
    TableNotFoundError,
)


def client_error(code: str, operation: str = "GetItem", **extra: object) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, **extra}, operation)


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


def test_the_mapping_translates_what_no_code_names() -> None:
    missing = client_error("ResourceNotFoundException")
    with pytest.raises(TableNotFoundError) as info, aws_errors("GetItem on t", table="t"):
        raise missing
    assert info.value.cause is missing
    assert info.value.__cause__ is missing
    with pytest.raises(ConfigError), aws_errors("Scan of t"):
        raise NoCredentialsError()
    timeout = ReadTimeoutError(endpoint_url="http://h:1/")
    with pytest.raises(AwsError, match=r"^Scan of t failed: ") as failed, aws_errors("Scan of t"):
        raise timeout
    assert failed.value.cause is timeout


def test_a_call_site_states_its_domain_message_and_hint_per_code() -> None:
    codes = {"NoSuchBucket": raising(BackupError, "cannot write s3://b/k", hint="make it")}
    error = client_error("NoSuchBucket", "PutObject")
    with pytest.raises(BackupError) as info, aws_errors("PutObject s3://b/k", codes=codes):
        raise error
    assert (info.value.message, info.value.hint, info.value.cause) == (
        "cannot write s3://b/k",
        "make it",
        error,
    )
    with pytest.raises(AwsError, match="AccessDenied"), aws_errors("PutObject", codes=codes):
        raise client_error("AccessDenied", "PutObject")


def test_otherwise_covers_failures_without_a_code() -> None:
    def unusable(exc: BotoError) -> ReplicatorError:
        return ConfigError(f"not usable ({exc})")

    bad = ParamValidationError(report="Bucket is empty")
    mapping = aws_errors("HeadBucket", otherwise=unusable)
    with pytest.raises(ConfigError, match="Bucket is empty") as info, mapping:
        raise bad
    assert info.value.cause is bad  # set by the mapping when the outcome left it unset


def test_an_expected_code_ends_the_block_and_is_kept_for_the_caller() -> None:
    failed = client_error("ConditionalCheckFailedException", "PutItem", Item={"pk": {"S": "a"}})
    with aws_errors("PutItem on t", codes={"ConditionalCheckFailedException": expected}) as caught:
        raise failed
    assert caught
    assert caught.error is failed
    assert caught.code == "ConditionalCheckFailedException"
    assert caught.response["Item"] == {"pk": {"S": "a"}}
    with aws_errors("PutItem on t", codes={"ConditionalCheckFailedException": expected}) as quiet:
        pass
    assert not quiet
    assert quiet.response == {}


def test_other_errors_pass_through_unchanged() -> None:
    with pytest.raises(KeyError), aws_errors("GetItem", otherwise=expected):
        raise KeyError("not botocore's")
    already = AwsError("no time left")
    with pytest.raises(AwsError) as info, aws_errors("GetItem", otherwise=expected):
        raise already
    assert info.value is already
