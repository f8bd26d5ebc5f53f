"""`dynamodb-replicator local`: serves all three services on one port; Ctrl-C stops it cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import boto3


def test_local_serves_dynamodb_streams_and_s3_then_stops_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynamodb_replicator.cli", "local", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert match, first
        url = match.group(1)
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            lines.append(proc.stdout.readline())
            assert lines[-1], f"local stopped early: {proc.stderr.read() if proc.stderr else ''}"
        exports = dict(re.findall(r"export (\w+)=(\S+)", "".join(lines)))
        assert exports["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"] == url
        assert exports["AWS_ENDPOINT_URL_S3"] == url
        for service in ("dynamodb", "dynamodbstreams", "s3"):
            client = boto3.client(service, endpoint_url=url, region_name="us-east-1")
            call = {
                "dynamodb": "list_tables",
                "dynamodbstreams": "list_streams",
                "s3": "list_buckets",
            }
            getattr(client, call[service])()
    finally:
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err
