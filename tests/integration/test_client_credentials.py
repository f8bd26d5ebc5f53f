"""Where a side's credentials come from: a profile, explicit keys, an assumed role, or dummy
keys for a local server, each proven by a call to a real server (moto, also for STS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamodb_replicator.dynamo import Auth, make_client
from dynamodb_replicator.dynamo.clients import DUMMY_ACCESS_KEY, make_session
from dynamodb_replicator.errors import ConfigError
from helpers import REGION, Endpoint

ROLE = "arn:aws:iam::123456789012:role/replica-writer"


def _profile_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[profile replica]\n"
        "aws_access_key_id = AKIAPROFILEKEY000000\n"
        "aws_secret_access_key = profilesecret\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))


def test_a_named_profile_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_server: Endpoint
) -> None:
    _profile_file(tmp_path, monkeypatch)
    session = make_session(Auth(profile="replica"), REGION, local_endpoint=True)
    credentials = session.get_credentials()
    assert credentials is not None
    assert credentials.access_key == "AKIAPROFILEKEY000000"
    client = make_client(
        "dynamodb", region=REGION, endpoint_url=moto_server.url, auth=Auth(profile="replica")
    )
    assert "TableNames" in client.list_tables()


@pytest.mark.parametrize(
    ("auth", "environment", "named", "fix"),
    [
        (Auth(profile="nope"), None, "'nope' not found", "profile"),
        (Auth(), "typo", "'typo' \\(from AWS_PROFILE\\) not found", "AWS_PROFILE"),
    ],
    ids=["option", "AWS_PROFILE"],
)
def test_a_missing_profile_is_a_config_error_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    auth: Auth,
    environment: str | None,
    named: str,
    fix: str,
) -> None:
    _profile_file(tmp_path, monkeypatch)
    if environment is not None:
        monkeypatch.setenv("AWS_PROFILE", environment)
    with pytest.raises(ConfigError, match=named) as raised:
        make_session(auth, REGION, local_endpoint=False)
    assert raised.value.hint is not None
    assert fix in raised.value.hint


def test_the_profile_in_aws_profile_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _profile_file(tmp_path, monkeypatch)
    monkeypatch.setenv("AWS_PROFILE", "replica")
    # As everywhere in the AWS SDKs, keys in the environment would win over AWS_PROFILE.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = make_session(Auth(), REGION, local_endpoint=False).get_credentials()
    assert credentials is not None
    assert credentials.access_key == "AKIAPROFILEKEY000000"


def test_explicit_keys_are_used_as_given() -> None:
    auth = Auth(access_key_id="AKIAEXPLICIT00000000", secret_access_key="s", session_token="t")
    credentials = make_session(auth, REGION, local_endpoint=False).get_credentials()
    assert credentials is not None
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        "AKIAEXPLICIT00000000",
        "s",
        "t",
    )


def test_a_local_server_without_credentials_gets_the_dummy_keys(
    monkeypatch: pytest.MonkeyPatch, moto_server: Endpoint
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = make_session(Auth(), REGION, local_endpoint=True).get_credentials()
    assert credentials is not None
    assert credentials.access_key == DUMMY_ACCESS_KEY
    client = make_client("dynamodb", region=REGION, endpoint_url=moto_server.url)
    assert "TableNames" in client.list_tables()


def test_an_assumed_role_gets_its_keys_from_sts(
    monkeypatch: pytest.MonkeyPatch, moto_server: Endpoint
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_server.url)
    session = make_session(Auth(role_arn=ROLE), REGION, local_endpoint=True)
    credentials = session.get_credentials()
    assert credentials is not None
    frozen = credentials.get_frozen_credentials()  # the first AssumeRole call happens here
    assert frozen.access_key not in ("", DUMMY_ACCESS_KEY)
    assert frozen.token  # temporary credentials always carry a session token
    client = make_client(
        "dynamodb", region=REGION, endpoint_url=moto_server.url, auth=Auth(role_arn=ROLE)
    )
    assert "TableNames" in client.list_tables()


def test_requests_name_the_tool_in_their_user_agent(moto_server: Endpoint) -> None:
    seen: list[bytes] = []
    client = make_client("dynamodb", region=REGION, endpoint_url=moto_server.url)
    client.meta.events.register(
        "before-send.dynamodb.*", lambda request, **_: seen.append(request.headers["User-Agent"])
    )
    client.list_tables()
    assert seen
    assert b" dynamodb-replicator/" in seen[0]
    assert seen[0].startswith(b"Botocore/")  # botocore's own name stays first
