"""Drain the outbox inside a test, into ``sms.outbox``, to assert what was sent."""

from __future__ import annotations

from django.test import override_settings

from sms.testing.environment import LOCMEM_BACKEND
from sms_outbox.drain import DrainResult, send_queued

__all__ = ["send_queued_to_locmem"]


def send_queued_to_locmem(**kwargs: object) -> DrainResult:
    """Deliver the outbox's due rows to ``sms.outbox``; return the drain's counts.

    Run the outbox's drain, ``send_queued(**kwargs)``, with
    ``SMS_OUTBOX_BACKEND`` set to the locmem backend, so that a test sees in
    ``sms.outbox`` what the outbox would have sent and asserts on it. It works
    inside ``TestCase`` too: the rows the test queued in its transaction are
    drained in that transaction. The return value is ``send_queued()``'s
    ``DrainResult`` (``sent``, ``retrying``, ``failed``...).
    """
    with override_settings(SMS_OUTBOX_BACKEND=LOCMEM_BACKEND):
        return send_queued(**kwargs)  # type: ignore[arg-type]
