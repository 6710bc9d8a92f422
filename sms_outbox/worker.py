"""Run the drain once or as a long-running worker that stops cleanly on signals."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from typing import Any

from sms_outbox.engine import DrainResult, send_queued


def drain_until_stopped(
    loop: bool = False, interval: float = 5.0, **options: Any
) -> Iterator[DrainResult]:
    """Yield the result of ``send_queued(**options)``, once or every ``interval``.

    With ``loop``, run until SIGTERM or SIGINT, which end the run after the
    current message (rows claimed but not sent go back to the queue). The
    previous signal handlers are restored when the generator ends.
    """
    stop = threading.Event()
    previous = _handle_stop_signals(lambda *args: stop.set())
    try:
        while not stop.is_set():
            yield send_queued(stop=stop, **options)
            if not loop or stop.wait(interval):
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def _handle_stop_signals(handler: Any) -> dict[int, Any]:
    # Signal handlers can only be installed from the main thread (a test
    # runner or an embedding app may call from another one).
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
