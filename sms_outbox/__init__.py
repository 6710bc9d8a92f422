"""A database-backed outbox for django-sms: queue in one INSERT, deliver later."""

from __future__ import annotations

from typing import Any

__all__ = ["confirm"]


def confirm(target: Any) -> bool:
    """Record that the code sent in an outbox SMS was used; return True if new.

    ``target`` is the outbox row, its ``reference`` or an E.164 number. The
    send guards' conversion feedback: see ``sms_outbox.guards.confirm()``.
    """
    # The guards import the models, which cannot load with the package
    # itself (Django imports the package before the app registry is ready).
    from sms_outbox.guards import confirm as confirm_row

    return confirm_row(target)
