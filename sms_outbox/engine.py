"""The drain's public entry points under the path earlier releases documented.

New code imports them from ``sms_outbox.drain``.
"""

from sms_outbox.drain import DrainResult, send_queued

__all__ = ["DrainResult", "send_queued"]
