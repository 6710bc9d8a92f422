"""What crosses the wire to and from a fake provider: replies, requests, reports."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


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
