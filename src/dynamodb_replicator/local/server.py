"""The embedded local server: moto's DynamoDB, DynamoDB Streams and S3 on one port, in-process.

Needs the ``local`` extra (``pip install 'dynamodb-replicator[local]'``). moto is imported only
when a server starts, so importing this module never requires it.

    with LocalServer() as server:              # port 0: the OS picks a free port
        os.environ.update(server.environment())
        boto3.client("dynamodb").list_tables()

moto keeps its data in process-wide memory: every ``LocalServer`` in one process shares it,
and it is lost when the process exits.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from dynamodb_replicator.dynamo.address import DEFAULT_REGION, resolve_region
from dynamodb_replicator.errors import ConfigError
from dynamodb_replicator.local.speedups import install as install_speedups

__all__ = ["DEFAULT_REGION", "LocalServer"]

log = logging.getLogger(__name__)

#: The region :meth:`LocalServer.environment` names when none is set.

# moto accepts any credentials; these are plainly fake (alphanumeric, as botocore expects).
_DUMMY_ACCESS_KEY_ID = "AKIALOCALTESTING0000"
_DUMMY_SECRET_ACCESS_KEY = "localtestingsecretaccesskey0000000000000"

_INSTALL_HINT = "pip install 'dynamodb-replicator[local]'"
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
_POLL_INTERVAL_S = 0.05


class LocalServer:
    """moto's DynamoDB, DynamoDB Streams and S3, served over HTTP from a background thread.

    ``port=0`` (the default) binds a free port chosen by the OS; :attr:`port` and
    :attr:`endpoint_url` report the port actually bound once started. Usable as a context
    manager (starts on enter, stops on exit). Binding happens in :meth:`start`, so a port in
    use raises :class:`~dynamodb_replicator.errors.ConfigError` there, not in a thread.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if not 0 <= port <= 65535:
            raise ConfigError(f"port {port} out of range", hint="use 0 to pick a free port")
        self._host = host
        self._requested_port = port
        self._server: Any = None  # werkzeug.serving.BaseWSGIServer once started
        self._thread: threading.Thread | None = None
        self._bound: tuple[str, int] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the port and serve in a daemon thread; returns ``self``. Idempotent."""
        if self._server is not None:
            return self
        try:  # moto (and its werkzeug) is an optional extra: imported when a server starts
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                create_backend_app,
            )
            from werkzeug.serving import make_server
        except ImportError as exc:
            raise ConfigError(
                "the embedded local server needs moto, which is not installed",
                hint=_INSTALL_HINT,
                cause=exc,
            ) from exc

        install_speedups()
        # werkzeug logs one INFO line per request; keep library output quiet.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

        # Bind here, not in werkzeug: on a bind error werkzeug prints and calls sys.exit().
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        try:
            sock = socket.create_server((self._host, self._requested_port), family=family)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self._host}:{self._requested_port}: {exc.strerror or exc}",
                hint="choose another port, or 0 to pick a free one",
                cause=exc,
            ) from exc
        with sock:  # werkzeug serves a duplicate of this descriptor
            app = DomainDispatcherApplication(create_backend_app)
            server = make_server(
                self._host, self._requested_port, app, threaded=True, fd=sock.fileno()
            )

        host, port = server.server_address[:2]
        self._bound = (str(host), int(port))
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL_S},  # how soon stop() is noticed
            name=f"dynamodb-replicator-local-{port}",
            daemon=True,
        )
        self._thread.start()
        log.info("local server (moto) listening on %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port. Safe to call twice or before :meth:`start`."""
        server, thread = self._server, self._thread
        self._server = None
        self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(_STOP_TIMEOUT_S)
            if thread.is_alive():
                log.warning("local server thread did not stop within %.0f s", _STOP_TIMEOUT_S)
        log.info("local server on %s stopped", self.endpoint_url)

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._bound[0] if self._bound else self._host

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`); before it, the port requested."""
        return self._bound[1] if self._bound else self._requested_port

    @property
    def endpoint_url(self) -> str:
        """``http://HOST:PORT`` of the running server (the real port, even if 0 was asked)."""
        if self._bound is None:
            raise ConfigError(
                "the local server has no address until it is started",
                hint="call start() or use it as a context manager first",
            )
        host = self.host
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment variables pointing AWS SDKs and CLIs at this server.

        Endpoint variables for DynamoDB, DynamoDB Streams and S3 (and the catch-all
        ``AWS_ENDPOINT_URL``) always; dummy credentials and a region only when ``base``
        (default: ``os.environ``) lacks them. Merge the result into a process environment.
        """
        env = os.environ if base is None else base
        url = self.endpoint_url
        out = {
            "AWS_ENDPOINT_URL": url,
            "AWS_ENDPOINT_URL_DYNAMODB": url,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": url,
            "AWS_ENDPOINT_URL_S3": url,
        }
        if not env.get("AWS_ACCESS_KEY_ID") or not env.get("AWS_SECRET_ACCESS_KEY"):
            out["AWS_ACCESS_KEY_ID"] = _DUMMY_ACCESS_KEY_ID
            out["AWS_SECRET_ACCESS_KEY"] = _DUMMY_SECRET_ACCESS_KEY
        region = resolve_region(None, env)
        out["AWS_REGION"] = region
        out["AWS_DEFAULT_REGION"] = region
        return out

    def __repr__(self) -> str:
        state = self.endpoint_url if self._bound else f"{self._host}:{self._requested_port}"
        return f"<LocalServer {state} {'running' if self.running else 'stopped'}>"
