"""``dynamodb-replicator local``: the embedded server in the foreground."""

from __future__ import annotations

import sys
import threading

import click

from ..local import LocalServer
from .exit_codes import exit_codes_help
from .options import CONTEXT_SETTINGS, common_options
from .runner import run_job

__all__ = ["local"]


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=exit_codes_help("stopped with Ctrl-C after serving"),
)
@click.option("--port", type=int, default=0, show_default=True, help="Port (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@common_options
def local(port: int, host: str, debug: bool, quiet: bool) -> None:
    """Run the embedded DynamoDB, DynamoDB Streams and S3 server (moto) until Ctrl-C.

    One port serves all three services. Point the other commands (and any AWS SDK) at it with
    the environment variables it prints.
    """

    def body() -> int:
        with LocalServer(host=host, port=port) as server:
            click.echo(f"embedded server listening on {server.endpoint_url}")
            click.echo("point clients at it with:")
            for name, value in server.environment().items():
                click.echo(f"  export {name}={value}")
            click.echo("Ctrl-C stops it (all data is in memory and goes with it).")
            sys.stdout.flush()  # a script reading this through a pipe needs it now
            try:
                threading.Event().wait()
            except KeyboardInterrupt:  # the way to stop a server: not an error
                click.echo("stopped")
        return 0

    run_job(body, debug=debug, quiet=quiet)
