"""Fake Twilio and MessageBird HTTP APIs served on 127.0.0.1, for tests and benchmarks.

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

Knobs: ``latency`` (seconds before every answer), ``failure_ratio`` (the share
of requests answered with ``failure_reply()``, a 503 by default; ``seed``
makes the draw repeatable), ``script(*replies)`` (the next answers, in order:
a ``Reply`` or a function of the ``RecordedRequest`` returning one), and
``status_reports()`` (the signed delivery reports the provider would send to
the status callback URL of each accepted message).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import random
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from twilio.request_validator import RequestValidator

__all__ = [
    "FakeMessageBird",
    "FakeProvider",
    "FakeTwilio",
    "RecordedRequest",
    "Reply",
    "StatusReport",
    "closed_port_url",
]


@dataclass
class Reply:
    """One scripted answer: a status and a body (a dict is sent as JSON).

    ``delay`` adds seconds before answering; ``drop`` closes the connection
    without any answer, as a provider that crashed mid-request would.
    """

    status: int = 200
    body: Any = None
    content_type: str = "application/json"
    delay: float = 0.0
    drop: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    """A request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    connection: int

    @property
    def form(self) -> dict[str, str]:
        """Return the url-encoded body as a dict (last value of each field)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def json(self) -> Any:
        """Return the JSON body."""
        return json.loads(self.body or b"null")

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """Return the (user, password) of a Basic ``Authorization`` header."""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(value).decode().partition(":")
        return user, password


@dataclass
class StatusReport:
    """A delivery report the provider would send to a status callback URL.

    ``url`` is the full URL signed (with the query string for a GET);
    ``params`` the form fields (POST) or query parameters (GET).
    """

    method: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]


def closed_port_url() -> str:
    """Return an http URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Handler(BaseHTTPRequestHandler):
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
    ) -> None:
        self.latency = latency
        self.failure_ratio = failure_ratio
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._script: collections.deque[Any] = collections.deque()
        self._server: _Server | None = None
        self.requests: list[RecordedRequest] = []
        #: What the provider accepted, in order (see the subclasses).
        self.messages: list[dict[str, Any]] = []
        self.connections = 0

    @property
    def url(self) -> str:
        """Return the base URL, such as ``http://127.0.0.1:8765``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

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

    def respond(self, request: RecordedRequest) -> Reply:
        """Return the provider's normal answer to ``request``."""
        raise NotImplementedError

    def failure_reply(self) -> Reply:
        """Return the answer drawn ``failure_ratio`` of the time: a 503."""
        return Reply(503, {"message": "Service unavailable"})

    def _connected(self) -> int:
        with self._lock:
            self.connections += 1
            return self.connections

    def _reply_for(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                reply = self._script.popleft()
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


class FakeTwilio(FakeProvider):
    """Twilio's Messages API: ``POST /2010-04-01/Accounts/<sid>/Messages.json``."""

    def __init__(
        self,
        account_sid: str = "AC" + "0123456789abcdef" * 2,
        auth_token: str = "fake-twilio-auth-token-5e1f",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.account_sid = account_sid
        self.auth_token = auth_token
        # self.messages: dicts with sid, to, from, body, status_callback and
        # messaging_service_sid.

    @staticmethod
    def error(status: int, code: int, message: str) -> Reply:
        """Return Twilio's classic error answer."""
        return Reply(
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    @staticmethod
    def problem(status: int, code: int, title: str, detail: str = "") -> Reply:
        """Return an RFC 9457 problem-details answer."""
        body = {
            "type": f"https://www.twilio.com/docs/errors/{code}",
            "title": title,
            "status": status,
            "code": code,
            "detail": detail,
        }
        return Reply(status, body, content_type="application/problem+json")

    def failure_reply(self) -> Reply:
        return self.error(503, 20503, "Service unavailable")

    def respond(self, request: RecordedRequest) -> Reply:
        if request.basic_auth != (self.account_sid, self.auth_token):
            return self.error(401, 20003, "Authenticate")
        expected = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if request.method != "POST" or request.path != expected:
            return self.error(404, 20404, "The requested resource was not found")
        form = request.form
        now = format_datetime(datetime.now(timezone.utc), usegmt=True)
        sid = "SM" + uuid.uuid4().hex
        message = {
            "sid": sid,
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
            "status_callback": form.get("StatusCallback"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
        }
        self.messages.append(message)
        status = "accepted" if message["messaging_service_sid"] else "queued"
        return Reply(
            201,
            {
                **{k: v for k, v in message.items() if k != "status_callback"},
                "account_sid": self.account_sid,
                "status": status,
                "direction": "outbound-api",
                "num_segments": "1",
                "date_created": now,
                "date_updated": now,
                "api_version": "2010-04-01",
                "uri": f"{expected[:-5]}/{sid}.json",
            },
        )

    def status_reports(self, status: str = "delivered") -> list[StatusReport]:
        """Return the signed callbacks Twilio would POST for accepted messages."""
        validator = RequestValidator(self.auth_token)
        reports = []
        for message in self.messages:
            if not message["status_callback"]:
                continue
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": "2010-04-01",
                "From": message["from"] or "",
                "MessageSid": message["sid"],
                "MessageStatus": status,
                "SmsSid": message["sid"],
                "SmsStatus": status,
                "To": message["to"],
            }
            url = message["status_callback"]
            signature = validator.compute_signature(url, params)
            reports.append(
                StatusReport("POST", url, params, {"X-Twilio-Signature": signature})
            )
        return reports


class FakeMessageBird(FakeProvider):
    """MessageBird's SMS API: ``POST /messages`` with at most 50 recipients."""

    def __init__(
        self,
        access_key: str = "test_fake-messagebird-key-9c2d",
        signing_key: str = "fake-messagebird-signing-key-0123456789",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.access_key = access_key
        self.signing_key = signing_key
        # self.messages: one dict per accepted call, with id, originator, body,
        # recipients (a list), reportUrl and reference.

    @staticmethod
    def error(
        status: int, code: int, description: str, parameter: str | None = None
    ) -> Reply:
        """Return MessageBird's error answer."""
        errors = [{"code": code, "description": description, "parameter": parameter}]
        return Reply(status, {"errors": errors})

    def failure_reply(self) -> Reply:
        return self.error(503, 99, "Internal error")

    def respond(self, request: RecordedRequest) -> Reply:
        if request.headers.get("Authorization") != f"AccessKey {self.access_key}":
            return self.error(
                401, 2, "Request not allowed (incorrect access_key)", "access_key"
            )
        if request.method != "POST" or request.path != "/messages":
            return self.error(404, 20, "message not found")
        data = request.json
        recipients = [r for r in str(data.get("recipients", "")).split(",") if r]
        if not recipients or len(recipients) > 50:
            return self.error(422, 9, "no (correct) recipients found", "recipients")
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        message = {
            "id": uuid.uuid4().hex,
            "originator": data.get("originator"),
            "body": data.get("body"),
            "recipients": recipients,
            "reportUrl": data.get("reportUrl"),
            "reference": data.get("reference"),
        }
        self.messages.append(message)
        items = [
            {"recipient": int(r.lstrip("+")), "status": "sent", "statusDatetime": now}
            for r in recipients
        ]
        return Reply(
            201,
            {
                "id": message["id"],
                "href": f"https://rest.messagebird.com/messages/{message['id']}",
                "direction": "mt",
                "type": "sms",
                "originator": message["originator"],
                "body": message["body"],
                "reference": message["reference"],
                "validity": None,
                "gateway": 10,
                "typeDetails": {},
                "datacoding": "plain",
                "mclass": 1,
                "scheduledDatetime": None,
                "createdDatetime": now,
                "recipients": {
                    "totalCount": len(items),
                    "totalSentCount": len(items),
                    "totalDeliveredCount": 0,
                    "totalDeliveryFailedCount": 0,
                    "items": items,
                },
            },
        )

    def status_reports(self, status: str = "delivered") -> list[StatusReport]:
        """Return the signed GET reports MessageBird would send, one per recipient."""
        reports = []
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for message in self.messages:
            if not message["reportUrl"]:
                continue
            for recipient in message["recipients"]:
                params = {
                    "id": message["id"],
                    "reference": message["reference"] or "",
                    "recipient": recipient.lstrip("+"),
                    "status": status,
                    "statusDatetime": now,
                }
                url = f"{message['reportUrl']}?{urlencode(params)}"
                reports.append(StatusReport("GET", url, params, self._signature(url)))
        return reports

    def _signature(self, url: str) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": "MessageBird",
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "url_hash": hashlib.sha256(url.encode()).hexdigest(),
        }
        token = jwt.encode(claims, self.signing_key, algorithm="HS256")
        return {"MessageBird-Signature-JWT": token}
