"""Pooled HTTP sessions for the provider SDKs that talk through ``requests``."""

from __future__ import annotations

import re
from typing import Any

try:
    import requests
except ImportError:  # only the provider SDKs bring requests along
    requests = None  # type: ignore[assignment]


def retarget(url: str, api_url: str | None, host: str = r"[^/]+") -> str:
    """Return ``url`` with its ``https://<host>`` prefix replaced by ``api_url``.

    SDKs build their URLs themselves and most have no base-URL setting; this
    lets tests and proxies point them at another server. Without ``api_url``
    the URL is returned as it is.
    """
    if not api_url:
        return url
    return re.sub(f"^https://{host}", api_url.rstrip("/"), url, count=1)


class PooledClient:
    """Mixin for an SDK's HTTP client: a session the backend opens and closes.

    ``session`` is the ``requests.Session`` every call goes through; while it
    is None each call opens its own connection. ``timeout`` bounds every
    call and ``api_url`` is where calls go instead of the provider's host.
    ``ProviderBackend.open()`` and ``close()`` call ``open_session()`` and
    ``close_session()``.
    """

    def pool(
        self,
        api_url: str | None,
        timeout: float | None,
        session: requests.Session | None = None,
    ) -> None:
        """Set where calls go, how long they may take and the session to reuse."""
        self.api_url = api_url.rstrip("/") if api_url else None
        self.timeout = timeout
        self.session = session

    def open_session(self) -> bool:
        """Start a pooled session; return True if this call started it."""
        if self.session is not None:
            return False
        self.session = requests.Session()
        return True

    def close_session(self) -> None:
        """Close the pooled session, if any; later calls open their own again."""
        if self.session is not None:
            session, self.session = self.session, None
            session.close()

    def session_request(self, method: str, url: str, **kwargs: Any) -> Any:
        """Send one call through the session (or a fresh connection) in time."""
        return (self.session or requests).request(
            method, url, timeout=self.timeout, **kwargs
        )


class PooledSession(requests.Session if requests else object):  # type: ignore[misc]
    """A ``requests.Session`` that bounds every call and may send it elsewhere.

    For an SDK that takes a session of its own: every call waits at most
    ``timeout`` seconds, and goes to ``api_url`` instead of the provider's
    host when that is set.
    """

    def __init__(self, api_url: str | None, timeout: float) -> None:
        super().__init__()
        self.api_url = api_url.rstrip("/") if api_url else None
        self.timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """Send the request to ``api_url`` when one is set, within the timeout."""
        kwargs["timeout"] = self.timeout
        return super().request(method, retarget(url, self.api_url), *args, **kwargs)
