"""The outbox tables: one queued SMS per recipient, and its attempt log.

The inbound tables live in ``sms_outbox.inbound_models`` and are imported at
the end, so ``sms_outbox.models`` still holds every model of the app.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sms.phone import mask_phone_number
from sms.segments import count_segments, get_encoding
from sms_outbox.querysets import MessageQuerySet


class Message(models.Model):
    """One SMS to one recipient, queued by ``QueuedSmsBackend``.

    A ``sms.Message`` with three recipients becomes three rows sharing a
    ``batch_id``, so a retry never re-sends to a recipient that already got it.
    A row waiting for a retry is ``queued`` with ``attempts > 0``.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    class DeliveryStatus(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENT = "sent", _("sent")
        DELIVERED = "delivered", _("delivered")
        UNDELIVERED = "undelivered", _("undelivered")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")

    FINAL_STATUSES = (Status.SENT, Status.FAILED, Status.CANCELLED)

    # Not indexed: nothing looks rows up by batch, and every index costs each
    # status change a write (see Meta).
    batch_id = models.UUIDField(_("batch id"))
    body = models.TextField(_("body"))
    originator = models.CharField(_("originator"), max_length=32, blank=True)
    recipient = models.CharField(_("recipient"), max_length=32)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    priority = models.SmallIntegerField(
        _("priority"), default=0, help_text=_("Higher is sent first.")
    )
    send_after = models.DateTimeField(_("send after"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    backend = models.CharField(_("backend"), max_length=255, blank=True)
    provider_message_id = models.CharField(
        _("provider message id"), max_length=64, blank=True
    )
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(
        _("lease expires at"), null=True, blank=True
    )
    delivery_status = models.CharField(
        _("delivery status"),
        max_length=16,
        choices=DeliveryStatus.choices,
        blank=True,
    )
    delivery_status_raw = models.CharField(
        _("delivery status (raw)"), max_length=32, blank=True
    )
    delivery_error_code = models.CharField(
        _("delivery error code"), max_length=32, blank=True
    )
    delivery_updated_at = models.DateTimeField(
        _("delivery updated at"), null=True, blank=True
    )

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("queued SMS")
        verbose_name_plural = _("queued SMS")
        # Every index is paid for on each status change (PostgreSQL writes a
        # new entry in each one per UPDATE), so the text columns are indexed
        # here rather than with db_index=True, which on PostgreSQL adds a
        # second, LIKE-only index per column (measured: 9k -> 13k msg/s).
        # The drain's index: status first, in send order; reclaiming expired
        # leases and the purge also start from its status prefix.
        indexes = [
            models.Index(
                fields=["status", "-priority", "id"], name="sms_outbox_claim_idx"
            ),
            # No index on recipient: nothing the outbox does looks rows up by
            # number alone (the admin's search is a substring search, which
            # no B-tree serves), and it cost each status change an entry.
            # Partial: a claimed row has no provider id yet, so claiming one
            # (queued -> sending) writes nothing here. Lookups by provider id
            # repeat the condition (sms_outbox.webhooks.record).
            models.Index(
                fields=["provider_message_id"],
                name="sms_outbox_provider_id_idx",
                condition=~Q(provider_message_id=""),
            ),
            models.Index(fields=["reference"], name="sms_outbox_reference_idx"),
            # Queue health (sms_outbox.health). Partial, so a claim (queued ->
            # sending) leaves the first and a row enters the second only when
            # it finishes: the drain's status changes barely touch them.
            models.Index(
                fields=["next_attempt_at"],
                name="sms_outbox_queued_due_idx",
                condition=Q(status="queued"),
            ),
            models.Index(
                fields=["finished_at", "status"],
                name="sms_outbox_finished_idx",
                condition=Q(finished_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        # mask_phone_number() str()s its argument, so an unsaved or half-built
        # row still prints.
        return f"SMS to {mask_phone_number(self.recipient or '')} ({self.status})"

    @property
    def segments(self) -> int:
        """Return the number of parts the body is sent and billed as."""
        return count_segments(self.body or "")

    @property
    def encoding(self) -> str:
        """Return ``"GSM-7"`` or ``"UCS-2"``, the encoding the body needs."""
        return get_encoding(self.body or "")

    @property
    def is_final(self) -> bool:
        """Return True once the row is sent, failed or cancelled."""
        return self.status in self.FINAL_STATUSES


class Attempt(models.Model):
    """One try at delivering a row, or one delivery receipt: the audit trail."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("sent")
        RETRY = "retry", _("retry")
        FAILED = "failed", _("failed")
        UNKNOWN = "unknown", _("unknown")
        RECEIPT = "receipt", _("receipt")

    # No database constraint: the drain writes a hundred log rows per commit,
    # and the check PostgreSQL runs for each at commit cost more than the
    # INSERT. Rows are only logged against messages the same transaction has
    # just updated, and deleting messages through Django (the admin, the
    # purge) still deletes their log.
    message = models.ForeignKey(
        Message,
        on_delete=models.CASCADE,
        related_name="attempts_log",
        verbose_name=_("message"),
        db_constraint=False,
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    error_text = models.TextField(_("error"), blank=True)
    duration_ms = models.FloatField(_("duration (ms)"), null=True, blank=True)

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ["created_at", "id"]
        # Queue health's retries and error codes; successful sends, most of
        # the log, never enter it.
        indexes = [
            models.Index(
                fields=["created_at", "outcome", "error_code"],
                name="sms_outbox_attempt_error_idx",
                condition=Q(outcome__in=["retry", "failed", "unknown"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.outcome} at {self.created_at:%Y-%m-%d %H:%M:%S}"


# Imported last so Django finds them here, as it does every model of the app.
from sms_outbox.inbound_models import (  # noqa: E402
    InboundMessage,
    Suppression,
    SuppressionChange,
)

__all__ = [
    "Attempt",
    "InboundMessage",
    "Message",
    "MessageQuerySet",
    "Suppression",
    "SuppressionChange",
]
