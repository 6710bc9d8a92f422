"""The outbox's health figures as values: counts, and the last 24 hours.

``sms_outbox.health`` runs the queries that fill them; the admin page and
``sms_outbox_status`` read them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Bucket", "QueueHealth"]


@dataclass(slots=True)
class Bucket:
    """Rows sent and failed, and retries logged, in one 10-minute slot."""

    start: datetime.datetime
    sent: int = 0
    failed: int = 0
    retried: int = 0


@dataclass(slots=True)
class QueueHealth:
    """The outbox at one moment: counts, the oldest due row, the last 24 hours."""

    at: datetime.datetime
    by_status: dict[str, int]
    due: int
    oldest_due_at: datetime.datetime | None
    lease_expired: int
    sent_last_hour: int
    failed_last_hour: int
    sent_last_day: int
    failed_last_day: int
    top_errors: list[tuple[str, int]]
    buckets: list[Bucket] = field(default_factory=list)

    @property
    def oldest_due_seconds(self) -> float:
        """Return how long the longest-waiting due row has been due, or 0."""
        if self.oldest_due_at is None:
            return 0.0
        return max(0.0, (self.at - self.oldest_due_at).total_seconds())

    @property
    def retried_last_day(self) -> int:
        """Return the retries logged in the last 24 hours."""
        return sum(bucket.retried for bucket in self.buckets)

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-ready values (ISO 8601 times, seconds)."""
        return {
            "at": self.at.isoformat(),
            "by_status": self.by_status,
            "due": self.due,
            "oldest_due_at": self.oldest_due_at and self.oldest_due_at.isoformat(),
            "oldest_due_seconds": round(self.oldest_due_seconds, 3),
            "lease_expired": self.lease_expired,
            "last_hour": {"sent": self.sent_last_hour, "failed": self.failed_last_hour},
            "last_24h": {
                "sent": self.sent_last_day,
                "failed": self.failed_last_day,
                "retried": self.retried_last_day,
            },
            "top_error_codes": [
                {"code": code, "count": count} for code, count in self.top_errors
            ],
            "per_10_minutes": [
                {
                    "start": b.start.isoformat(),
                    "sent": b.sent,
                    "failed": b.failed,
                    "retried": b.retried,
                }
                for b in self.buckets
            ],
        }
