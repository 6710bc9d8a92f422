"""A fake provider HTTP API on 127.0.0.1: the server every fake provider builds on.

Each fake is a real HTTP/1.1 server (keep-alive, one thread per connection)
that the real SDKs talk to through the backends' ``api_url`` keyword::

    with FakeTwilio(latency=0.05, failure_ratio=0.3) as fake:
        backend = get_connection(
            "sms.backends.twilio.SmsBackend",
            api_url=fake.url,
            account_sid=fake.account_sid,
            auth_token=fake.auth_token,
        )
        ...
        fake.messages      # what the provider accepted, in order
        fake.requests      # every request, as RecordedRequest
        fake.connections   # TCP connections opened so far
        fake.throttled     # requests answered with throttle_reply()
        fake.timeline      # (time.monotonic(), throttled?) of every request

Knobs: ``latency`` (seconds before every answer), ``failure_ratio`` (the share
of requests answered with ``failure_reply()``, a 503 by default; ``seed``
makes the draw repeatable), ``rate_limit`` (requests per second the account
may make, in any one-second window: beyond it, ``throttle_reply()``, the
provider's own "too many requests" answer with ``Retry-After:
retry_after``), ``script(*replies)`` (the next answers, in order:
a ``Reply`` or a function of the ``RecordedRequest`` returning one), and
``status_reports()`` (the signed delivery reports the provider would send to
the status callback URL of each accepted message).
"""

from __future__ import annotations

import collections
import json
import random
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sms.testing.wire import RecordedRequest, Reply, StatusReport

__all__ = [
    "FakeProvider",
    "RecordedRequest",
    "Reply",
    "StatusReport",
    "closed_port_url",
]


def closed_port_url() -> str:
    """Return an http URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled clients reuse sockets
    timeout = 30
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's
    # algorithm and the client's delayed ACK add 40 ms to every kept-alive call.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.server.fake._connected()

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        record = RecordedRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers=dict(self.headers.items()),
            body=body,
            connection=self.connection_id,
        )
        reply = self.server.fake._reply_for(record)
        if reply.drop:
            self.close_connection = True
            return
        if isinstance(reply.body, str | bytes):
            payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
        else:
            payload = json.dumps(reply.body).encode() if reply.body is not None else b""
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # Drains open dozens of connections at once: a short backlog would
    # refuse some, which a real provider does not.
    request_queue_size = 256
    fake: FakeProvider

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The client hung up (it timed out, or closed its pool): not an error.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class FakeProvider:
    """A provider API on 127.0.0.1; subclasses implement ``respond()``."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        failure_ratio: float = 0.0,
        seed: int = 0,
        rate_limit: float | None = None,
        retry_after: float = 1,
    ) -> None:
        self.latency = latency
        self.failure_ratio = failure_ratio
        self.rate_limit = rate_limit
        self.retry_after = retry_after
        # When the requests the limit let through arrived, over the last second.
        self._window: collections.deque[float] = collections.deque()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        # A scripted answer: a Reply, a function of the request returning one
        # (or None), or None for the normal answer.
        self._script: collections.deque[
            Reply | Callable[[RecordedRequest], Reply | None] | None
        ] = collections.deque()
        self._server: _Server | None = None
        self.requests: list[RecordedRequest] = []
        #: What the provider accepted, in order (see the subclasses).
        self.messages: list[dict[str, Any]] = []
        self.connections = 0
        self.throttled = 0
        self.timeline: list[tuple[float, bool]] = []

    @property
    def url(self) -> str:
        """Return the base URL, such as ``http://127.0.0.1:8765``."""
        if self._server is None:
            raise RuntimeError("The fake provider has no URL before start().")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeProvider:
        """Start serving in a background thread; return self."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def script(self, *replies: Reply | Any) -> None:
        """Queue the next answers, in order; normal service resumes after them."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget requests, connections, accepted messages and scripted answers."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self.connections = 0
            self.messages.clear()
            self.throttled = 0
            self.timeline.clear()
            self._window.clear()

    def respond(self, request: RecordedRequest) -> Reply:
        """Return the provider's normal answer to ``request``."""
        raise NotImplementedError

    def failure_reply(self) -> Reply:
        """Return the answer drawn ``failure_ratio`` of the time: a 503."""
        return Reply(503, {"message": "Service unavailable"})

    def throttle_reply(self) -> Reply:
        """Return the answer to a request beyond ``rate_limit``: a 429."""
        return Reply(429, {"message": "Too many requests"}, headers=self.wait_header())

    def wait_header(self) -> dict[str, str]:
        """Return the ``Retry-After`` header a throttling answer carries."""
        return {"Retry-After": f"{self.retry_after:g}"}

    def _over_limit(self) -> bool:
        """Return True if the last second let ``rate_limit`` requests through."""
        now = time.monotonic()
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) >= (self.rate_limit or 0):
            return True
        self._window.append(now)
        return False

    def _connected(self) -> int:
        with self._lock:
            self.connections += 1
            return self.connections

    def _reply_for(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            over = self.rate_limit is not None and self._over_limit()
            self.timeline.append((time.monotonic(), over))
            if self._script:
                reply = self._script.popleft()
            elif over:
                self.throttled += 1
                reply = self.throttle_reply()
            elif self.failure_ratio and self._random.random() < self.failure_ratio:
                reply = self.failure_reply()
            else:
                reply = None
        if callable(reply):
            reply = reply(request)
        if reply is None:
            with self._lock:
                reply = self.respond(request)
        if self.latency or reply.delay:
            time.sleep(self.latency + reply.delay)
        return reply
