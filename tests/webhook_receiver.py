"""A tiny HTTP server that stands in for our web app in channel tests: it records every request Twilio (the
fake) makes to it and answers 200, with a body set per path (TwiML for a call's start URL)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator


@dataclass(frozen=True)
class Received:
    method: str
    url: str  # as the sender addressed it: base URL + path and query
    path: str
    params: dict[str, str]  # the form body
    signature: str | None

    def signed_by(self, auth_token: str) -> bool:
        if self.signature is None:
            return False
        return RequestValidator(auth_token).validate(self.url, self.params, self.signature)


class WebhookReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self.responses: dict[str, str] = {}  # path -> body

    def __enter__(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = self.rfile.read(length).decode("utf-8")
                path = urlsplit(self.path).path
                receiver._record(
                    Received(
                        "POST",
                        receiver.base_url + self.path,
                        path,
                        dict(parse_qsl(form, keep_blank_values=True)),
                        self.headers.get("X-Twilio-Signature"),
                    )
                )
                body = receiver.responses.get(path, "").encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/xml" if body else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _record(self, request: Received) -> None:
        with self._lock:
            self._received.append(request)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]
