"""Where ``send_sms()`` finds ``send_and_signal()``, which ``sms.message`` holds."""

from __future__ import annotations

from sms.message import send_and_signal

__all__ = ["send_and_signal"]
