"""Retry a database call that failed on a lock conflict the server asks us to retry."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError

P = ParamSpec("P")
T = TypeVar("T")

# SQLite without an IMMEDIATE transaction mode can refuse a write at once with
# "database is locked" (two readers both upgrading to a writer); MySQL and
# MariaDB roll back a deadlock victim (1213) or give up a lock wait (1205).
# In each case the whole call can simply run again.
_MYSQL_RETRY_CODES = {1205, 1213}
_TRIES = 50


def is_lock_conflict(err: BaseException) -> bool:
    """Return True when ``err`` is a lock conflict that running again can cure."""
    if not isinstance(err, OperationalError):
        return False
    if err.args and err.args[0] in _MYSQL_RETRY_CODES:
        return True
    return "database is locked" in str(err) or "database table is locked" in str(err)


def retry_when_locked(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``function(*args, **kwargs)``; on a lock conflict, wait and call again.

    ``function`` must be safe to run again: one statement in autocommit, or a
    whole transaction (the server rolled the failed one back).
    """
    for attempt in range(_TRIES):
        try:
            return function(*args, **kwargs)
        except OperationalError as err:
            if not is_lock_conflict(err) or attempt == _TRIES - 1:
                raise
            time.sleep(0.01 + 0.01 * attempt)
    raise AssertionError("unreachable")
