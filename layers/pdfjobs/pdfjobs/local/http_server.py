"""A threaded WSGI server on a background thread, with a port known as soon as it is constructed."""

from __future__ import annotations

import logging
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _LoggingRequestHandler(WSGIRequestHandler):
    """Access lines go to the named logger of the server (werkzeug's own prints to stderr)."""

    server: Any

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server.access_log.info('%s "%s" %s %s', self.address_string(), self.requestline, code, size)

    def log(self, type: str, message: str, *args: Any) -> None:
        getattr(self.server.access_log, type if type in {"info", "warning", "error"} else "info")(message, *args)


class BackgroundHttpServer:
    """Binds on construction (port 0 picks a free port), serves on a thread after start()."""

    def __init__(self, app: Any, host: str, port: int, name: str) -> None:
        self.name = name
        self._host = host
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_LoggingRequestHandler
        )
        self._server.access_log = logging.getLogger(f"pdfjobs.local.{name}")  # type: ignore[attr-defined]
        # A short poll interval: shutdown() waits for the serve loop's next poll.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"local-{name}", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
