"""The outbox's queries: what the drain claims, and the admin's maintenance."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING

from django.db import models, router, transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

if TYPE_CHECKING:
    from sms_outbox.models import Message  # noqa: F401 - the base class names it


class MessageQuerySet(models.QuerySet["Message"]):
    """The queries the drain, the admin and the purge run on the outbox.

    ``sms_outbox.models`` imports this module to build ``Message.objects``, so
    the methods reach ``Message`` as ``self.model`` rather than importing it.
    """

    def queued(self) -> MessageQuerySet:
        """Return rows waiting to be sent, due or not."""
        return self.filter(status=self.model.Status.QUEUED)

    def due(self, now: datetime.datetime | None = None) -> MessageQuerySet:
        """Return rows whose send time and retry time have come.

        Without ``now`` the database's clock decides, so hosts whose clocks
        disagree still agree on what is due.
        """
        return self.filter(next_attempt_at__lte=now or Now())

    def expired(self, now: datetime.datetime | None = None) -> MessageQuerySet:
        """Return rows held by a worker whose lease ran out (it likely died).

        Without ``now`` the database's clock decides: a host whose clock runs
        ahead must not take rows whose lease is still running.
        """
        return self.filter(
            status=self.model.Status.SENDING, lease_expires_at__lt=now or Now()
        )

    def in_send_order(self) -> MessageQuerySet:
        """Order by priority (higher first), then age (older first)."""
        return self.order_by("-priority", "id")

    def final(self) -> MessageQuerySet:
        """Return rows that reached sent, failed or cancelled."""
        return self.filter(status__in=self.model.FINAL_STATUSES)

    # Maintenance: what the admin's actions and ``purge_sms_outbox`` do.

    def resend(self) -> int:
        """Queue a new copy of each sent, failed or cancelled row; return how many.

        The originals and their attempt logs stay as they are.
        """
        fields = ("batch_id", "body", "originator", "recipient", "priority")
        copies = [
            self.model(
                **{name: getattr(row, name) for name in fields},
                next_attempt_at=timezone.now(),
                reference=uuid.uuid4().hex,
            )
            for row in self.final().only(*fields)
        ]
        self.bulk_create(copies)
        return len(copies)

    def cancel(self) -> int:
        """Cancel the queued rows; return how many were cancelled."""
        now = timezone.now()
        return self.queued().update(
            status=self.model.Status.CANCELLED, finished_at=now, updated_at=now
        )

    def retry_now(self) -> int:
        """Make failed rows, and queued rows waiting for a retry, due now.

        Attempts are kept. Return the number of rows changed.
        """
        now = timezone.now()
        waiting = Q(status=self.model.Status.QUEUED, attempts__gt=0)
        return self.filter(Q(status=self.model.Status.FAILED) | waiting).update(
            status=self.model.Status.QUEUED,
            next_attempt_at=now,
            finished_at=None,
            updated_at=now,
        )

    def purge(self, days: int, batch_size: int = 500) -> int:
        """Delete final rows that reached their state over ``days`` days ago.

        Their attempt logs go with them. Queued and sending rows are never
        deleted. Work in batches to keep each transaction short; return the
        number of rows deleted.
        """
        from sms_outbox.models import Attempt  # models.py imports this module

        # Deleting is writing: unless using() named a database, ask the
        # router where the outbox writes (self.db is where it reads).
        # (_db is the alias using() named; the stubs do not declare it.)
        alias = getattr(self, "_db", None) or router.db_for_write(self.model)
        cutoff = timezone.now() - datetime.timedelta(days=days)
        old = self.using(alias).final().filter(finished_at__lt=cutoff)
        deleted = 0
        while ids := list(old.values_list("pk", flat=True)[:batch_size]):
            with transaction.atomic(using=alias):
                Attempt.objects.using(alias).filter(message_id__in=ids).delete()
                rows = self.model.objects.using(alias).filter(pk__in=ids)
                deleted += rows.delete()[1].get(self.model._meta.label, 0)
        return deleted
