"""Running a command body: logging set-up, errors to one or two stderr lines, exit codes."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any, TypeVar

import click

from ..errors import GapError, IncompleteBatchError, ReplicatorError
from ..items import encode_key_for_report
from .exit_codes import ExitCode, exit_code_for

__all__ = ["STOPPING", "ctrl_c", "fail", "run_job"]

F = TypeVar("F", bound=Callable[..., Any])

_MAX_KEYS_SHOWN = 20


def _configure_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)


def _describe_keys(exc: IncompleteBatchError) -> str:
    shown = [encode_key_for_report(k, list(k)) for k in exc.keys[:_MAX_KEYS_SHOWN]]
    more = len(exc.keys) - len(shown)
    return "keys not done: " + " ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def _keyed(exc: BaseException) -> IncompleteBatchError | None:
    """The error naming the keys not done, wherever it sits in the chain of causes."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, IncompleteBatchError):
            return seen
        seen = seen.cause if isinstance(seen, ReplicatorError) else None
    return None


def fail(exc: BaseException, *, debug: bool) -> ExitCode:
    """Print ``exc`` as one or two lines on stderr (a traceback with --debug); its exit code."""
    code = exit_code_for(exc)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, KeyboardInterrupt):
        click.echo("error: interrupted", err=True)
        return code
    message = exc.message if isinstance(exc, ReplicatorError) else f"{type(exc).__name__}: {exc}"
    label = "GAP" if isinstance(exc, GapError) else "error"  # a finding (exit 1), not a failure
    click.echo(f"{label}: {message}", err=True)
    keyed = _keyed(exc)
    if keyed is not None and keyed.keys:
        click.echo(f"  {_describe_keys(keyed)}", err=True)
    elif isinstance(exc, ReplicatorError) and exc.hint:
        click.echo(f"  hint: {exc.hint}", err=True)
    elif not isinstance(exc, ReplicatorError) and not debug:
        click.echo("  hint: this is a bug; run again with --debug and report it", err=True)
    return code


STOPPING = "stopping (Ctrl-C again to quit at once)...\n"


@contextmanager
def ctrl_c() -> Iterator[None]:
    """While a job runs: the first Ctrl-C says at once that the job is stopping and raises
    KeyboardInterrupt (the job then stops and reports what it did); a second one exits 130 at
    once (worker processes die with this one)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal pressed
        pressed += 1
        if pressed > 1:
            for stream in (sys.stdout, sys.stderr):
                with suppress(OSError, RuntimeError, ValueError):  # keep lines already printed
                    stream.flush()
            os._exit(int(ExitCode.INTERRUPTED))
        os.write(2, STOPPING.encode())  # a raw write: safe inside a signal handler
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_job(body: Callable[[], int], *, debug: bool = False, quiet: bool = False) -> None:
    """Run a command body and exit with its code; errors become stderr lines, never tracebacks."""
    _configure_logging(debug, quiet)
    try:
        with ctrl_c():
            code = body()
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except (ReplicatorError, KeyboardInterrupt) as exc:
        code = fail(exc, debug=debug)
    except Exception as exc:  # an unexpected bug: still no bare traceback unless --debug
        code = fail(exc, debug=debug)
    raise click.exceptions.Exit(int(code))
